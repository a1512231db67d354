"""The purchase order's three-way match across systems (reconciliations/purchase_order.yaml) on
the real stack: a PO fully received, stocked, payable and paid agrees; one partly received is in
progress and opens no task; a stock-in quantity edited in the ERP's database so that it differs
from the WMS receipt opens exactly one reconciliation task naming the PO, the line and the
disagreeing figures, and editing it back closes that task; the CLI (table, --json,
--mismatches) answers the API's figures. Real PostgreSQL, Debezium on the three databases, the
demo's APIs."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mdm.cli.main import _register, app
from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows
from tests.integration.test_flow_purchase_approval import FLOW_DEADLINE
from tests.integration.test_flow_purchase_receipt import _erp, _released_po, _receive

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py
_register()


def _reconciled(stack: DemoStack, po_no: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.api_url}/api/v1/reconcile/purchase_order/{po_no}", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _figures(found: dict[str, Any], name: str) -> list[Decimal]:
    return [Decimal(line[name]) for line in found["lines"]]


def _tasks(stack: DemoStack, po_no: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM task WHERE type = 'reconciliation' AND entity = "
                "'purchase_order' AND business_key = %s ORDER BY id", (po_no,))


def _cli(stack: DemoStack, *args: str) -> str:
    result = CliRunner().invoke(app, ["reconcile", "purchase_order", *args], env={
        "MDM_API_URL": stack.api_url, "MDM_TOKEN": stack.token(), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _pay(stack: DemoStack, po_no: str) -> None:
    """Approve the OA payment request of the PO's payable (the ERP then pays it)."""
    requests = lambda: rows(stack.pg.url("oa"), "SELECT * FROM oa_payment_request WHERE "  # noqa: E731
                            "po_no = %s", (po_no,))
    assert eventually(requests, FLOW_DEADLINE)
    [request] = requests()
    approved = httpx.post(f"{stack.oa_url}/api/payment-requests/{request['request_no']}/approve",
                          json={"approver": "财务总监 陈静", "comment": "三单一致，同意付款"}, timeout=30)
    assert approved.status_code == 200, approved.text


def test_a_po_received_stocked_payable_and_paid_in_full_agrees_and_cli_answers_the_same(
        stack: DemoStack):
    _, po_no = _released_po(stack)  # M-1002 100 × 3.2000, M-1003 50 × 12.5000
    receipt_no = _receive(stack, po_no, (1, "M-1002", "100", "100", "0"),
                          (2, "M-1003", "52", "50", "2"))
    _pay(stack, po_no)
    assert eventually(lambda: _reconciled(stack, po_no)["verdict"] == "agrees", FLOW_DEADLINE), \
        _reconciled(stack, po_no)
    found = _reconciled(stack, po_no)
    assert _figures(found, "ordered") == [Decimal(100), Decimal(50)]
    assert _figures(found, "received") == _figures(found, "stocked") == [Decimal(100), Decimal(50)]
    assert _figures(found, "rejected") == [Decimal(0), Decimal(2)]
    assert _figures(found, "payable") == [Decimal("320.00"), Decimal("625.00")]
    assert Decimal(found["payable"]) == Decimal(found["paid"]) == Decimal("945.00")
    assert found["documents"]["received"] == [receipt_no] and found["settled"]
    assert _tasks(stack, po_no) == []

    assert json.loads(_cli(stack, po_no, "--json")) == found
    table = _cli(stack, po_no)
    assert po_no in table and "agrees" in table
    for figure in ("100.000", "50.000", "945.00", "625.00"):
        assert figure in table, (figure, table)


def test_a_po_partly_received_is_in_progress_and_opens_no_task(stack: DemoStack):
    _, po_no = _released_po(stack)
    _receive(stack, po_no, (1, "M-1002", "60", "60", "0"))
    assert eventually(lambda: (r := _reconciled(stack, po_no))["settled"]
                      and Decimal(r["payable"]) == Decimal("192.00"), FLOW_DEADLINE), \
        _reconciled(stack, po_no)
    found = _reconciled(stack, po_no)
    assert found["verdict"] == "in_progress"
    assert [line["verdict"] for line in found["lines"]] == ["in_progress", "in_progress"]
    assert _figures(found, "stocked") == [Decimal(60), Decimal(0)]
    assert _tasks(stack, po_no) == []


def test_a_stock_in_edited_in_the_erp_opens_one_task_naming_the_figures_and_fixing_closes_it(
        stack: DemoStack):
    _, po_no = _released_po(stack)
    receipt_no = _receive(stack, po_no, (1, "M-1002", "100", "100", "0"),
                          (2, "M-1003", "50", "50", "0"))
    assert eventually(lambda: _figures(_reconciled(stack, po_no), "stocked") == [
        Decimal(100), Decimal(50)], FLOW_DEADLINE), _reconciled(stack, po_no)
    line = ("UPDATE stock_in_line SET quantity = {} WHERE line_no = 2 AND stock_in_id = "
            f"(SELECT id FROM stock_in WHERE receipt_no = '{receipt_no}')")
    execute(stack.erp_url, line.format(45))  # someone keys the ERP's stock-in by hand

    open_tasks = lambda: [t for t in _tasks(stack, po_no) if t["status"] == "open"]  # noqa: E731
    assert eventually(open_tasks, FLOW_DEADLINE), _reconciled(stack, po_no)
    [task] = _tasks(stack, po_no)
    assert po_no in task["summary"] and "第 2 行" in task["summary"]
    assert "stocked 45.000 < received 50.000" in task["summary"], task["summary"]
    assert "line 2: stocked 45.000 < received 50.000" in task["detail"]["mismatches"]
    found = _reconciled(stack, po_no)
    assert found["verdict"] == "mismatch" and found["lines"][1]["verdict"] == "mismatch"
    assert found["lines"][0]["verdict"] == "agrees"
    # payable 945.00 no longer equals stocked × price (100 × 3.2 + 45 × 12.5 = 882.50)
    assert "order: payable 945.00 > stocked × price 882.50" in task["detail"]["mismatches"]

    listed = httpx.get(f"{stack.api_url}/api/v1/reconcile/purchase_order", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"}).json()
    assert po_no in [o["business_key"] for o in listed["mismatches"]]
    assert po_no in _cli(stack, "--mismatches")
    assert json.loads(_cli(stack, po_no, "--json"))["lines"] == found["lines"]

    execute(stack.erp_url, line.format(50))  # corrected
    assert eventually(lambda: _tasks(stack, po_no)[0]["status"] == "resolved", FLOW_DEADLINE), \
        _reconciled(stack, po_no)
    assert len(_tasks(stack, po_no)) == 1  # one task per PO, not one per version
    [decision] = rows(stack.hub_url, "SELECT * FROM decision WHERE task_id = %s", (task["id"],))
    assert (decision["actor"], decision["action"]) == ("system", "reconciled")
    assert _reconciled(stack, po_no)["verdict"] == "in_progress"  # awaiting payment
