"""Flow 1, purchase approval (OA → ERP → OA), on the real stack: a purchase request filled in
the demo OA goes through OA's approval; the hub captures OA's database, the approval fires
the hop of flows/purchase_approval.yaml, the ERP gets a purchase order through its API
(header and lines, exact decimals), the ERP's PO number comes back onto the OA request, and
later ERP PO states show there. A rejected request makes no PO; a second approval event makes
no second PO; an ERP refusal is a task with the ERP's message and the retry after the fix
creates the PO. Real PostgreSQL, real Debezium on all three databases, the demo's REST APIs.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mdm.cli.main import _register, app
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from tests.helpers import eventually, execute, rows

_register()
FLOW_DEADLINE = 120.0  # capture of OA, processing, the ERP's API, capture of the ERP, OA again


def _request(stack: DemoStack, vendor: str = "S0001",
             lines: tuple[tuple[str, str, str], ...] = (("M-1002", "12.5", "3.2000"),)) -> str:
    body = {"title": "车间劳保用品", "requester": "E0003", "dept_code": "D01", "vendor_code": vendor,
            "lines": [{"material_code": m, "quantity": q, "unit_price": p,
                       "needed_by": "2026-12-20"} for m, q, p in lines]}
    answer = httpx.post(f"{stack.oa_url}/api/purchase-requests", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    number = answer.json()["request_no"]
    _act(stack, number, "submit")
    return str(number)


def _act(stack: DemoStack, number: str, action: str, **body: str) -> None:
    answer = httpx.post(f"{stack.oa_url}/api/purchase-requests/{number}/{action}", json=body,
                        timeout=30)
    assert answer.status_code == 200, answer.text


def _oa(stack: DemoStack, number: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.oa_url}/api/purchase-requests/{number}", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _orders(stack: DemoStack, number: str) -> list[dict[str, Any]]:
    return rows(stack.erp_url, "SELECT * FROM purchase_order WHERE request_no = %s ORDER BY id",
                (number,))


def _commands(stack: DemoStack, number: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = 'purchase_approval.create_po' "
                "AND business_key = %s ORDER BY id", (number,))


def _wait_po_number_on_oa(stack: DemoStack, number: str) -> str:
    assert eventually(lambda: _oa(stack, number).get("po_no"), FLOW_DEADLINE), (
        _oa(stack, number), _commands(stack, number))
    return str(_oa(stack, number)["po_no"])


def test_an_approved_request_becomes_one_erp_po_whose_number_and_states_reach_oa(
        stack: DemoStack):
    number = _request(stack, lines=(("M-1002", "12.5", "3.2000"), ("M-1003", "7.125", "10.0001")))
    _act(stack, number, "approve", approver="王经理", comment="同意")
    po_no = _wait_po_number_on_oa(stack, number)
    [order] = _orders(stack, number)
    assert order["po_no"] == po_no and po_no.startswith("45")
    assert order["approved_by"] == "王经理" and order["status"] == "created"
    supplier = rows(stack.erp_url, "SELECT id FROM supplier WHERE code = 'S0001'")[0]["id"]
    assert order["supplier_id"] == supplier
    lines = rows(stack.erp_url, "SELECT l.line_no, m.code, l.quantity, l.unit_price, l.amount "
                 "FROM purchase_order_line l JOIN material m ON m.id = l.material_id "
                 "WHERE l.po_id = %s ORDER BY l.line_no", (order["id"],))
    assert [(r["code"], r["quantity"], r["unit_price"], r["amount"]) for r in lines] == [
        ("M-1002", Decimal("12.500"), Decimal("3.2000"), Decimal("40.00")),
        ("M-1003", Decimal("7.125"), Decimal("10.0001"), Decimal("71.25"))]
    assert order["total_amount"] == Decimal("111.25")
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已创建", FLOW_DEADLINE)

    execute(stack.erp_url, f"UPDATE purchase_order SET status = 'released' WHERE id = {order['id']}")
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已下达供应商", FLOW_DEADLINE)
    [command] = _commands(stack, number)
    assert command["status"] == "acked" and command["operation"] == "create"
    assert command["target"] == "erp" and command["target_id"] == po_no
    assert command["payload"]["lines"][1] == {"material_code": "M-1003", "quantity": "7.125",
                                             "unit_price": "10.0001", "needed_by": "2026-12-20"}
    assert order["mdm_key"] == command["idempotency_key"]
    [link] = rows(stack.hub_url, "SELECT l.*, o.business_key AS origin, p.business_key AS linked "
                  "FROM document_link l JOIN golden_record o ON o.id = l.origin_id "
                  "JOIN golden_record p ON p.id = l.linked_id WHERE o.business_key = %s",
                  (number,))
    assert (link["flow"], link["hop"], link["linked"], link["command_id"]) == (
        "purchase_approval", "create_po", po_no, command["id"])
    _trace_shows_the_chain(stack, number, po_no)


def _trace_shows_the_chain(stack: DemoStack, number: str, po_no: str) -> None:
    """From the PO (the chain's second document) the trace starts at the OA request: the
    approval that fired the hop, by whom, the create acked with the PO's number, the PO and
    the updates that took its number and states back to OA."""
    headers = {"Authorization": f"Bearer {stack.token()}"}
    answer = httpx.get(f"{stack.api_url}/api/v1/trace/purchase_order/{po_no}", headers=headers,
                       timeout=30)
    assert answer.status_code == 200, answer.text
    root = answer.json()["root"]
    assert (root["system"], root["entity"], root["business_key"]) == ("oa", "purchase_request",
                                                                      number)
    assert root["state"] == "approved"
    [create] = root["commands"]
    assert (create["operation"], create["target"], create["status"], create["target_id"],
            create["actor"], create["transition"]) == (
        "create", "erp", "acked", po_no, "王经理", "status: submitted → approved")
    assert create["ms_to_ack"] is not None and create["ms_to_ack"] >= 0
    [order] = root["documents"]
    assert (order["system"], order["entity"], order["business_key"]) == ("erp", "purchase_order",
                                                                         po_no)
    assert order["state"] == "released"
    backs = [(c["operation"], c["target"], c["payload"]["po_status"]) for c in order["commands"]
             if c["status"] == "acked" and c["hop"] == "purchase_approval.create_po.back"]
    assert ("update", "oa", "已下达供应商") in backs and backs[0] == ("update", "oa", "已创建")
    result = CliRunner().invoke(app, ["trace", "purchase_order", po_no], env={
        "MDM_API_URL": stack.api_url, "MDM_TOKEN": stack.token()})
    assert result.exit_code == 0, result.output
    assert number in result.output and po_no in result.output and "王经理" in result.output


def test_a_rejected_request_makes_no_po(stack: DemoStack):
    rejected = _request(stack)
    _act(stack, rejected, "reject", approver="王经理", comment="预算不足")
    approved = _request(stack)  # after the rejection in OA's log: its PO proves both were read
    _act(stack, approved, "approve", approver="王经理")
    _wait_po_number_on_oa(stack, approved)
    assert _orders(stack, rejected) == [] and _commands(stack, rejected) == []
    assert _oa(stack, rejected)["status"] == "rejected" and not _oa(stack, rejected).get("po_no")


def test_a_second_approval_event_makes_no_second_po(stack: DemoStack):
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    po_no = _wait_po_number_on_oa(stack, number)
    # OA sends the approval again (a workflow engine's retry): submitted → approved once more
    oa_db = stack.pg.url("oa")
    execute(oa_db, f"UPDATE oa_purchase_request SET status = 'submitted' WHERE request_no = '{number}'",
            f"UPDATE oa_purchase_request SET status = 'approved' WHERE request_no = '{number}'")
    wait_observed(oa_db, stack.hub_url, "oa")
    wait_idle(stack.erp_url, stack.hub_url)
    versions = rows(stack.hub_url, "SELECT v.attributes->>'status' AS status FROM golden_version v "
                    "JOIN golden_record g ON g.id = v.golden_id WHERE g.entity = 'purchase_request' "
                    "AND g.business_key = %s ORDER BY v.version", (number,))
    assert [v["status"] for v in versions].count("approved") >= 2  # the hop saw both approvals
    assert [o["po_no"] for o in _orders(stack, number)] == [po_no]
    assert len(_commands(stack, number)) == 1


@pytest.mark.parametrize("cause, fix, message", [
    (f"INSERT INTO accounting_period VALUES ('{date.today():%Y-%m}', true) "
     "ON CONFLICT (period) DO UPDATE SET closed = true",
     f"UPDATE accounting_period SET closed = false WHERE period = '{date.today():%Y-%m}'",
     "已关账"),
    ("UPDATE supplier SET active = false WHERE code = 'S0002'",
     "UPDATE supplier SET active = true WHERE code = 'S0002'",
     "供应商 S0002 不存在或已停用"),
])
def test_an_erp_refusal_is_a_task_with_its_message_and_the_retry_after_the_fix_makes_the_po(
        stack: DemoStack, cause: str, fix: str, message: str):
    execute(stack.erp_url, cause)
    try:
        number = _request(stack, vendor="S0002")
        _act(stack, number, "approve", approver="王经理")
        assert eventually(lambda: [c["status"] for c in _commands(stack, number)] == ["dead"],
                          FLOW_DEADLINE), _commands(stack, number)
        [command] = _commands(stack, number)
        assert message in command["last_error"] and command["response_status"] == 422
        [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'dead_delivery' "
                      "AND golden_id = %s AND status = 'open'", (command["golden_id"],))
        assert message in str(task["detail"]) or message in str(task["summary"]), task
        assert _orders(stack, number) == []
    finally:
        execute(stack.erp_url, fix)
    answer = httpx.post(f"{stack.api_url}/api/v1/deliveries/{command['id']}/retry",
                        headers={"Authorization": f"Bearer {stack.token()}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    po_no = _wait_po_number_on_oa(stack, number)
    assert [o["po_no"] for o in _orders(stack, number)] == [po_no]
    assert [c["id"] for c in _commands(stack, number)] == [command["id"]]  # itself, retried


def test_a_redelivered_approval_event_makes_nothing_new(stack: DemoStack):
    """The approval's change event processed again (a batch redone after a crash, capture
    re-reading from its last committed offset): no new version, no second command."""
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    po_no = _wait_po_number_on_oa(stack, number)
    wait_idle(stack.erp_url, stack.hub_url)
    [event] = rows(stack.hub_url, "SELECT id FROM inbox WHERE source = 'oa' AND table_name = "
                   "'public.oa_purchase_request' AND after->>'request_no' = %s AND "
                   "after->>'status' = 'approved' ORDER BY id LIMIT 1", (number,))
    versions = lambda: rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version v JOIN "  # noqa: E731
                            "golden_record g ON g.id = v.golden_id WHERE g.entity = "
                            "'purchase_request' AND g.business_key = %s", (number,))[0]["n"]
    before = versions()
    execute(stack.hub_url, f"UPDATE inbox SET status = 'pending', processed_at = NULL "
                           f"WHERE id = {event['id']}")
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM inbox WHERE id = %s",
                                   (event["id"],))[0]["status"] != "pending", FLOW_DEADLINE)
    wait_idle(stack.erp_url, stack.hub_url)
    assert versions() == before
    assert len(_commands(stack, number)) == 1
    assert [o["po_no"] for o in _orders(stack, number)] == [po_no]
