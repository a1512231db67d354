"""Flow 2, purchase receipt (ERP → WMS → ERP), on the real stack: an ERP purchase order made by
flow 1 and released to the supplier becomes a WMS pre-receipt; what the warehouse receives
comes back as ERP stock-in on the order's lines (a partial receipt, then the rest with an
over-receipt inside the ERP's tolerance), rejected goods as an ERP purchase return and a task
for purchasing; the order's states reach the OA request. An over-receipt beyond tolerance is a
task with the ERP's message; a receipt for a PO the hub has not seen is held, then released
when the PO arrives. Real PostgreSQL, Debezium on the three databases, the demo's APIs."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows
from tests.integration.test_flow_purchase_approval import (
    FLOW_DEADLINE,
    _act,
    _oa,
    _request,
    _wait_po_number_on_oa,
)


def _released_po(stack: DemoStack) -> tuple[str, str]:
    """(request number, PO number) of an approved request whose PO the ERP released."""
    number = _request(stack, lines=(("M-1002", "100", "3.2000"), ("M-1003", "50", "12.5000")))
    _act(stack, number, "approve", approver="王经理")
    po_no = _wait_po_number_on_oa(stack, number)
    answer = httpx.post(f"{stack.erp_api_url}/api/purchase-orders/{po_no}/release", timeout=30)
    assert answer.status_code == 200, answer.text
    return number, po_no


def _receive(stack: DemoStack, po_no: str, *lines: tuple[int, str, str, str, str]) -> str:
    """A receipt entered and completed in the WMS: (po line, item, received, accepted, rejected)."""
    body = {"po_no": po_no, "warehouse": "WH01", "received_by": "仓管员 刘强", "lines": [
        {"po_line_no": n, "item_code": item, "received_qty": got, "accepted_qty": ok,
         "rejected_qty": bad, "batch_no": f"B{po_no[-4:]}{n}",
         "reject_reason": "外观破损" if Decimal(bad) else None}
        for n, item, got, ok, bad in lines]}
    answer = httpx.post(f"{stack.wms_url}/api/receipts", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    receipt_no = str(answer.json()["receipt_no"])
    done = httpx.post(f"{stack.wms_url}/api/receipts/{receipt_no}/complete", timeout=30)
    assert done.status_code == 200, done.text
    return receipt_no


def _wms(stack: DemoStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return rows(stack.pg.url("wms"), sql, params)


def _erp(stack: DemoStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return rows(stack.erp_url, sql, params)


def _stock_ins(stack: DemoStack, receipt_no: str) -> list[dict[str, Any]]:
    return _erp(stack, "SELECT s.doc_no, m.code, l.quantity, l.batch_no FROM stock_in s "
                "JOIN stock_in_line l ON l.stock_in_id = s.id JOIN material m ON m.id = "
                "l.material_id WHERE s.receipt_no = %s ORDER BY l.line_no", receipt_no)


def _po_status(stack: DemoStack, po_no: str) -> str:
    return str(_erp(stack, "SELECT status FROM purchase_order WHERE po_no = %s", po_no)[0]["status"])


def test_a_released_po_is_announced_received_in_part_and_whole_with_a_return_and_a_task(
        stack: DemoStack):
    number, po_no = _released_po(stack)
    assert eventually(lambda: _wms(stack, "SELECT 1 FROM wms_pre_receipt WHERE po_no = %s",
                                   po_no), FLOW_DEADLINE)
    [pre] = _wms(stack, "SELECT * FROM wms_pre_receipt WHERE po_no = %s", po_no)
    lines = _wms(stack, "SELECT line_no, item_code, quantity FROM wms_pre_receipt_line WHERE "
                 "pre_receipt_id = %s ORDER BY line_no", pre["id"])
    assert [(r["item_code"], r["quantity"]) for r in lines] == [
        ("M-1002", Decimal("100.000")), ("M-1003", Decimal("50.000"))]
    assert pre["supplier_no"] == "S0001" and pre["expected_date"] is not None
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已下达供应商", FLOW_DEADLINE)
    before = {r["code"]: r["on_hand"] for r in _erp(
        stack, "SELECT m.code, s.on_hand FROM stock s JOIN material m ON m.id = s.material_id "
        "WHERE s.warehouse = 'WH01'")}

    first = _receive(stack, po_no, (1, "M-1002", "60", "60", "0"), (2, "M-1003", "50", "45", "5"))
    assert eventually(lambda: _stock_ins(stack, first), FLOW_DEADLINE)
    assert [(r["code"], r["quantity"]) for r in _stock_ins(stack, first)] == [
        ("M-1002", Decimal("60.000")), ("M-1003", Decimal("45.000"))]
    assert eventually(lambda: _oa(stack, number).get("po_status") == "部分到货", FLOW_DEADLINE)
    assert _po_status(stack, po_no) == "partial"
    assert eventually(lambda: _erp(stack, "SELECT 1 FROM purchase_return WHERE receipt_no = %s",
                                   first), FLOW_DEADLINE)
    [returned] = _erp(stack, "SELECT m.code, l.quantity, l.reason FROM purchase_return r JOIN "
                      "purchase_return_line l ON l.return_id = r.id JOIN material m ON m.id = "
                      "l.material_id WHERE r.receipt_no = %s", first)
    assert (returned["code"], returned["quantity"], returned["reason"]) == (
        "M-1003", Decimal("5.000"), "外观破损")
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'flow_task' AND entity = "
                  "'receipt' AND business_key = %s", (first,))
    assert task["detail"]["team"] == "purchasing" and first in task["summary"]
    assert po_no in task["summary"] and task["detail"]["rows"][0]["rejected_qty"] == "5.000"
    doc_no = _stock_ins(stack, first)[0]["doc_no"]
    assert eventually(lambda: _wms(stack, "SELECT 1 FROM wms_receipt WHERE receipt_no = %s AND "
                                   "erp_doc_no = %s", first, doc_no), FLOW_DEADLINE)

    second = _receive(stack, po_no, (1, "M-1002", "45", "45", "0"), (2, "M-1003", "5", "5", "0"))
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已完成", FLOW_DEADLINE)
    assert _po_status(stack, po_no) == "done"
    received = _erp(stack, "SELECT l.line_no, l.received_qty FROM purchase_order_line l JOIN "
                    "purchase_order p ON p.id = l.po_id WHERE p.po_no = %s ORDER BY l.line_no",
                    po_no)
    assert [r["received_qty"] for r in received] == [Decimal("105.000"), Decimal("50.000")]
    after = {r["code"]: r["on_hand"] for r in _erp(
        stack, "SELECT m.code, s.on_hand FROM stock s JOIN material m ON m.id = s.material_id "
        "WHERE s.warehouse = 'WH01'")}
    assert after["M-1002"] - before.get("M-1002", 0) == Decimal("105.000")
    assert after["M-1003"] - before.get("M-1003", 0) == Decimal("50.000")
    # the second receipt rejected nothing: no return, no task for it
    assert _erp(stack, "SELECT 1 FROM purchase_return WHERE receipt_no = %s", second) == []
    _trace_reaches_the_request(stack, second, number, po_no)


def _trace_reaches_the_request(stack: DemoStack, receipt_no: str, number: str,
                               po_no: str) -> None:
    headers = {"Authorization": f"Bearer {stack.token()}"}
    answer = httpx.get(f"{stack.api_url}/api/v1/trace/receipt/{receipt_no}", headers=headers,
                       timeout=30)
    assert answer.status_code == 200, answer.text
    root = answer.json()["root"]
    assert (root["entity"], root["business_key"]) == ("purchase_request", number)
    [order] = root["documents"]
    assert order["business_key"] == po_no
    below = {(d["entity"], d["business_key"]) for d in order["documents"]}
    assert ("receipt", receipt_no) in below
    assert any(entity == "pre_receipt" for entity, _ in below)
    [receipt] = [d for d in order["documents"] if d["business_key"] == receipt_no]
    assert [d["entity"] for d in receipt["documents"]] == ["stock_in"]
    [stock_in] = [c for c in receipt["commands"] if c["hop"] == "purchase_receipt.stock_in"]
    assert stock_in["actor"] == "仓管员 刘强" and stock_in["status"] == "acked"


def test_an_over_receipt_beyond_tolerance_is_a_task_with_the_erps_message(stack: DemoStack):
    _, po_no = _released_po(stack)
    receipt_no = _receive(stack, po_no, (1, "M-1002", "120", "120", "0"))
    commands = lambda: rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = "  # noqa: E731
                            "'purchase_receipt.stock_in' AND business_key = %s", (receipt_no,))
    assert eventually(lambda: [c["status"] for c in commands()] == ["dead"], FLOW_DEADLINE)
    [command] = commands()
    assert "超收" in command["last_error"] and "10%" in command["last_error"]
    assert rows(stack.hub_url, "SELECT 1 FROM task WHERE type = 'dead_delivery' AND status = "
                "'open' AND golden_id = %s", (command["golden_id"],))
    assert _stock_ins(stack, receipt_no) == [] and _po_status(stack, po_no) == "released"


def test_a_receipt_for_a_po_the_hub_has_not_seen_is_held_then_released(stack: DemoStack):
    po_no = "4599000001"
    receipt_no = _receive(stack, po_no, (1, "M-1004", "8", "8", "0"))
    commands = lambda: rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = "  # noqa: E731
                            "'purchase_receipt.stock_in' AND business_key = %s", (receipt_no,))
    assert eventually(lambda: [c["status"] for c in commands()] == ["held"], FLOW_DEADLINE)
    assert f"purchase_order {po_no}" in commands()[0]["last_error"]
    assert _stock_ins(stack, receipt_no) == []
    execute(stack.erp_url,
            "INSERT INTO purchase_order (po_no, supplier_id, status) SELECT "
            f"'{po_no}', id, 'released' FROM supplier WHERE code = 'S0001'",
            "INSERT INTO purchase_order_line (po_id, line_no, material_id, quantity, unit_price, "
            f"amount) SELECT p.id, 1, m.id, 8, 2.5, 20 FROM purchase_order p, material m WHERE "
            f"p.po_no = '{po_no}' AND m.code = 'M-1004'")
    assert eventually(lambda: _stock_ins(stack, receipt_no), FLOW_DEADLINE), commands()
    assert [c["status"] for c in commands()] == ["acked"]
    assert eventually(lambda: _po_status(stack, po_no) == "done", FLOW_DEADLINE)
    [link] = rows(stack.hub_url, "SELECT l.hop FROM document_link l JOIN golden_record o ON "
                  "o.id = l.origin_id JOIN golden_record r ON r.id = l.linked_id WHERE "
                  "o.business_key = %s AND r.business_key = %s", (po_no, receipt_no))
    assert link["hop"] == "stock_in"


def test_the_demos_chain_runs_through_both_flows(stack: DemoStack):
    """What `mdm demo` prints under "Business flows": each step reached within its timeout."""
    from mdm.demo.flow_journeys import chain_line, purchase_approval, purchase_receipt

    oa_db, wms_db = stack.pg.url("oa"), stack.pg.url("wms")
    chain = purchase_approval(stack.oa_url, stack.erp_url, stack.erp_api_url, oa_db)
    chain = purchase_receipt(chain, stack.wms_url, stack.erp_url, wms_db, oa_db)
    assert chain.complete, chain_line(chain)
    assert [s.what.split(" ")[0] for s in chain.steps] == [
        "ERP", "OA", "ERP", "WMS", "WMS", "ERP", "OA"]
    assert chain.steps[-1].what == "OA shows 部分到货"  # line 2: 33.5 of 35.5 accepted
    assert chain.numbers["po"] in chain_line(chain) and chain.numbers["request"] in chain_line(chain)


def test_status_and_metrics_count_the_flow_commands(stack: DemoStack):
    from mdm.store.database import create_hub_engine
    from mdm.store.status import read_status

    engine = create_hub_engine(stack.hub_url)
    with engine.connect() as conn:
        flows = read_status(conn).flows
    engine.dispose()
    stored = rows(stack.hub_url, "SELECT hop, status, count(*) AS n FROM delivery WHERE hop IS "
                  "NOT NULL GROUP BY hop, status")
    assert flows == {h: {r["status"]: r["n"] for r in stored if r["hop"] == h}
                     for h in {r["hop"] for r in stored}}
    assert flows["purchase_receipt.stock_in"].get("acked", 0) >= 1  # the module's receipts
    metrics = httpx.get(f"{stack.api_url}/metrics", headers={
        "Authorization": f"Bearer {stack.token()}"}, timeout=30).text
    assert 'mdm_flow_commands{hop="purchase_receipt.stock_in",status="acked"}' in metrics
