"""The demo systems' finance documents (issue 13, flows 5 and 6) on real PostgreSQL and the real
targets process (no hub): OA's expense claims and payment requests (workflow, the hub's
write-back, idempotent push), the ERP's payable made inside a stock-in, its payments
(idempotent, exact, refusals storing nothing), and its posting job over the voucher interface
tables (balanced vouchers, rows it cannot post marked with the reason)."""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import execute, rows


def _claim(demo: DemoStack, *lines: tuple[str, str]) -> str:
    body = {"title": "上海客户拜访差旅", "claimant": "E0003", "dept_code": "D01", "lines": [
        {"expense_type": t, "amount": a, "invoice_no": f"0441{n:04d}"}
        for n, (t, a) in enumerate(lines, start=1)]}
    made = httpx.post(f"{demo.oa_url}/api/expense-claims", json=body, timeout=30)
    assert made.status_code == 201, made.text
    return str(made.json()["claim_no"])


def test_a_claim_is_a_draft_submitted_and_approved_with_its_exact_total(demo: DemoStack):
    number = _claim(demo, ("差旅费", "1280.50"), ("业务招待费", "356.00"))
    assert re.fullmatch(r"BX-\d{8}-\d{4}", number)
    base = f"{demo.oa_url}/api/expense-claims/{number}"
    early = httpx.post(f"{base}/approve", json={"approver": "李总监"}, timeout=30)
    assert early.status_code == 409 and "draft" in early.json()["detail"]
    assert httpx.post(f"{base}/submit", timeout=30).status_code == 200
    done = httpx.post(f"{base}/approve", json={"approver": "李总监", "comment": "同意"}, timeout=30)
    assert done.status_code == 200, done.text
    claim = done.json()
    assert (claim["status"], claim["approver"], claim["erp_status"]) == ("approved", "李总监", "已审批")
    assert Decimal(claim["total_amount"]) == Decimal("1636.50")
    assert [(ln["expense_type"], Decimal(ln["amount"])) for ln in claim["lines"]] == [
        ("差旅费", Decimal("1280.50")), ("业务招待费", Decimal("356.00"))]
    back = httpx.patch(base, json={"voucher_no": "记-2026-12-0001", "erp_status": "已记账"},
                       timeout=30)
    assert back.status_code == 200 and back.json()["voucher_no"] == "记-2026-12-0001"
    other = httpx.patch(base, json={"total_amount": "1"}, timeout=30)
    assert other.status_code == 422 and "total_amount" in other.json()["detail"]


def test_a_claim_without_lines_or_with_a_zero_amount_is_refused(demo: DemoStack):
    for lines in ([], [{"expense_type": "办公费", "amount": "0"}]):
        answer = httpx.post(f"{demo.oa_url}/api/expense-claims", json={
            "title": "办公用品", "claimant": "E0003", "lines": lines}, timeout=30)
        assert answer.status_code == 422, answer.text


def test_a_pushed_payment_request_arrives_submitted_once_per_key(demo: DemoStack):
    key = f"mdm-test-{uuid.uuid4()}"
    body = {"payable_no": "AP99990001", "po_no": "4500009999", "supplier_code": "S0001",
            "amount": "1234.56", "due_date": "2027-01-01"}
    url = f"{demo.oa_url}/api/payment-requests"
    first = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=30)
    again = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=30)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    number = first.json()["request_no"]
    assert re.fullmatch(r"PAY-\d{8}-\d{4}", number) and first.json()["status"] == "submitted"
    assert httpx.post(url, json=body, timeout=30).status_code == 400  # no key
    approved = httpx.post(f"{url}/{number}/approve", json={"approver": "财务总监 陈静"}, timeout=30)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert Decimal(approved.json()["amount"]) == Decimal("1234.56")


def _stock_in(demo: DemoStack) -> tuple[str, str]:
    """(PO number, stock-in number): a released order of 12.5 × 3.2 and 3 × 88.1234 received."""
    erp = demo.erp_api_url
    made = httpx.post(f"{erp}/api/purchase-orders", headers={"Idempotency-Key": str(uuid.uuid4())},
                      json={"supplier_code": "S0001", "lines": [
                          {"material_code": "M-1002", "quantity": "12.5", "unit_price": "3.2"},
                          {"material_code": "M-1003", "quantity": "3", "unit_price": "88.1234"}]},
                      timeout=30)
    assert made.status_code == 201, made.text
    po_no = made.json()["po_no"]
    assert httpx.post(f"{erp}/api/purchase-orders/{po_no}/release", timeout=30).status_code == 200
    stock_in = httpx.post(f"{erp}/api/stock-ins", headers={"Idempotency-Key": str(uuid.uuid4())},
                          json={"po_no": po_no, "receipt_no": "GR99990001", "warehouse": "WH01",
                                "lines": [{"po_line_no": 1, "material_code": "M-1002",
                                           "quantity": "12.5"},
                                          {"po_line_no": 2, "material_code": "M-1003",
                                           "quantity": "2"}]}, timeout=30)
    assert stock_in.status_code == 201, stock_in.text
    return po_no, stock_in.json()["doc_no"]


def test_a_stock_in_makes_its_payable_and_a_payment_pays_it_once(demo: DemoStack):
    po_no, doc_no = _stock_in(demo)
    [payable] = rows(demo.erp_url, "SELECT p.*, s.payment_terms_days FROM payable p JOIN "
                     "supplier s ON s.id = p.supplier_id WHERE p.stock_in_no = %s", (doc_no,))
    # 12.5 × 3.2 + 2 × 88.1234 = 40 + 176.2468 → 216.25
    assert (payable["po_no"], payable["amount"], payable["status"]) == (
        po_no, Decimal("216.25"), "open")
    terms = payable["payment_terms_days"] or 30
    assert payable["due_date"] == date.today() + timedelta(days=terms)
    url, key = f"{demo.erp_api_url}/api/payments", str(uuid.uuid4())
    body = {"payable_no": payable["payable_no"], "request_no": "PAY-20261202-9999",
            "amount": "216.25", "approved_by": "财务总监 陈静"}
    wrong = httpx.post(url, json={**body, "amount": "216.24"}, headers={"Idempotency-Key": key},
                       timeout=30)
    assert wrong.status_code == 422 and "不符" in wrong.json()["detail"]
    first = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=30)
    again = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=30)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert again.json() == first.json()
    assert first.json()["status"] == "paid" and first.json()["bank_ref"].startswith("CMB")
    twice = httpx.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
    assert twice.status_code == 422 and "paid" in twice.json()["detail"]
    paid = rows(demo.erp_url, "SELECT p.status, p.paid_amount, count(e.id) AS n FROM payable p "
                "JOIN erp_payment e ON e.payable_id = p.id WHERE p.payable_no = %s "
                "GROUP BY p.id", (payable["payable_no"],))
    assert paid == [{"status": "paid", "paid_amount": Decimal("216.25"), "n": 1}]


def test_the_posting_job_makes_balanced_vouchers_and_marks_what_it_cannot_post(demo: DemoStack):
    execute(demo.erp_url,
            "INSERT INTO gl_voucher_interface (mdm_key, claim_no, summary, credit_account, "
            "amount) VALUES ('t-ok', 'BX-T-0001', '差旅', '2211', 1636.50), "
            "('t-bad', 'BX-T-0002', '培训', '2211', 10)",
            "INSERT INTO gl_voucher_interface_line (interface_id, line_no, debit_account, amount) "
            "SELECT id, 1, '6602.01', 1280.50 FROM gl_voucher_interface WHERE mdm_key = 't-ok' "
            "UNION ALL SELECT id, 2, '6602.03', 356.00 FROM gl_voucher_interface WHERE "
            "mdm_key = 't-ok' UNION ALL SELECT id, 1, '6699', 10 FROM gl_voucher_interface "
            "WHERE mdm_key = 't-bad'")
    job = httpx.post(f"{demo.erp_api_url}/api/vouchers/post-interface", timeout=30)
    assert job.status_code == 200, job.text
    [posted] = [p for p in job.json()["posted"] if p["claim_no"] == "BX-T-0001"]
    assert re.fullmatch(r"记-\d{4}-\d{2}-\d{4}", posted["voucher_no"])
    assert [e for e in job.json()["errors"] if e["claim_no"] == "BX-T-0002"] == [
        {"claim_no": "BX-T-0002", "error": "会计科目 6699 不存在"}]
    voucher = httpx.get(f"{demo.erp_api_url}/api/vouchers/{posted['voucher_no']}",
                        timeout=30).json()
    assert [(ln["account_code"], Decimal(ln["debit"]), Decimal(ln["credit"]))
            for ln in voucher["lines"]] == [
        ("6602.01", Decimal("1280.50"), 0), ("6602.03", Decimal("356.00"), 0),
        ("2211", 0, Decimal("1636.50"))]
    assert httpx.post(f"{demo.erp_api_url}/api/vouchers/post-interface",
                      timeout=30).json() == {"posted": [], "errors": []}
    paid = httpx.post(f"{demo.erp_api_url}/api/vouchers/{posted['voucher_no']}/pay", timeout=30)
    assert paid.status_code == 200 and Decimal(paid.json()["amount"]) == Decimal("1636.50")
    again = httpx.post(f"{demo.erp_api_url}/api/vouchers/{posted['voucher_no']}/pay", timeout=30)
    assert again.status_code == 409


def test_the_demo_commands_claim_approve_post_and_pay(demo: DemoStack):
    from typer.testing import CliRunner

    from mdm.cli.main import _register, app

    _register()
    env = {"MDM_OA_URL": demo.oa_url, "MDM_ERP_API_URL": demo.erp_api_url}
    run = lambda *args: CliRunner().invoke(app, ["demo", *args], env=env)  # noqa: E731
    made = run("oa", "claim", "--line", "办公费:88.80:04409001:打印纸", "--dept", "D01")
    assert made.exit_code == 0, made.output
    number = made.output.strip()
    assert re.fullmatch(r"BX-\d{8}-\d{4}", number)
    assert run("oa", "submit", number).exit_code == 0
    approved = run("oa", "approve", number, "--by", "李总监")
    assert approved.exit_code == 0 and "李总监" in approved.output
    shown = run("oa", "show", number)
    assert shown.exit_code == 0 and "已审批" in shown.output and "打印纸" in shown.output
    execute(demo.erp_url,
            "INSERT INTO gl_voucher_interface (mdm_key, claim_no, credit_account, amount) "
            f"VALUES ('t-cli', '{number}', '2211', 88.80)",
            "INSERT INTO gl_voucher_interface_line (interface_id, line_no, debit_account, amount) "
            "SELECT id, 1, '6602.02', 88.80 FROM gl_voucher_interface WHERE mdm_key = 't-cli'")
    posted = run("erp", "post-vouchers")
    assert posted.exit_code == 0 and number in posted.output, posted.output
    [voucher] = rows(demo.erp_url, "SELECT voucher_no FROM gl_voucher WHERE claim_no = %s",
                     (number,))
    paid = run("erp", "pay", voucher["voucher_no"], "--bank-ref", "CMB-TEST-0001")
    assert paid.exit_code == 0 and "CMB-TEST-0001" in paid.output and "88.80" in paid.output
