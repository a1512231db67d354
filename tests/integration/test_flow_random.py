"""Flows 1 and 2 under faults, randomized: a hundred and more purchase requests with random
lines (exact decimals), approved or rejected, some approved twice; the ERP's and the WMS's APIs
failing a share of calls with 503; the hub killed with -9 in the middle of the approvals (the
rest are approved while it is down); then every order released and received — fully, in
part, with rejected goods. Afterwards every chain is complete and consistent: one PO per
approved request with the request's lines, none for a rejected one, the PO number on every
OA request, one pre-receipt per released PO, one stock-in (the accepted quantities) and one
return (the rejected ones) per receipt, the PO's received quantities and state agreeing with
them, and that state back on the OA request. Then flow 6: one ERP payable per stock-in
(Σ accepted × the PO's price, exact), one OA payment request per payable; those approved (the
hub killed -9 a third of the way, five approved twice, OA's API failing too, the ERP's answers
to the payments sometimes lost after its commit) are paid once each with the payable's amount,
已付款 and the bank reference back on OA; the rejected ones pay nothing and leave the payable
open. No flow command is dead, each exactly once. The seed is printed with every failure."""
from __future__ import annotations

import os
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import assert_faults_survived, eventually, execute, rows

SEED = int(os.environ.get("MDM_FLOW_SEED") or random.SystemRandom().randrange(10**6))
REQUESTS = 120
DEADLINE = 600.0  # for the whole population to settle, faults and restart included
OA_STATE = {"created": "已创建", "released": "已下达供应商", "partial": "部分到货", "done": "已完成"}


def _codes(stack: DemoStack) -> tuple[list[str], list[str]]:
    """Active suppliers and materials the WMS holds too (pre-receipts name them there)."""
    wms = stack.pg.url("wms")
    suppliers = {r["supplier_no"] for r in rows(wms, "SELECT supplier_no FROM wms_supplier "
                                                      "WHERE is_active")}
    items = {r["item_code"] for r in rows(wms, "SELECT item_code FROM wms_item WHERE is_active")}
    erp_s = [r["code"] for r in rows(stack.erp_url, "SELECT code FROM supplier WHERE active "
                                                    "ORDER BY code") if r["code"] in suppliers]
    erp_m = [r["code"] for r in rows(stack.erp_url, "SELECT code FROM material WHERE active "
                                                    "ORDER BY code") if r["code"] in items]
    return erp_s[:6], erp_m[:12]


def _new_request(oa: httpx.Client, rng: random.Random, suppliers: list[str],
                 materials: list[str]) -> tuple[str, list[tuple[str, Decimal, Decimal]]]:
    lines = [(m, Decimal(rng.randrange(1000, 200000)) / 1000, Decimal(rng.randrange(1, 99999)) / 10000)
             for m in rng.sample(materials, rng.randint(1, 3))]
    answer = oa.post("/api/purchase-requests", json={
        "title": "随机采购", "requester": "E0001", "dept_code": "D01",
        "vendor_code": rng.choice(suppliers), "lines": [
            {"material_code": m, "quantity": str(q), "unit_price": str(p),
             "needed_by": "2026-12-31"}
            for m, q, p in lines]})
    assert answer.status_code == 201, (SEED, answer.text)
    number = str(answer.json()["request_no"])
    assert oa.post(f"/api/purchase-requests/{number}/submit", json={}).status_code == 200
    return number, lines


def _faults(stack: DemoStack, on: bool, calls: int = 40, after_write: bool = False) -> None:
    """Of the next `calls` hub calls to each API, 15 % answer 503 (`after_write`: the ERP's
    creates commit first, the answer is lost); OA's only in flow 6 (calls > 40)."""
    systems = [(stack.erp_api_url, after_write), (stack.wms_url, False)]
    for url, late in systems + ([(stack.oa_url, False)] if calls > 40 else []):
        spec = {"fail_next": calls, "status": 503, "rate": 0.15, "after_write": late} if on \
            else {"fail_next": 0}
        assert httpx.post(f"{url}/_faults", json=spec, timeout=30).status_code == 200, SEED


def _oa_rows(stack: DemoStack) -> dict[str, dict[str, Any]]:
    return {r["request_no"]: r for r in rows(stack.pg.url("oa"), "SELECT request_no, status, "
                                             "po_no, po_status FROM oa_purchase_request")}


def _approve_all(stack: DemoStack, rng: random.Random,
                 requests: dict[str, Any]) -> tuple[set[str], set[str]]:
    approved, rejected = set(), set()
    numbers = list(requests)
    with httpx.Client(base_url=stack.oa_url, timeout=30) as oa:
        for i, number in enumerate(numbers):
            if i == len(numbers) // 2:  # kill -9 mid-way; the rest are approved meanwhile
                stack.kill_hub()
            if rng.random() < 0.2:
                body, action = {"approver": "王经理", "comment": "预算不足"}, "reject"
                rejected.add(number)
            else:
                body, action = {"approver": "王经理"}, "approve"
                approved.add(number)
            assert oa.post(f"/api/purchase-requests/{number}/{action}", json=body).status_code == 200
    stack.start_hub()
    twice = rng.sample(sorted(approved), 10)  # OA's workflow engine sends approvals again
    execute(stack.pg.url("oa"), *[
        f"UPDATE oa_purchase_request SET status = '{s}' WHERE request_no = '{n}'"
        for n in twice for s in ("submitted", "approved")])
    return approved, rejected


def _receive_all(stack: DemoStack, rng: random.Random, orders: dict[str, str],
                 requests: dict[str, Any]) -> dict[str, list[tuple[int, Decimal, Decimal]]]:
    """One receipt per PO: each line fully, in part, or with rejects; (line, accepted, rejected)."""
    receipts: dict[str, list[tuple[int, Decimal, Decimal]]] = {}
    with httpx.Client(base_url=stack.wms_url, timeout=30) as wms:
        for number, po_no in orders.items():
            taken = []
            for n, (_, quantity, _) in enumerate(requests[number], start=1):
                got = quantity if rng.random() < 0.6 else (quantity * rng.choice(
                    (Decimal("0.5"), Decimal("0.25")))).quantize(Decimal("0.001"))
                bad = Decimal(0) if rng.random() < 0.7 else min(got, Decimal("1.000"))
                taken.append((n, got - bad, bad))
            answer = wms.post("/api/receipts", json={
                "po_no": po_no, "warehouse": "WH01", "received_by": "仓管员", "lines": [
                    {"po_line_no": n, "received_qty": str(ok + bad), "accepted_qty": str(ok),
                     "rejected_qty": str(bad), "reject_reason": "破损" if bad else None}
                    for n, ok, bad in taken]})
            assert answer.status_code == 201, (SEED, answer.text)
            receipt_no = answer.json()["receipt_no"]
            assert wms.post(f"/api/receipts/{receipt_no}/complete").status_code == 200
            receipts[receipt_no] = taken
    return receipts


def test_randomized_requests_approvals_and_receipts_under_faults_end_consistent(stack: DemoStack):
    rng = random.Random(SEED)
    suppliers, materials = _codes(stack)
    assert suppliers and materials, SEED
    with httpx.Client(base_url=stack.oa_url, timeout=30) as oa:
        requests = dict(_new_request(oa, rng, suppliers, materials) for _ in range(REQUESTS))
    _faults(stack, True)
    approved, rejected = _approve_all(stack, rng, requests)
    assert eventually(lambda: all(_oa_rows(stack)[n]["po_no"] for n in approved), DEADLINE), (
        SEED, [n for n in approved if not _oa_rows(stack)[n]["po_no"]][:5])
    orders = {n: str(_oa_rows(stack)[n]["po_no"]) for n in approved}
    _check_orders(stack, requests, orders, rejected)

    _faults(stack, False)  # the test's own calls as the ERP's buyer and the dock workers
    with httpx.Client(base_url=stack.erp_api_url, timeout=30) as erp:
        for po_no in orders.values():
            assert erp.post(f"/api/purchase-orders/{po_no}/release").status_code == 200
    _faults(stack, True)
    pre = lambda: {r["po_no"]: r["n"] for r in rows(  # noqa: E731
        stack.pg.url("wms"), "SELECT po_no, count(*) AS n FROM wms_pre_receipt GROUP BY po_no")}
    assert eventually(lambda: set(pre()) >= set(orders.values()), DEADLINE), SEED
    assert all(pre()[p] == 1 for p in orders.values()), SEED
    _faults(stack, False)
    receipts = _receive_all(stack, rng, orders, requests)
    _faults(stack, True)
    assert eventually(lambda: _receipts_settled(stack, receipts), DEADLINE), SEED
    _check_receipts(stack, receipts, orders, requests)
    _pay_all(stack, rng, receipts, requests)
    assert_faults_survived(stack.hub_url, [stack.erp_api_url, stack.wms_url, stack.oa_url], SEED)


def _check_orders(stack: DemoStack, requests: dict[str, Any], orders: dict[str, str],
                  rejected: set[str]) -> None:
    made = rows(stack.erp_url, "SELECT p.request_no, p.po_no, l.line_no, m.code, l.quantity, "
                "l.unit_price FROM purchase_order p JOIN purchase_order_line l ON l.po_id = p.id "
                "JOIN material m ON m.id = l.material_id WHERE p.request_no IS NOT NULL "
                "ORDER BY p.request_no, l.line_no")
    by_request: dict[str, set[str]] = {}
    lines: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
    for r in made:
        by_request.setdefault(r["request_no"], set()).add(r["po_no"])
        lines.setdefault(r["request_no"], []).append((r["code"], r["quantity"], r["unit_price"]))
    assert not (set(by_request) & rejected), SEED  # a rejected request makes no PO
    for number, po_no in orders.items():
        assert by_request.get(number) == {po_no}, (SEED, number, by_request.get(number))
        assert lines[number] == requests[number], (SEED, number)
    commands = rows(stack.hub_url, "SELECT business_key, count(*) AS n FROM delivery WHERE hop = "
                    "'purchase_approval.create_po' GROUP BY business_key")
    assert {r["business_key"]: r["n"] for r in commands} == dict.fromkeys(orders, 1), SEED


def _receipts_settled(stack: DemoStack, receipts: dict[str, Any]) -> bool:
    posted = {r["receipt_no"] for r in rows(stack.erp_url, "SELECT receipt_no FROM stock_in")}
    returned = {r["receipt_no"] for r in rows(stack.erp_url, "SELECT receipt_no FROM "
                                                             "purchase_return")}
    want_in = {k for k, taken in receipts.items() if any(ok > 0 for _, ok, _ in taken)}
    want_back = {k for k, taken in receipts.items() if any(bad > 0 for _, _, bad in taken)}
    open_ = rows(stack.hub_url, "SELECT 1 FROM delivery WHERE hop IS NOT NULL AND status IN "
                 "('pending', 'failed', 'held') LIMIT 1")
    return want_in <= posted and want_back <= returned and not open_


def _check_receipts(stack: DemoStack, receipts: dict[str, Any], orders: dict[str, str],
                    requests: dict[str, Any]) -> None:
    posted = rows(stack.erp_url, "SELECT s.receipt_no, count(DISTINCT s.id) AS docs, "
                  "array_agg(l.quantity ORDER BY l.line_no) AS q FROM stock_in s JOIN "
                  "stock_in_line l ON l.stock_in_id = s.id GROUP BY s.receipt_no")
    by_receipt = {r["receipt_no"]: r for r in posted}
    for receipt_no, taken in receipts.items():
        accepted = [ok for _, ok, _ in taken if ok > 0]
        if accepted:
            assert by_receipt[receipt_no]["docs"] == 1, (SEED, receipt_no)
            assert by_receipt[receipt_no]["q"] == accepted, (SEED, receipt_no)
    dead = rows(stack.hub_url, "SELECT hop, business_key, last_error FROM delivery WHERE hop "
                "IS NOT NULL AND status = 'dead'")
    assert dead == [], (SEED, dead[:5])
    received = {(r["po_no"], r["line_no"]): r for r in rows(
        stack.erp_url, "SELECT p.po_no, p.status, l.line_no, l.quantity, l.received_qty FROM "
        "purchase_order p JOIN purchase_order_line l ON l.po_id = p.id")}
    po_of = {r["receipt_no"]: r["po_no"] for r in rows(stack.pg.url("wms"), "SELECT receipt_no, "
                                                       "po_no FROM wms_receipt")}
    for receipt_no, taken in receipts.items():
        for n, ok, _ in taken:
            assert received[(po_of[receipt_no], n)]["received_qty"] == ok, (SEED, receipt_no, n)
    states = {p: r["status"] for (p, _), r in received.items()}
    for po_no in orders.values():
        lines = [r for (p, _), r in received.items() if p == po_no]
        full = all(r["received_qty"] >= r["quantity"] for r in lines)
        some = any(r["received_qty"] > 0 for r in lines)  # every line rejected: nothing posted
        assert states[po_no] == ("done" if full else "partial" if some else "released"), (
            SEED, po_no)
    assert eventually(lambda: all(_oa_rows(stack)[n]["po_status"] == OA_STATE[states[p]]
                                  for n, p in orders.items()), DEADLINE), SEED


def _payables(stack: DemoStack) -> dict[str, dict[str, Any]]:
    return {r["payable_no"]: r for r in rows(stack.erp_url, "SELECT p.payable_no, p.amount, "
            "p.status, p.stock_in_no, p.po_no, s.receipt_no FROM payable p JOIN stock_in s ON "
            "s.id = p.stock_in_id")}


def _pay_requests(stack: DemoStack) -> list[dict[str, Any]]:
    return rows(stack.pg.url("oa"), "SELECT request_no, payable_no, amount, status, "
                "pay_status, payment_no, bank_ref FROM oa_payment_request")


def _commands(stack: DemoStack, hop: str) -> dict[str, int]:
    found = rows(stack.hub_url, "SELECT business_key, count(*) AS n FROM delivery WHERE hop = "
                 "%s GROUP BY business_key", (hop,))
    return {r["business_key"]: r["n"] for r in found}


def _pay_all(stack: DemoStack, rng: random.Random, receipts: dict[str, Any],
             requests: dict[str, Any]) -> None:
    """Flow 6: one payable per stock-in (Σ accepted × the PO's price), one OA payment request
    each; ~15 % rejected (nothing paid, the payable stays open), the rest approved — the hub
    killed -9 mid-way, five approved twice — each paid once by the ERP (its answers lost after
    the commit for some), 已付款 and the bank reference back on OA."""
    po_of = {r["receipt_no"]: r["po_no"] for r in rows(stack.pg.url("wms"), "SELECT receipt_no, "
                                                       "po_no FROM wms_receipt")}
    request_of = {r["po_no"]: r["request_no"] for r in rows(
        stack.erp_url, "SELECT po_no, request_no FROM purchase_order")}
    payables = _payables(stack)
    by_receipt = {p["receipt_no"]: p for p in payables.values()}
    for receipt_no, taken in receipts.items():
        prices = [p for _, _, p in requests[request_of[po_of[receipt_no]]]]
        exact = sum((ok * prices[n - 1] for n, ok, _ in taken), Decimal(0)).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        if any(ok > 0 for _, ok, _ in taken):
            assert by_receipt[receipt_no]["amount"] == exact, (SEED, receipt_no, exact)
        else:
            assert receipt_no not in by_receipt, (SEED, receipt_no)
    assert len(by_receipt) == len(payables), SEED  # one payable per stock-in
    asked = lambda: {r["payable_no"] for r in _pay_requests(stack)}  # noqa: E731
    assert eventually(lambda: asked() >= set(payables), DEADLINE), (
        SEED, sorted(set(payables) - asked())[:5])
    pushed = _pay_requests(stack)
    assert sorted(r["payable_no"] for r in pushed) == sorted(payables), SEED  # none twice
    for r in pushed:
        assert (r["status"], r["amount"]) == ("submitted", payables[r["payable_no"]]["amount"]), (
            SEED, r)
    approved, rejected = _approve_payments(stack, rng, [r["request_no"] for r in pushed])
    paid = lambda: {r["request_no"] for r in _pay_requests(stack)  # noqa: E731
                    if r["pay_status"] == "已付款"}
    assert eventually(lambda: paid() >= approved and _flows_idle(stack), DEADLINE), (
        SEED, sorted(approved - paid())[:5])
    _check_payments(stack, approved, rejected, payables)


def _approve_payments(stack: DemoStack, rng: random.Random,
                      numbers: list[str]) -> tuple[set[str], set[str]]:
    _faults(stack, True, calls=600, after_write=True)
    approved, rejected = set(), set()
    with httpx.Client(base_url=stack.oa_url, timeout=30) as oa:
        for i, number in enumerate(numbers):
            if i == len(numbers) // 3:  # kill -9 a third of the way; the rest approved meanwhile
                stack.kill_hub()
            if rng.random() < 0.15:
                body, action = {"approver": "财务总监 陈静", "comment": "发票未到"}, "reject"
                rejected.add(number)
            else:
                body, action = {"approver": "财务总监 陈静", "comment": "同意付款"}, "approve"
                approved.add(number)
            answer = oa.post(f"/api/payment-requests/{number}/{action}", json=body)
            assert answer.status_code == 200, (SEED, number, answer.text)
    stack.start_hub()
    twice = rng.sample(sorted(approved), min(5, len(approved)))  # the approval sent again
    execute(stack.pg.url("oa"), *[
        f"UPDATE oa_payment_request SET status = '{s}' WHERE request_no = '{n}'"
        for n in twice for s in ("submitted", "approved")])
    return approved, rejected


def _flows_idle(stack: DemoStack) -> bool:
    return not rows(stack.hub_url, "SELECT 1 FROM delivery WHERE hop IS NOT NULL AND status IN "
                    "('pending', 'failed', 'held') LIMIT 1")


def _check_payments(stack: DemoStack, approved: set[str], rejected: set[str],
                    payables: dict[str, dict[str, Any]]) -> None:
    shown = {r["request_no"]: r for r in _pay_requests(stack)}
    made = rows(stack.erp_url, "SELECT request_no, payable_no, amount, payment_no, bank_ref, "
                "approved_by FROM erp_payment WHERE payable_no IS NOT NULL")
    per_request: dict[str, list[dict[str, Any]]] = {}
    for m in made:
        per_request.setdefault(m["request_no"], []).append(m)
    assert set(per_request) == approved, (SEED, sorted(set(per_request) ^ approved)[:5])
    now = _payables(stack)
    for number in approved:
        [payment] = per_request[number]  # exactly one payment per approved request
        request = shown[number]
        assert payment["payable_no"] == request["payable_no"], (SEED, number)
        assert payment["amount"] == payables[request["payable_no"]]["amount"], (SEED, number)
        assert payment["approved_by"] == "财务总监 陈静", (SEED, number)
        assert (request["payment_no"], request["bank_ref"]) == (
            payment["payment_no"], payment["bank_ref"]), (SEED, number)
        assert now[request["payable_no"]]["status"] == "paid", (SEED, number)
    for number in rejected:  # a rejected request pays nothing: its payable stays open
        request = shown[number]
        assert (request["status"], request["pay_status"], request["payment_no"]) == (
            "rejected", None, None), (SEED, number)
        assert now[request["payable_no"]]["status"] == "open", (SEED, number)
    assert _commands(stack, "purchase_payment.payment_request") == dict.fromkeys(payables, 1), \
        SEED
    assert _commands(stack, "purchase_payment.payment") == dict.fromkeys(approved, 1), SEED
