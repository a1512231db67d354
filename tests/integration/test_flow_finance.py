"""Flows 5 and 6 on the real stack. Expense claim (OA → ERP → OA): an approved OA claim is
written by the hub into the ERP's voucher interface tables (数据库直连, each expense type's
account by the flow's value map, credit 2211, exact amounts); the ERP's posting job makes the
voucher, whose number comes back as 已记账, and its payment as 已付款 with amount, time and bank
reference; an expense type the map lacks is refused with a task naming it; a row the ERP's
posting job refuses is a task for finance. Purchase → payment as one chain: request →
approval → PO → release → receipt → stock-in → the ERP's payable → an OA payment request → its
approval → the ERP's payment → 已付款 on the OA request, and the trace from the purchase request
(its API and `mdm trace`) reaches the payment with its approver. Real PostgreSQL, real Debezium
on the three databases, the demo's APIs."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from typer.testing import CliRunner

from mdm.cli.main import _register, app
from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows
from tests.integration.test_flow_purchase_approval import FLOW_DEADLINE
from tests.integration.test_flow_purchase_receipt import _erp, _released_po, _receive

_register()


def _claim(stack: DemoStack, *lines: tuple[str, str, str]) -> str:
    """A claim made, submitted and approved in OA: (expense type, amount, invoice no) lines."""
    body = {"title": "深圳供应商现场审核差旅", "claimant": "E0003", "dept_code": "D01",
            "lines": [{"expense_type": t, "amount": a, "invoice_no": n, "description": f"{t}发票"}
                      for t, a, n in lines]}
    made = httpx.post(f"{stack.oa_url}/api/expense-claims", json=body, timeout=30)
    assert made.status_code == 201, made.text
    number = str(made.json()["claim_no"])
    base = f"{stack.oa_url}/api/expense-claims/{number}"
    assert httpx.post(f"{base}/submit", timeout=30).status_code == 200
    done = httpx.post(f"{base}/approve", json={"approver": "李总监", "comment": "同意报销"},
                      timeout=30)
    assert done.status_code == 200, done.text
    return number


def _oa_claim(stack: DemoStack, number: str) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.oa_url}/api/expense-claims/{number}", timeout=30).json())


def _interface(stack: DemoStack, number: str) -> list[dict[str, Any]]:
    return _erp(stack, "SELECT h.claim_no, h.credit_account, h.amount AS total, h.mdm_key, "
                "l.line_no, l.debit_account, l.amount, l.invoice_no FROM gl_voucher_interface h "
                "JOIN gl_voucher_interface_line l ON l.interface_id = h.id WHERE h.claim_no = %s "
                "ORDER BY l.line_no", number)


def test_an_approved_claim_becomes_a_posted_voucher_then_paid_and_oa_shows_both(
        stack: DemoStack):
    number = _claim(stack, ("差旅费", "1280.50", "04403311"), ("业务招待费", "356.00", "04403312"))
    assert eventually(lambda: _interface(stack, number), FLOW_DEADLINE)
    lines = _interface(stack, number)
    assert [(r["debit_account"], r["amount"], r["invoice_no"]) for r in lines] == [
        ("6602.01", Decimal("1280.50"), "04403311"), ("6602.03", Decimal("356.00"), "04403312")]
    assert {(r["credit_account"], r["total"]) for r in lines} == {("2211", Decimal("1636.50"))}
    assert lines[0]["mdm_key"].startswith("mdm-expense_claim.voucher-")
    assert _oa_claim(stack, number)["erp_status"] == "已审批"

    job = httpx.post(f"{stack.erp_api_url}/api/vouchers/post-interface", timeout=30).json()
    [voucher_no] = [p["voucher_no"] for p in job["posted"] if p["claim_no"] == number]
    assert re.fullmatch(r"记-\d{4}-\d{2}-\d{4}", voucher_no)
    assert eventually(lambda: _oa_claim(stack, number).get("erp_status") == "已记账",
                      FLOW_DEADLINE)
    assert _oa_claim(stack, number)["voucher_no"] == voucher_no
    booked = _erp(stack, "SELECT l.account_code, l.debit, l.credit FROM gl_voucher v JOIN "
                  "gl_voucher_line l ON l.voucher_id = v.id WHERE v.voucher_no = %s ORDER BY "
                  "l.line_no", voucher_no)
    assert [(r["account_code"], r["debit"], r["credit"]) for r in booked] == [
        ("6602.01", Decimal("1280.50"), 0), ("6602.03", Decimal("356.00"), 0),
        ("2211", 0, Decimal("1636.50"))]

    paid = httpx.post(f"{stack.erp_api_url}/api/vouchers/{voucher_no}/pay", timeout=30)
    assert paid.status_code == 200, paid.text
    assert eventually(lambda: _oa_claim(stack, number).get("erp_status") == "已付款",
                      FLOW_DEADLINE)
    claim = _oa_claim(stack, number)
    assert Decimal(claim["paid_amount"]) == Decimal("1636.50")
    assert claim["bank_ref"] == paid.json()["bank_ref"] and claim["paid_at"]
    chain = _trace(stack, "expense_claim", number)
    assert [(d["entity"], d["business_key"]) for d in chain["documents"]] == [
        ("voucher", voucher_no)]
    [command] = [c for c in chain["commands"] if c["hop"] == "expense_claim.voucher"]
    assert (command["actor"], command["status"], command["target"]) == ("李总监", "acked", "erp_db")


def test_an_expense_type_the_map_lacks_is_refused_with_a_task_naming_it(stack: DemoStack):
    number = _claim(stack, ("差旅费", "500.00", "04403401"), ("培训费", "1200.00", "04403402"))
    commands = lambda: rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = "  # noqa: E731
                            "'expense_claim.voucher' AND business_key = %s", (number,))
    assert eventually(lambda: [c["status"] for c in commands()] == ["dead"], FLOW_DEADLINE)
    [command] = commands()
    assert "培训费" in command["last_error"] and "expense_type" in command["last_error"]
    tasks = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'dead_delivery' AND "
                 "golden_id = %s", (command["golden_id"],))
    assert tasks and "培训费" in str(tasks[0]["detail"]) + tasks[0]["summary"]
    assert _erp(stack, "SELECT 1 FROM gl_voucher_interface WHERE claim_no = %s", number) == []


def test_an_interface_row_the_erps_posting_job_refuses_is_a_task_for_finance(stack: DemoStack):
    execute(stack.erp_url, "DELETE FROM account WHERE code = '6602.04'")  # 通讯费 left the chart
    number = _claim(stack, ("通讯费", "199.00", "04403501"))
    assert eventually(lambda: _interface(stack, number), FLOW_DEADLINE)
    job = httpx.post(f"{stack.erp_api_url}/api/vouchers/post-interface", timeout=30).json()
    assert {"claim_no": number, "error": "会计科目 6602.04 不存在"} in job["errors"]
    tasks = lambda: [t for t in rows(  # noqa: E731
        stack.hub_url, "SELECT * FROM task WHERE type = 'flow_task' AND entity = "
        "'voucher_interface'") if number in t["summary"]]
    assert eventually(tasks, FLOW_DEADLINE)
    [task] = tasks()
    assert task["detail"]["team"] == "finance" and "6602.04" in task["summary"]
    assert _erp(stack, "SELECT 1 FROM gl_voucher WHERE claim_no = %s", number) == []
    assert _oa_claim(stack, number)["erp_status"] == "已审批"


def _trace(stack: DemoStack, entity: str, key: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.api_url}/api/v1/trace/{entity}/{key}", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["root"])


def _walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node["documents"]:
        yield from _walk(child, depth + 1)


def _oa_payment_request(stack: DemoStack, payable_no: str) -> list[dict[str, Any]]:
    return rows(stack.pg.url("oa"), "SELECT * FROM oa_payment_request WHERE payable_no = %s",
                (payable_no,))


def test_purchase_to_payment_is_one_chain_the_trace_follows_to_the_payment(stack: DemoStack):
    number, po_no = _released_po(stack)
    receipt_no = _receive(stack, po_no, (1, "M-1002", "100", "100", "0"),
                          (2, "M-1003", "50", "48", "2"))
    payables = lambda: _erp(stack, "SELECT p.*, s.code, s.payment_terms_days FROM payable "  # noqa: E731
                            "p JOIN supplier s ON s.id = p.supplier_id WHERE p.po_no = %s", po_no)
    assert eventually(payables, FLOW_DEADLINE)
    [payable] = payables()
    # accepted × the PO's prices: 100 × 3.2000 + 48 × 12.5000
    assert payable["amount"] == Decimal("920.00") and payable["status"] == "open"
    terms = payable["payment_terms_days"] or 30
    assert payable["due_date"] == date.today() + timedelta(days=terms)
    assert eventually(lambda: _oa_payment_request(stack, payable["payable_no"]), FLOW_DEADLINE)
    [request] = _oa_payment_request(stack, payable["payable_no"])
    assert (request["status"], request["amount"], request["supplier_code"], request["po_no"]) == (
        "submitted", Decimal("920.00"), payable["code"], po_no)
    approved = httpx.post(f"{stack.oa_url}/api/payment-requests/{request['request_no']}/approve",
                          json={"approver": "财务总监 陈静", "comment": "按合同付款"}, timeout=30)
    assert approved.status_code == 200, approved.text

    assert eventually(lambda: _oa_payment_request(stack, payable["payable_no"])[0]["pay_status"]
                      == "已付款", FLOW_DEADLINE)
    [payment] = _erp(stack, "SELECT * FROM erp_payment WHERE request_no = %s",
                     request["request_no"])
    [shown] = _oa_payment_request(stack, payable["payable_no"])
    assert (shown["payment_no"], shown["bank_ref"]) == (payment["payment_no"], payment["bank_ref"])
    assert payment["amount"] == Decimal("920.00") and payment["approved_by"] == "财务总监 陈静"
    assert _erp(stack, "SELECT status FROM payable WHERE id = %s", payable["id"]) == [
        {"status": "paid"}]

    chain = _trace(stack, "purchase_request", number)
    found = {(n["entity"], n["business_key"]): (depth, n) for depth, n in _walk(chain)}
    stock_in_no = payable["stock_in_no"]
    path = [("purchase_request", number), ("purchase_order", po_no), ("receipt", receipt_no),
            ("stock_in", stock_in_no), ("payable", payable["payable_no"]),
            ("payment_request", request["request_no"]), ("payment", payment["payment_no"])]
    assert [found[d][0] for d in path if d in found] == list(range(len(path))), sorted(found)
    [pay] = [c for c in found[path[5]][1]["commands"] if c["hop"] == "purchase_payment.payment"]
    assert (pay["actor"], pay["status"], pay["target_id"]) == (
        "财务总监 陈静", "acked", payment["payment_no"])
    result = CliRunner().invoke(app, ["trace", "purchase_request", number], env={
        "MDM_API_URL": stack.api_url, "MDM_TOKEN": stack.token()})
    assert result.exit_code == 0, result.output
    for _, key in path:
        assert key in result.output, (key, result.output)
    # the tree wraps at the terminal's width, between words: the approver's two words
    assert "财务总监" in result.output and "陈静" in result.output


def test_the_demos_journeys_run_flows_5_and_6_to_their_end(stack: DemoStack):
    from mdm.demo.finance_journeys import expense_claim, purchase_payment
    from mdm.demo.flow_journeys import chain_line, purchase_approval, purchase_receipt

    oa_db = stack.pg.url("oa")
    chain = purchase_approval(stack.oa_url, stack.erp_url, stack.erp_api_url, oa_db)
    chain = purchase_payment(purchase_receipt(chain, stack.wms_url, stack.erp_url,
                                              stack.pg.url("wms"), oa_db),
                             stack.oa_url, stack.erp_url, oa_db)
    assert chain.complete, chain_line(chain)
    assert chain.steps[-1].what.startswith("OA shows 已付款 (CMB")
    assert chain.numbers["payment_request"] in chain_line(chain)
    claim = expense_claim(stack.oa_url, stack.erp_url, stack.erp_api_url, oa_db)
    assert claim.complete, chain_line(claim)
    assert [s.what.split(" ")[0] for s in claim.steps] == ["ERP", "ERP", "ERP"]
    assert claim.steps[-1].what.startswith("ERP paid → OA shows 已付款 (CMB")
