"""Flows 3 and 4 on the real stack (one module: one stack start for both). Production picking
(ERP → WMS → ERP): a released ERP picking list becomes a WMS pick task allocated FIFO by batch;
the picked quantities come back as an ERP stock issue per batch (stock − exactly, the list
picked) and the WMS's task gets its number; a shortage (needs 50, 30 in stock) is on the ERP
picking list at once, with a task for production, and the issue of the 30 picked leaves the
list short; an ERP refusal of a stock issue (库存不足) is a dead_delivery task with the ERP's
message, and the retry after the fix posts it. Sales outbound (ERP → WMS → ERP): a released sales order becomes a WMS outbound
order with priority, address and customer; its shipment comes back as an ERP sales shipment —
the order 已发货 with the tracking number, a receivable of Σ shipped × price due after the
customer's terms — and the WMS's order shows the shipment's number and 已发货. Real PostgreSQL,
Debezium on the three databases, the demo's APIs."""
from __future__ import annotations

from datetime import timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows

FLOW_DEADLINE = 120.0  # capture, processing, the target's API, capture of the target again


def _wms(stack: DemoStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return rows(stack.pg.url("wms"), sql, params)


def _erp(stack: DemoStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return rows(stack.erp_url, sql, params)


def _task_of(stack: DemoStack, pick_list_no: str) -> dict[str, Any] | None:
    found = _wms(stack, "SELECT task_no FROM wms_pick_task WHERE pick_list_no = %s", pick_list_no)
    if not found:
        return None
    answer = httpx.get(f"{stack.wms_url}/api/pick-tasks/{found[0]['task_no']}", timeout=30)
    return dict(answer.json())


def _list(stack: DemoStack, pick_list_no: str) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.erp_api_url}/api/picking-lists/{pick_list_no}",
                          timeout=30).json())


def _on_hand(stack: DemoStack) -> dict[str, Decimal]:
    return {r["code"]: r["on_hand"] for r in _erp(
        stack, "SELECT m.code, s.on_hand FROM stock s JOIN material m ON m.id = s.material_id "
        "WHERE s.warehouse = 'WH01'")}


def _release_list(stack: DemoStack, pick_list_no: str) -> None:
    answer = httpx.post(f"{stack.erp_api_url}/api/picking-lists/{pick_list_no}/release",
                        timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_released_picking_list_is_picked_fifo_and_issued_from_erp_stock(
        stack: DemoStack) -> None:
    seeded = _list(stack, "LL00000001")
    batches = _wms(stack, "SELECT item_code, batch_no, qty FROM wms_batch_stock ORDER BY "
                   "item_code, received_on, batch_no")
    before = _on_hand(stack)
    _release_list(stack, "LL00000001")
    assert eventually(lambda: _task_of(stack, "LL00000001"), FLOW_DEADLINE)
    task = _task_of(stack, "LL00000001")
    assert task is not None and task["status"] == "open"
    assert task["mo_no"] == seeded["mo_no"]
    expected = []  # FIFO: each line's need from its item's oldest batches first
    for line in seeded["lines"]:
        need = Decimal(line["required_qty"])
        for batch in (b for b in batches if b["item_code"] == line["material_code"]):
            take = min(need, batch["qty"])
            if take > 0:
                expected.append((line["line_no"], batch["batch_no"], take))
            need -= take
        assert need == 0, "the seed covers every line"
    assert [(a["line_no"], a["batch_no"], Decimal(a["qty"])) for a in task["allocations"]] \
        == expected
    done = httpx.post(f"{stack.wms_url}/api/pick-tasks/{task['task_no']}/confirm",
                      json={"picked_by": "拣货员 周敏"}, timeout=30)
    assert done.status_code == 200, done.text
    issue = lambda: _erp(stack, "SELECT doc_no, list_status FROM stock_issue WHERE "  # noqa: E731
                         "pick_task_no = %s", task["task_no"])
    assert eventually(issue, FLOW_DEADLINE)
    [posted] = issue()
    assert posted["list_status"] == "picked"
    lines = _erp(stack, "SELECT l.line_no, p.line_no AS pl_line_no, l.quantity, l.batch_no FROM "
                 "stock_issue_line l JOIN stock_issue s ON s.id = l.stock_issue_id JOIN "
                 "picking_list_line p ON p.id = l.pl_line_id WHERE s.doc_no = %s ORDER BY "
                 "l.line_no", posted["doc_no"])
    assert [(r["pl_line_no"], r["batch_no"], r["quantity"]) for r in lines] == expected
    after = _on_hand(stack)
    for line in seeded["lines"]:
        code = line["material_code"]
        assert before[code] - after[code] == Decimal(line["required_qty"])
    shown = _list(stack, "LL00000001")
    assert shown["status"] == "picked" and shown["pick_task_no"] == task["task_no"]
    assert [ln["issued_qty"] for ln in shown["lines"]] == [ln["required_qty"]
                                                          for ln in seeded["lines"]]
    assert eventually(lambda: _wms(stack, "SELECT 1 FROM wms_pick_task WHERE task_no = %s AND "
                                   "erp_doc_no = %s", task["task_no"], posted["doc_no"]),
                      FLOW_DEADLINE)
    [command] = rows(stack.hub_url, "SELECT status FROM delivery WHERE hop = "
                     "'production_picking.stock_issue' AND business_key = %s", (task["task_no"],))
    assert command["status"] == "acked"


def _short_list(stack: DemoStack) -> tuple[str, str]:
    """A production order needing 50 of a component the WMS holds 30 of (two batches) and the
    ERP too: (its released picking list, the component)."""
    product, component = [r["code"] for r in _erp(
        stack, "SELECT code FROM material WHERE active ORDER BY code OFFSET 30 LIMIT 2")]
    execute(stack.erp_url,
            "INSERT INTO bom_line (product_id, component_id, qty_per) SELECT p.id, c.id, 5 FROM "
            f"material p, material c WHERE p.code = '{product}' AND c.code = '{component}'",
            "INSERT INTO stock (material_id, warehouse, on_hand) SELECT id, 'WH01', 30 FROM "
            f"material WHERE code = '{component}' ON CONFLICT (material_id, warehouse) DO UPDATE "
            "SET on_hand = 30",
            "INSERT INTO production_order (product_id, quantity, planner) SELECT id, 10, '刘计划' "
            f"FROM material WHERE code = '{product}'")
    execute(stack.pg.url("wms"),
            "INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, received_on, qty) VALUES "
            f"('{component}', 'WH01', 'B20261101-07', '2026-11-01', 12), "
            f"('{component}', 'WH01', 'B20261115-02', '2026-11-15', 18)")
    [mo] = _erp(stack, "SELECT max(mo_no) AS mo_no FROM production_order")
    made = httpx.post(f"{stack.erp_api_url}/api/production-orders/{mo['mo_no']}/picking-list",
                      timeout=30)
    assert made.status_code == 201, made.text
    pick_list_no = str(made.json()["pick_list_no"])
    _release_list(stack, pick_list_no)
    return pick_list_no, component


def test_a_shortage_is_on_the_erp_picking_list_at_once_with_a_task(
        stack: DemoStack) -> None:
    pick_list_no, component = _short_list(stack)
    assert eventually(lambda: _task_of(stack, pick_list_no), FLOW_DEADLINE)
    task = _task_of(stack, pick_list_no)
    assert task is not None and task["status"] == "short"
    assert (task["lines"][0]["allocated_qty"], task["lines"][0]["short_qty"]) == ("30.000",
                                                                                  "20.000")
    # before anyone picks, the ERP's list shows the shortage
    assert eventually(lambda: _list(stack, pick_list_no)["status"] == "short", FLOW_DEADLINE)
    line = _list(stack, pick_list_no)["lines"][0]
    assert (line["material_code"], line["required_qty"], line["issued_qty"], line["short_qty"]) \
        == (component, "50.000", "0.000", "20.000")

    def tasks() -> list[dict[str, Any]]:
        return rows(stack.hub_url, "SELECT * FROM task WHERE type = 'flow_task' AND entity = "
                    "'pick_task' AND business_key = %s", (task["task_no"],))

    assert eventually(tasks, FLOW_DEADLINE)
    [open_task] = tasks()
    assert open_task["detail"]["team"] == "production"
    assert pick_list_no in open_task["summary"] and "缺料" in open_task["summary"]
    before = _on_hand(stack)[component]
    done = httpx.post(f"{stack.wms_url}/api/pick-tasks/{task['task_no']}/confirm",
                      json={"picked_by": "拣货员 周敏"}, timeout=30)
    assert done.status_code == 200, done.text
    assert eventually(lambda: _list(stack, pick_list_no)["lines"][0]["issued_qty"] == "30.000",
                      FLOW_DEADLINE)
    shown = _list(stack, pick_list_no)
    assert shown["status"] == "short" and shown["lines"][0]["short_qty"] == "20.000"
    assert before - _on_hand(stack)[component] == Decimal("30")
    issued = _erp(stack, "SELECT l.batch_no, l.quantity FROM stock_issue_line l JOIN stock_issue "
                  "s ON s.id = l.stock_issue_id WHERE s.pick_task_no = %s ORDER BY l.line_no",
                  task["task_no"])
    assert [(r["batch_no"], r["quantity"]) for r in issued] == [
        ("B20261101-07", Decimal("12.000")), ("B20261115-02", Decimal("18.000"))]
    assert len(tasks()) == 1  # one shortage task for the document


def _sales_order(stack: DemoStack) -> tuple[str, dict[str, Any]]:
    """A sales order of a customer with payment terms, released: (so_no, the customer)."""
    [customer] = _erp(stack, "SELECT c.code, t.days FROM customer c JOIN customer_payment_terms t "
                      "ON t.customer_id = c.id WHERE c.active ORDER BY c.code LIMIT 1")
    codes = [r["code"] for r in _erp(stack, "SELECT code FROM material WHERE active ORDER BY "
                                     "code OFFSET 40 LIMIT 2")]
    made = httpx.post(f"{stack.erp_api_url}/api/sales-orders", timeout=30, json={
        "customer_code": customer["code"], "priority": 1, "contact": "陈先生",
        "phone": "13900001111", "ship_to_address": "苏州市工业园区星湖街 328 号",
        "lines": [{"material_code": codes[0], "quantity": "3", "unit_price": "33.335"},
                  {"material_code": codes[1], "quantity": "2.5", "unit_price": "19.99"}]})
    assert made.status_code == 201, made.text
    so_no = str(made.json()["so_no"])
    released = httpx.post(f"{stack.erp_api_url}/api/sales-orders/{so_no}/release", timeout=30)
    assert released.status_code == 200, released.text
    return so_no, customer


def test_a_released_sales_order_is_shipped_and_the_erp_order_is_shipped_with_a_receivable(
        stack: DemoStack) -> None:
    so_no, customer = _sales_order(stack)

    def outbound() -> list[dict[str, Any]]:
        return _wms(stack, "SELECT * FROM wms_outbound_order WHERE so_no = %s", so_no)

    assert eventually(outbound, FLOW_DEADLINE)
    [order] = outbound()
    assert (order["customer_no"], order["priority"], order["ship_to_address"], order["contact"]) \
        == (customer["code"], 1, "苏州市工业园区星湖街 328 号", "陈先生")
    lines = _wms(stack, "SELECT line_no, quantity FROM wms_outbound_line WHERE outbound_id = %s "
                 "ORDER BY line_no", order["id"])
    assert [(r["line_no"], r["quantity"]) for r in lines] == [(1, Decimal("3.000")),
                                                              (2, Decimal("2.500"))]
    shipped = httpx.post(f"{stack.wms_url}/api/outbound-orders/{order['outbound_no']}/ship",
                         timeout=30, json={"tracking_no": "SF1402298765432", "carrier": "顺丰速运",
                                           "lines": [{"line_no": 2, "shipped_qty": "2"}]})
    assert shipped.status_code == 200, shipped.text
    erp_order = lambda: httpx.get(f"{stack.erp_api_url}/api/sales-orders/{so_no}",  # noqa: E731
                                  timeout=30).json()
    assert eventually(lambda: erp_order()["shipments"], FLOW_DEADLINE)
    shown = erp_order()
    # line 2 shipped 2 of 2.5: the order is partial, not yet 已发货
    assert (shown["status"], shown["tracking_no"]) == ("partial", "SF1402298765432")
    [shipment] = shown["shipments"]
    amount = sum(((Decimal(q) * Decimal(p)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                  for q, p in (("3", "33.335"), ("2", "19.99"))), Decimal(0))
    assert Decimal(shipment["amount"]) == amount
    [ar] = _erp(stack, "SELECT a.amount, a.due_date, c.code, s.shipped_at FROM ar_entry a JOIN "
                "customer c ON c.id = a.customer_id JOIN sales_shipment s ON s.id = "
                "a.shipment_id JOIN sales_order o ON o.id = a.so_id WHERE o.so_no = %s", so_no)
    assert (ar["amount"], ar["code"]) == (amount, customer["code"])
    [wms_shipped] = outbound()
    assert ar["shipped_at"] == wms_shipped["shipped_at"]
    assert ar["due_date"] == (wms_shipped["shipped_at"].astimezone(timezone.utc).date()
                              + timedelta(days=customer["days"]))
    assert eventually(lambda: outbound()[0]["erp_status"] == "部分发货", FLOW_DEADLINE)
    assert outbound()[0]["erp_doc_no"] == shipment["doc_no"]


def test_a_sales_order_shipped_in_full_shows_as_shipped_on_both_sides(
        stack: DemoStack) -> None:
    so_no, _ = _sales_order(stack)

    def outbound() -> list[dict[str, Any]]:
        return _wms(stack, "SELECT * FROM wms_outbound_order WHERE so_no = %s", so_no)

    assert eventually(outbound, FLOW_DEADLINE)
    number = outbound()[0]["outbound_no"]
    shipped = httpx.post(f"{stack.wms_url}/api/outbound-orders/{number}/ship", timeout=30,
                         json={"tracking_no": "YT7788990011", "carrier": "圆通速递"})
    assert shipped.status_code == 200, shipped.text
    assert eventually(lambda: outbound()[0]["erp_status"] == "已发货", FLOW_DEADLINE)
    shown = httpx.get(f"{stack.erp_api_url}/api/sales-orders/{so_no}", timeout=30).json()
    assert (shown["status"], shown["status_text"]) == ("shipped", "已发货")
    assert [ln["shipped_qty"] for ln in shown["lines"]] == ["3.000", "2.500"]
    [ar] = _erp(stack, "SELECT a.amount FROM ar_entry a JOIN sales_order o ON o.id = a.so_id "
                "WHERE o.so_no = %s", so_no)
    assert ar["amount"] == Decimal("149.99")
    assert outbound()[0]["erp_doc_no"] == shown["shipments"][0]["doc_no"]
    doc_no = shown["shipments"][0]["doc_no"]
    answer = httpx.get(f"{stack.api_url}/api/v1/trace/sales_shipment/{doc_no}", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"})
    assert answer.status_code == 200, answer.text
    root = answer.json()["root"]
    assert (root["entity"], root["business_key"]) == ("sales_order", so_no)
    [wms_order] = root["documents"]
    assert (wms_order["entity"], wms_order["business_key"]) == ("outbound_order", number)
    assert [(d["entity"], d["business_key"]) for d in wms_order["documents"]] == [
        ("sales_shipment", doc_no)]


def test_an_erp_refusal_of_a_stock_issue_is_a_task_and_the_retry_after_the_fix_posts_it(
        stack: DemoStack) -> None:
    [first] = _erp(stack, "SELECT m.code FROM bom_line b JOIN material m ON m.id = "
                   "b.component_id JOIN production_order o ON o.product_id = b.product_id WHERE "
                   "o.mo_no = 'MO00000001' ORDER BY m.code LIMIT 1")
    code = first["code"]
    set_stock = ("UPDATE stock SET on_hand = {} WHERE warehouse = 'WH01' AND material_id = "
                 f"(SELECT id FROM material WHERE code = '{code}')")
    execute(stack.erp_url, set_stock.format(1),  # the ERP holds 1, the WMS will pick 2
            "INSERT INTO production_order (product_id, quantity) SELECT product_id, 1 FROM "
            "production_order WHERE mo_no = 'MO00000001'")
    [mo] = _erp(stack, "SELECT max(mo_no) AS mo_no FROM production_order")
    made = httpx.post(f"{stack.erp_api_url}/api/production-orders/{mo['mo_no']}/picking-list",
                      timeout=30)
    pick_list_no = str(made.json()["pick_list_no"])
    _release_list(stack, pick_list_no)
    assert eventually(lambda: _task_of(stack, pick_list_no), FLOW_DEADLINE)
    task = _task_of(stack, pick_list_no)
    assert task is not None
    assert httpx.post(f"{stack.wms_url}/api/pick-tasks/{task['task_no']}/confirm", json={},
                      timeout=30).status_code == 200

    def commands() -> list[dict[str, Any]]:
        return rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = "
                    "'production_picking.stock_issue' AND business_key = %s", (task["task_no"],))

    assert eventually(lambda: [c["status"] for c in commands()] == ["dead"], FLOW_DEADLINE)
    [command] = commands()
    assert f"库存不足：物料 {code} 在仓库 WH01 现存 1.000" in command["last_error"]
    assert rows(stack.hub_url, "SELECT 1 FROM task WHERE type = 'dead_delivery' AND status = "
                "'open' AND golden_id = %s", (command["golden_id"],))
    assert task["status"] == "open"
    assert _list(stack, pick_list_no)["status"] == "released"  # nothing posted
    execute(stack.erp_url, set_stock.format(100))
    answer = httpx.post(f"{stack.api_url}/api/v1/deliveries/{command['id']}/retry",
                        headers={"Authorization": f"Bearer {stack.token()}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert eventually(lambda: _list(stack, pick_list_no)["status"] == "picked", FLOW_DEADLINE)
    assert _on_hand(stack)[code] == Decimal("100") - Decimal(
        _list(stack, pick_list_no)["lines"][0]["issued_qty"])
    assert [c["status"] for c in commands()] == ["acked"]
