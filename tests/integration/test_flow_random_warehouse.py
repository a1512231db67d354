"""Flows 3 and 4 under faults, randomized (seed printed, MDM_FLOW_SEED replays). Production
picking: random BOMs over ten components whose stock (the same in the ERP and in the WMS's
batches) covers some lists and not others; sixty and more production orders of random
quantities, their picking lists released — the hub killed -9 half-way — become one WMS pick
task each, allocated FIFO (per component: min(Σ needed, stock) allocated, the rest short);
picked in full or in part; each pick is one ERP stock issue of exactly the picked batches,
ERP stock down by exactly what was picked, the list's issued and short quantities and state
agreeing, one task per shortage. Sales outbound: sixty and more random sales orders (customers,
priorities, addresses, lines with exact decimals) released → one WMS outbound order each with
its priority, address and lines; shipped in full or in part — the hub killed -9 half-way — →
one ERP shipment each, the order 已发货 (or partial), one receivable of Σ shipped × price, the
shipment's number and state back on the WMS. The ERP's and WMS's APIs fail 15 % of the hub's
calls (the ERP's creates sometimes after their commit); no command dead, each exactly once."""
from __future__ import annotations

import os
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import assert_faults_survived, eventually, execute, rows

SEED = int(os.environ.get("MDM_FLOW_SEED") or random.SystemRandom().randrange(10**6))
LISTS = 64
ORDERS = 64
DEADLINE = 600.0
ADDRESSES = ("苏州市工业园区星湖街 328 号", "上海市浦东新区张江路 1388 号", "杭州市滨江区网商路 699 号",
             "深圳市南山区科技园南区 12 栋", "北京市海淀区上地十街 10 号")


def _faults(stack: DemoStack, on: bool) -> None:
    for url, late in ((stack.erp_api_url, True), (stack.wms_url, False)):
        spec = {"fail_next": 800, "status": 503, "rate": 0.15, "after_write": late} if on \
            else {"fail_next": 0}
        assert httpx.post(f"{url}/_faults", json=spec, timeout=30).status_code == 200, SEED


def _idle(stack: DemoStack) -> bool:
    return not rows(stack.hub_url, "SELECT 1 FROM delivery WHERE hop IS NOT NULL AND status IN "
                    "('pending', 'failed', 'held') LIMIT 1")


def _commands(stack: DemoStack, hop: str) -> dict[str, int]:
    found = rows(stack.hub_url, "SELECT business_key, count(*) AS n FROM delivery WHERE hop = "
                 "%s GROUP BY business_key", (hop,))
    return {r["business_key"]: r["n"] for r in found}


def _materials(stack: DemoStack) -> list[str]:
    """Active materials the WMS holds too, by code (the demo's seeded BOM uses the first three
    and the 21st: this test keeps clear of them)."""
    items = {r["item_code"] for r in rows(stack.pg.url("wms"), "SELECT item_code FROM wms_item "
                                                              "WHERE is_active")}
    return [r["code"] for r in rows(stack.erp_url, "SELECT code FROM material WHERE active ORDER "
                                                   "BY code") if r["code"] in items]


def _stock(stack: DemoStack, rng: random.Random, components: list[str]) -> dict[str, Decimal]:
    """Each component's stock, the same in the ERP (on_hand) and the WMS (two batches)."""
    held = {c: Decimal(rng.randrange(20000, 60000) if n < 5 else rng.randrange(150000, 250000))
            / 1000 for n, c in enumerate(components)}  # the first five short, the rest hardly
    codes = ", ".join(f"'{c}'" for c in components)
    execute(stack.pg.url("wms"), f"DELETE FROM wms_batch_stock WHERE item_code IN ({codes})",
            *[f"INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, received_on, qty) "
              f"VALUES ('{c}', 'WH01', 'R{n:02d}A', '2026-10-0{1 + n % 9}', {q - q // 3}), "
              f"('{c}', 'WH01', 'R{n:02d}B', '2026-11-1{n % 9}', {q // 3})"
              for n, (c, q) in enumerate(held.items())])
    execute(stack.erp_url, *[
        "INSERT INTO stock (material_id, warehouse, on_hand) SELECT id, 'WH01', "
        f"{q} FROM material WHERE code = '{c}' ON CONFLICT (material_id, warehouse) DO UPDATE "
        f"SET on_hand = {q}" for c, q in held.items()])
    return held


def _picking_lists(stack: DemoStack, rng: random.Random, products: list[str],
                   components: list[str]) -> list[str]:
    """Random BOMs, then LISTS production orders of random products and quantities, each
    with its picking list (created)."""
    execute(stack.erp_url, *[
        "INSERT INTO bom_line (product_id, component_id, qty_per) SELECT p.id, c.id, "
        f"{rng.choice(('0.5', '1', '1.25', '2', '3'))} FROM material p, material c WHERE "
        f"p.code = '{p}' AND c.code = '{c}'"
        for p in products for c in rng.sample(components, rng.randint(1, 3))])
    execute(stack.erp_url, *[
        "INSERT INTO production_order (product_id, quantity, planner) SELECT id, "
        f"{Decimal(rng.randrange(10, 80)) / 10}, '刘计划' FROM material WHERE code = "
        f"'{rng.choice(products)}'" for _ in range(LISTS)])
    orders = [r["mo_no"] for r in rows(stack.erp_url, "SELECT mo_no FROM production_order o "
                                       "WHERE NOT EXISTS (SELECT 1 FROM picking_list p WHERE "
                                       "p.mo_id = o.id) ORDER BY mo_no")]
    made = []
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        for mo_no in orders[-LISTS:]:
            answer = erp.post(f"/api/production-orders/{mo_no}/picking-list")
            assert answer.status_code == 201, (SEED, answer.text)
            made.append(str(answer.json()["pick_list_no"]))
    return made


def _release(stack: DemoStack, path: str, numbers: list[str]) -> None:
    """Release each document in the ERP; the hub killed -9 half-way, restarted after."""
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        for i, number in enumerate(numbers):
            if i == len(numbers) // 2:
                stack.kill_hub()
            answer = erp.post(f"{path}/{number}/release")
            assert answer.status_code == 200, (SEED, number, answer.text)
    stack.start_hub()


def _tasks(stack: DemoStack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows(stack.pg.url("wms"), "SELECT pick_list_no, task_no, status FROM wms_pick_task"):
        found.setdefault(r["pick_list_no"], []).append(r)
    return found


def _pick(stack: DemoStack, rng: random.Random,
          tasks: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Confirm every task: in full, or one line picked in part; the tasks as the WMS shows
    them afterwards (lines, allocations with picked quantities)."""
    done = {}
    with httpx.Client(base_url=stack.wms_url, timeout=30) as wms:
        for task_no in tasks.values():
            task = wms.get(f"/api/pick-tasks/{task_no}").json()
            body: dict[str, Any] = {"picked_by": "拣货员 周敏"}
            partial = [ln for ln in task["lines"] if Decimal(ln["allocated_qty"]) > 0]
            if partial and rng.random() < 0.3:
                ln = rng.choice(partial)
                less = (Decimal(ln["allocated_qty"]) * Decimal("0.6")).quantize(Decimal("0.001"))
                body["lines"] = [{"line_no": ln["line_no"], "picked_qty": str(less)}]
            answer = wms.post(f"/api/pick-tasks/{task_no}/confirm", json=body)
            assert answer.status_code == 200, (SEED, task_no, answer.text)
            done[task_no] = {**answer.json(), "opened": task["status"]}
    return done


def _lists(stack: DemoStack, numbers: list[str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        return {n: erp.get(f"/api/picking-lists/{n}").json() for n in numbers}


def test_randomized_picking_lists_under_faults_end_picked_or_short_consistently(
        stack: DemoStack) -> None:
    rng = random.Random(SEED)
    codes = _materials(stack)
    components, products = codes[5:15], codes[25:29]
    assert len(components) == 10 and len(products) == 4, (SEED, codes)
    held = _stock(stack, rng, components)
    numbers = _picking_lists(stack, rng, products, components)
    required = _lists(stack, numbers)
    _faults(stack, True)
    _release(stack, "/api/picking-lists", numbers)
    assert eventually(lambda: set(_tasks(stack)) >= set(numbers), DEADLINE), (
        SEED, sorted(set(numbers) - set(_tasks(stack)))[:5])
    made = _tasks(stack)
    assert all(len(made[n]) == 1 for n in numbers), SEED  # one pick task per list
    task_of = {n: made[n][0]["task_no"] for n in numbers}
    picked = _pick(stack, rng, task_of)
    _check_allocations(held, required, picked, task_of)
    issued = lambda: {r["pick_task_no"] for r in rows(  # noqa: E731
        stack.erp_url, "SELECT pick_task_no FROM stock_issue")}
    want = {t for t, task in picked.items()
            if any(Decimal(a["picked_qty"]) > 0 for a in task["allocations"])}
    assert eventually(lambda: issued() >= want and _idle(stack), DEADLINE), (
        SEED, sorted(want - issued())[:5])
    _check_issues(stack, held, picked, want)
    _check_lists(stack, required, picked, task_of)
    _check_tasks_and_commands(stack, picked, task_of, want)
    _check_faults(stack)


def _check_allocations(held: dict[str, Decimal], required: dict[str, dict[str, Any]],
                       picked: dict[str, dict[str, Any]], task_of: dict[str, str]) -> None:
    """FIFO greed: per component, min(Σ needed, stock) allocated; a line's allocations add up
    to its allocated quantity, at most the required one; a task short exactly when one is."""
    need: dict[str, Decimal] = {}
    for number, shown in required.items():
        task = picked[task_of[number]]
        lines = {ln["line_no"]: ln for ln in task["lines"]}
        for ln in shown["lines"]:
            got = lines[ln["line_no"]]
            assert got["item_code"] == ln["material_code"], (SEED, number)
            mine = sum((Decimal(a["qty"]) for a in task["allocations"]
                        if a["line_no"] == ln["line_no"]), Decimal(0))
            assert Decimal(got["allocated_qty"]) == mine <= Decimal(ln["required_qty"]) == \
                Decimal(got["required_qty"]), (SEED, number, got)
        short = any(Decimal(ln["allocated_qty"]) < Decimal(ln["required_qty"])
                    for ln in task["lines"])
        assert task["opened"] == ("short" if short else "open"), (SEED, number)
        for ln in shown["lines"]:
            need[ln["material_code"]] = need.get(ln["material_code"], Decimal(0)) + Decimal(
                ln["required_qty"])
    allocated: dict[str, Decimal] = {}
    for task in picked.values():
        for a in task["allocations"]:
            allocated[a["item_code"]] = allocated.get(a["item_code"], Decimal(0)) + Decimal(
                a["qty"])
    for code, needed in need.items():
        assert allocated.get(code, Decimal(0)) == min(needed, held[code]), (SEED, code)
    assert any(t["opened"] == "short" for t in picked.values()), SEED  # shortages drawn


def _check_issues(stack: DemoStack, held: dict[str, Decimal], picked: dict[str, dict[str, Any]],
                  want: set[str]) -> None:
    """One stock issue per task picked (none for one nothing was picked of), its lines the
    picked batches exactly; ERP stock down by exactly what was picked."""
    lines = rows(stack.erp_url, "SELECT s.pick_task_no, s.doc_no, p.line_no, l.batch_no, "
                 "l.quantity FROM stock_issue s JOIN stock_issue_line l ON l.stock_issue_id = "
                 "s.id JOIN picking_list_line p ON p.id = l.pl_line_id ORDER BY s.id, l.line_no")
    per: dict[str, list[tuple[int, str, Decimal]]] = {}
    docs: dict[str, set[str]] = {}
    for r in lines:
        per.setdefault(r["pick_task_no"], []).append((r["line_no"], r["batch_no"], r["quantity"]))
        docs.setdefault(r["pick_task_no"], set()).add(r["doc_no"])
    assert set(docs) == want, (SEED, sorted(set(docs) ^ want)[:5])
    taken: dict[str, Decimal] = {}
    for task_no, task in picked.items():
        expected = [(a["line_no"], a["batch_no"], Decimal(a["picked_qty"]))
                    for a in task["allocations"] if Decimal(a["picked_qty"]) > 0]
        for a in task["allocations"]:
            taken[a["item_code"]] = taken.get(a["item_code"], Decimal(0)) + Decimal(
                a["picked_qty"])
        if task_no in want:
            assert len(docs[task_no]) == 1, (SEED, task_no, docs[task_no])
            assert per[task_no] == expected, (SEED, task_no)
    on_hand = {r["code"]: r["on_hand"] for r in rows(stack.erp_url, "SELECT m.code, s.on_hand "
               "FROM stock s JOIN material m ON m.id = s.material_id WHERE s.warehouse = 'WH01'")}
    for code, before in held.items():
        assert on_hand[code] == before - taken.get(code, Decimal(0)), (SEED, code)


def _check_lists(stack: DemoStack, required: dict[str, dict[str, Any]],
                 picked: dict[str, dict[str, Any]], task_of: dict[str, str]) -> None:
    """Each ERP list: issued = picked, short = required − picked, picked or short; the WMS
    task has its stock issue's number."""
    now = _lists(stack, list(required))
    erp_doc = {r["task_no"]: r["erp_doc_no"] for r in rows(
        stack.pg.url("wms"), "SELECT task_no, erp_doc_no FROM wms_pick_task")}
    for number, shown in now.items():
        task = picked[task_of[number]]
        got = {ln["line_no"]: Decimal(ln["picked_qty"]) for ln in task["lines"]}
        full = True
        for ln in shown["lines"]:
            short = Decimal(ln["required_qty"]) - got[ln["line_no"]]
            full = full and short == 0
            assert (Decimal(ln["issued_qty"]), Decimal(ln["short_qty"])) == (
                got[ln["line_no"]], short), (SEED, number, ln)
        assert shown["status"] == ("picked" if full else "short"), (SEED, number)
        issues = [i["doc_no"] for i in shown["stock_issues"]]
        assert len(issues) <= 1 and erp_doc[task_of[number]] == (issues or [None])[0], (
            SEED, number, issues)


def _check_tasks_and_commands(stack: DemoStack, picked: dict[str, dict[str, Any]],
                              task_of: dict[str, str], want: set[str]) -> None:
    """One task for production per shortage (at allocation, or found at the pick), one
    command per hop and document."""
    short_at_once = {t for t, task in picked.items() if task["opened"] == "short"}
    short_at_pick = {t for t, task in picked.items() if task["opened"] == "open" and any(
        Decimal(ln["short_qty"]) > 0 for ln in task["lines"])}
    flagged = rows(stack.hub_url, "SELECT business_key, count(*) AS n FROM task WHERE type = "
                   "'flow_task' AND entity = 'pick_task' GROUP BY business_key")
    assert {r["business_key"]: r["n"] for r in flagged} == dict.fromkeys(
        short_at_once | short_at_pick, 1), SEED
    assert _commands(stack, "production_picking.pick_task") == dict.fromkeys(task_of, 1), SEED
    assert _commands(stack, "production_picking.stock_issue") == dict.fromkeys(want, 1), SEED
    # the shortage updates the ERP's list: its command is keyed by the list's number
    assert _commands(stack, "production_picking.shortage") == dict.fromkeys(
        {picked[t]["pick_list_no"] for t in short_at_once}, 1), SEED


def _check_faults(stack: DemoStack) -> None:
    assert_faults_survived(stack.hub_url, [stack.erp_api_url, stack.wms_url], SEED)
    # an ERP answer lost after its commit: the retry got the document its key had made
    assert httpx.get(f"{stack.erp_api_url}/_stats", timeout=30).json()["replays"] > 0, SEED


def _sales_orders(stack: DemoStack, rng: random.Random, codes: list[str]) -> dict[str, Any]:
    """ORDERS random sales orders (created): so_no → the body posted."""
    wms_customers = {r["customer_no"] for r in rows(stack.pg.url("wms"), "SELECT customer_no "
                                                    "FROM wms_customer WHERE is_active")}
    customers = [r["code"] for r in rows(stack.erp_url, "SELECT code FROM customer WHERE active "
                                         "ORDER BY code") if r["code"] in wms_customers]
    assert customers, SEED
    made = {}
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        for _ in range(ORDERS):
            body = {"customer_code": rng.choice(customers[:8]), "priority": rng.randint(1, 5),
                    "ship_to_address": rng.choice(ADDRESSES), "contact": "陈先生",
                    "phone": "13900001111", "lines": [
                        {"material_code": m, "quantity": str(Decimal(rng.randrange(1, 50000))
                                                             / 1000),
                         "unit_price": str(Decimal(rng.randrange(1, 999999)) / 10000)}
                        for m in rng.sample(codes, rng.randint(1, 3))]}
            answer = erp.post("/api/sales-orders", json=body)
            assert answer.status_code == 201, (SEED, answer.text)
            made[str(answer.json()["so_no"])] = body
    return made


def _outbound(stack: DemoStack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows(stack.pg.url("wms"), "SELECT * FROM wms_outbound_order"):
        found.setdefault(r["so_no"], []).append(r)
    return found


def _ship(stack: DemoStack, rng: random.Random, orders: dict[str, Any],
          outbound: dict[str, str]) -> dict[str, list[Decimal]]:
    """Ship every outbound order in full or in part (at least one line); the hub killed -9
    half-way. so_no → the shipped quantity per line."""
    shipped = {}
    with httpx.Client(base_url=stack.wms_url, timeout=30) as wms:
        for i, (so_no, body) in enumerate(orders.items()):
            if i == len(orders) // 2:
                stack.kill_hub()
            wanted = [Decimal(ln["quantity"]) for ln in body["lines"]]
            if rng.random() < 0.4:
                wanted = [q if rng.random() < 0.4 else (q * rng.choice(
                    (Decimal(0), Decimal("0.5")))).quantize(Decimal("0.001")) for q in wanted]
                if not any(wanted):
                    wanted[0] = Decimal(body["lines"][0]["quantity"])
            ship = {"tracking_no": f"SF{SEED:06d}{i:04d}", "carrier": "顺丰速运", "lines": [
                {"line_no": n, "shipped_qty": str(q)} for n, q in enumerate(wanted, start=1)]}
            answer = wms.post(f"/api/outbound-orders/{outbound[so_no]}/ship", json=ship)
            assert answer.status_code == 200, (SEED, so_no, answer.text)
            shipped[so_no] = wanted
    stack.start_hub()
    return shipped


def test_randomized_sales_orders_under_faults_end_shipped_with_one_receivable_each(
        stack: DemoStack) -> None:
    rng = random.Random(SEED + 1)
    orders = _sales_orders(stack, rng, _materials(stack)[30:50])
    _faults(stack, True)
    _release(stack, "/api/sales-orders", list(orders))
    assert eventually(lambda: set(_outbound(stack)) >= set(orders), DEADLINE), (
        SEED, sorted(set(orders) - set(_outbound(stack)))[:5])
    made = _outbound(stack)
    assert all(len(made[n]) == 1 for n in orders), SEED  # one outbound order per sales order
    outbound = {n: made[n][0]["outbound_no"] for n in orders}
    wms_lines = {(r["so_no"], r["line_no"]): (r["item_code"], r["quantity"]) for r in rows(
        stack.pg.url("wms"), "SELECT o.so_no, l.line_no, l.item_code, l.quantity FROM "
        "wms_outbound_order o JOIN wms_outbound_line l ON l.outbound_id = o.id")}
    for so_no, body in orders.items():
        [order] = made[so_no]
        assert (order["customer_no"], order["priority"], order["ship_to_address"]) == (
            body["customer_code"], body["priority"], body["ship_to_address"]), (SEED, so_no)
        for n, ln in enumerate(body["lines"], start=1):
            assert wms_lines[(so_no, n)] == (ln["material_code"], Decimal(ln["quantity"])), (
                SEED, so_no, n)
    shipped = _ship(stack, rng, orders, outbound)
    back = lambda: {n for n, o in _outbound(stack).items() if o[0]["erp_status"]}  # noqa: E731
    assert eventually(lambda: back() >= set(orders) and _idle(stack), DEADLINE), (
        SEED, sorted(set(orders) - back())[:5])
    _check_shipments(stack, orders, shipped)
    assert _commands(stack, "sales_outbound.outbound_order") == dict.fromkeys(orders, 1), SEED
    assert _commands(stack, "sales_outbound.sales_shipment") == dict.fromkeys(
        outbound.values(), 1), SEED
    _check_faults(stack)


def _check_shipments(stack: DemoStack, orders: dict[str, Any],
                     shipped: dict[str, list[Decimal]]) -> None:
    """One ERP shipment and one receivable (Σ shipped × price, exact) per order, the order
    shipped (已发货) or partial, the shipment's number and that state on the WMS order."""
    wms = {n: o[0] for n, o in _outbound(stack).items()}
    ar: dict[str, list[Decimal]] = {}
    for r in rows(stack.erp_url, "SELECT o.so_no, a.amount FROM ar_entry a JOIN sales_order o "
                  "ON o.id = a.so_id"):
        ar.setdefault(r["so_no"], []).append(r["amount"])
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        for so_no, body in orders.items():
            shown = erp.get(f"/api/sales-orders/{so_no}").json()
            want = shipped[so_no]
            assert [Decimal(ln["shipped_qty"]) for ln in shown["lines"]] == want, (SEED, so_no)
            full = all(q == Decimal(ln["quantity"]) for q, ln in zip(want, body["lines"]))
            assert (shown["status"], shown["status_text"]) == (
                ("shipped", "已发货") if full else ("partial", "部分发货")), (SEED, so_no)
            amount = sum(((q * Decimal(ln["unit_price"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
                          for q, ln in zip(want, body["lines"])), Decimal(0))
            [shipment] = shown["shipments"]  # exactly one
            assert Decimal(shipment["amount"]) == amount and ar[so_no] == [amount], (
                SEED, so_no, ar.get(so_no))
            assert shown["tracking_no"] == wms[so_no]["tracking_no"], (SEED, so_no)
            assert (wms[so_no]["erp_doc_no"], wms[so_no]["erp_status"]) == (
                shipment["doc_no"], shown["status_text"]), (SEED, so_no)
