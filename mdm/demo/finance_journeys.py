"""Flows 5 and 6, run once by `mdm demo` as their users would (an OA claimant and approver,
the ERP's posting job and cashier, a finance approver in OA), each step timed from the user's
action to the moment the next system shows its effect (demo/flow_journeys.py's chains)."""
from __future__ import annotations

import time

import httpx

from mdm.demo.flow_journeys import Chain, Step, one, post, until


def purchase_payment(chain: Chain, oa_url: str, erp_url: str, oa_db_url: str) -> Chain:
    """Flow 6, continuing flows 1 and 2's chain: the stock-in's ERP payable → an OA payment
    request → approved in OA → the ERP's payment → OA shows 已付款 and the bank reference."""
    po_no = chain.numbers.get("po")
    if not po_no:
        return chain
    started = time.monotonic()
    payable = one(erp_url, "SELECT payable_no FROM payable WHERE po_no = %s ORDER BY id LIMIT 1",
                   (po_no,))
    request_no, ms = until(lambda: one(oa_db_url, "SELECT request_no FROM oa_payment_request "
                                         "WHERE payable_no = %s", (payable,)), started)
    chain.steps.append(Step(f"ERP payable {payable or '?'} → OA 付款申请 {request_no or '?'}", ms))
    if request_no is None:
        return chain
    chain.numbers.update(payable=payable or "", payment_request=request_no)
    approved = time.monotonic()
    with httpx.Client(base_url=oa_url, timeout=30) as oa:
        post(oa, f"/api/payment-requests/{request_no}/approve",
              {"approver": "财务总监 陈静", "comment": "按合同付款"})
    payment, ms = until(lambda: one(erp_url, "SELECT payment_no FROM erp_payment WHERE "
                                      "request_no = %s", (request_no,)), approved)
    chain.steps.append(Step(f"approved by 财务总监 陈静 → ERP payment {payment or '?'}", ms))
    bank_ref, ms = until(lambda: one(oa_db_url, "SELECT bank_ref FROM oa_payment_request WHERE "
                                       "request_no = %s AND pay_status = '已付款'",
                                       (request_no,)), approved)
    chain.steps.append(Step(f"OA shows 已付款 ({bank_ref or '?'})", ms))
    return chain


def expense_claim(oa_url: str, erp_url: str, erp_api_url: str, oa_db_url: str) -> Chain:
    """Flow 5: a claim approved in OA → the ERP's voucher interface → the posting job's voucher
    → OA shows 已记账 → the ERP pays → OA shows 已付款."""
    with httpx.Client(base_url=oa_url, timeout=30) as oa, \
            httpx.Client(base_url=erp_api_url, timeout=30) as erp:
        number = post(oa, "/api/expense-claims", {
            "title": "深圳供应商现场审核差旅", "claimant": "E0003", "dept_code": "D01", "lines": [
                {"expense_type": "差旅费", "amount": "1280.50", "invoice_no": "04403311",
                 "description": "高铁及住宿"},
                {"expense_type": "业务招待费", "amount": "356.00", "invoice_no": "04403312",
                 "description": "供应商工作餐"}]})["claim_no"]
        post(oa, f"/api/expense-claims/{number}/submit", {})
        chain = Chain("费用报销 expense claim (OA → ERP → OA)",
                      f"OA 报销单 {number} approved by 李总监")
        chain.numbers["claim"] = number
        started = time.monotonic()
        post(oa, f"/api/expense-claims/{number}/approve", {"approver": "李总监"})
        row, ms = until(lambda: one(erp_url, "SELECT id FROM gl_voucher_interface WHERE "
                                      "claim_no = %s", (number,)), started)
        chain.steps.append(Step("ERP voucher interface row (借 6602.01 / 6602.03, 贷 2211)", ms))
        if row is None:
            return chain
        posted = time.monotonic()
        post(erp, "/api/vouchers/post-interface", {})
        voucher, ms = until(lambda: one(oa_db_url, "SELECT voucher_no FROM oa_expense_claim "
                                          "WHERE claim_no = %s AND erp_status = '已记账'",
                                          (number,)), posted)
        chain.steps.append(Step(f"ERP posting job → OA shows 已记账 {voucher or '?'}", ms))
        if voucher is None:
            return chain
        paid = time.monotonic()
        post(erp, f"/api/vouchers/{voucher}/pay", {})
        bank_ref, ms = until(lambda: one(oa_db_url, "SELECT bank_ref FROM oa_expense_claim "
                                           "WHERE claim_no = %s AND erp_status = '已付款'",
                                           (number,)), paid)
        chain.steps.append(Step(f"ERP paid → OA shows 已付款 ({bank_ref or '?'})", ms))
    return chain
