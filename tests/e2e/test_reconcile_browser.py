"""The workbench's reconciliation page in real headless Chromium against the running demo: an
ERP purchase order released, received in full by the WMS and stocked by the hub, whose
stock-in is then edited in the ERP's database (line 2: 45 instead of 50). An auditor opens
the PO's trace page, follows its link to the reconciliation and sees the figures per line, the
disagreeing cells marked (stocked on line 2, the payable), the verdict, and the same page in
Chinese; the reconciliation task's page links to it.

Shared stack: new documents only (their own PO)."""
from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_trace_browser import _sign_in_at
from tests.helpers import eventually, execute, rows
from tests.integration.test_flow_purchase_receipt import _released_po, _receive

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py
DEADLINE = 120.0  # capture, processing, the ERP's API, capture of the ERP again


def _stocked(stack, po_no: str) -> list[Decimal]:
    answer = httpx.get(f"{stack.api_url}/api/v1/reconcile/purchase_order/{po_no}", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"})
    return [Decimal(line["stocked"]) for line in answer.json()["lines"]]


def test_the_reconciliation_page_marks_the_stock_in_that_disagrees_with_the_receipt(
        page: Page, stack):
    _, po_no = _released_po(stack)
    receipt_no = _receive(stack, po_no, (1, "M-1002", "100", "100", "0"),
                          (2, "M-1003", "50", "50", "0"))
    assert eventually(lambda: _stocked(stack, po_no) == [Decimal(100), Decimal(50)], DEADLINE)
    execute(stack.erp_url, "UPDATE stock_in_line SET quantity = 45 WHERE line_no = 2 AND "
            f"stock_in_id = (SELECT id FROM stock_in WHERE receipt_no = '{receipt_no}')")
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM task WHERE type = "
                                   "'reconciliation' AND status = 'open' AND business_key = %s",
                                   (po_no,)), DEADLINE)

    _sign_in_at(page, stack, f"/trace/purchase_order/{po_no}", "reconcile.auditor", "auditor")
    page.get_by_role("link", name=f"Reconcile this order: purchase_order {po_no}").click()
    expect(page).to_have_url(f"{stack.api_url}/reconcile/purchase_order/{po_no}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Reconciliation · purchase_order {po_no}")
    expect(page.locator("p.verdict")).to_contain_text("Verdict: mismatch")

    table = page.get_by_role("table", name=f"Reconciliation · purchase_order {po_no}")
    line_1, line_2 = table.locator("tr[data-line='1']"), table.locator("tr[data-line='2']")
    expect(line_1).to_have_attribute("data-verdict", "agrees")
    expect(line_2).to_have_attribute("data-verdict", "mismatch")
    stocked = line_2.locator("td[data-figure='stocked']")
    expect(stocked).to_have_text("45.000")
    expect(stocked).to_have_class("num mismatch")
    expect(stocked).to_have_attribute("aria-invalid", "true")
    expect(line_2.locator("td[data-figure='received']")).to_have_text("50.000")
    expect(line_2.locator("td[data-figure='received']")).not_to_have_attribute(
        "aria-invalid", "true")
    expect(line_2).to_contain_text("stocked 45.000 < received 50.000")
    expect(line_1.locator("td.mismatch")).to_have_count(0)
    payable = page.locator("tr[data-line='order'] td[data-figure='payable']")
    expect(payable).to_have_text("945.00")
    expect(payable).to_have_attribute("aria-invalid", "true")
    expect(page.locator("table.reconcile-order")).to_contain_text("882.50")

    [task] = rows(stack.hub_url, "SELECT id FROM task WHERE type = 'reconciliation' AND "
                  "status = 'open' AND business_key = %s", (po_no,))
    page.goto(f"{stack.api_url}/tasks/{task['id']}")  # the inbox's task leads to the page
    expect(page.locator("p.summary")).to_contain_text(po_no)
    page.get_by_role("link", name="Reconcile this order").click()
    expect(page).to_have_url(f"{stack.api_url}/reconcile/purchase_order/{po_no}")

    page.goto(f"{stack.api_url}/reconcile/purchase_order/{po_no}?lang=zh")
    expect(page.get_by_role("heading", level=1)).to_contain_text("三单匹配")
    expect(page.locator("p.verdict")).to_contain_text("不一致")
    expect(page.locator("table.reconcile thead")).to_contain_text("入库数量")
