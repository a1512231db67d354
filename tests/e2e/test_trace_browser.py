"""The workbench's trace page in real headless Chromium against the running demo: a purchase
request made, submitted and approved through the demo OA's API becomes an ERP purchase order
(flows/purchase_approval.yaml); once OA shows the PO number, an auditor opens the trace page
and sees a box per document with the real numbers, the hop's arrow with the transition, the
approver and the ack, the updates back to OA, the asked-for document marked, each with a label
a screen reader reads; the boxes lead to the record pages and back. An ERP refusal's dead
delivery task links to the same page, where the hop is dead with the ERP's own message.

Shared stack: new documents only (their own request numbers, a supplier code no ERP has)."""
from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import eventually, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

PASSWORD = "trace-reader-pass-1"
APPROVER = "赵审批"
DEADLINE = 120.0  # capture of OA, processing, the ERP's API, capture of the ERP, OA again


def _oa(stack, number: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.oa_url}/api/purchase-requests/{number}", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _approved_request(stack, vendor: str) -> str:
    """A request made, submitted and approved by APPROVER through OA's own API."""
    body = {"title": "追溯页测试用品", "requester": "E0003", "dept_code": "D01",
            "vendor_code": vendor, "lines": [{"material_code": "M-1002", "quantity": "4.5",
                                              "unit_price": "2.2000", "needed_by": "2026-12-24"}]}
    answer = httpx.post(f"{stack.oa_url}/api/purchase-requests", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    number = str(answer.json()["request_no"])
    for action, extra in (("submit", {}), ("approve", {"approver": APPROVER, "comment": "同意"})):
        done = httpx.post(f"{stack.oa_url}/api/purchase-requests/{number}/{action}", json=extra,
                          timeout=30)
        assert done.status_code == 200, done.text
    return number


def _command(stack, number: str) -> dict[str, Any] | None:
    found = rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = 'purchase_approval.create_po' "
                 "AND business_key = %s", (number,))
    return found[0] if found else None


def _back_acked(stack, number: str) -> bool:
    with stack.client() as api:
        chain = api.get(f"/api/v1/trace/purchase_request/{number}").json()["root"]
    return any(c["back"] and c["status"] == "acked" for d in chain["documents"]
               for c in d["commands"])


def _sign_in_at(page: Page, stack, path: str, username: str, role: str) -> None:
    """Open `path`, be sent to sign in, and come back to it signed in."""
    stack.ensure_user(username, role, PASSWORD)
    page.goto(f"{stack.api_url}{path}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{stack.api_url}{path}")


def test_the_trace_page_draws_the_approved_requests_chain_with_its_numbers_and_approver(
        page: Page, stack):
    number = _approved_request(stack, "S0001")
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已创建", DEADLINE), (
        _oa(stack, number), _command(stack, number))
    po_no = str(_oa(stack, number)["po_no"])
    assert eventually(lambda: _back_acked(stack, number), DEADLINE)  # the hub has its answer

    _sign_in_at(page, stack, f"/trace/purchase_order/{po_no}", "trace.auditor", "auditor")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Chain across systems · purchase_order {po_no}")
    chain = page.get_by_role("group", name=f"Chain across systems · purchase_order {po_no}")
    request_box = chain.get_by_role("link", name=re.compile(
        rf"^OA purchase_request {number}, since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d, v\d+ approved$"))
    order_box = chain.get_by_role("link", name=re.compile(
        rf"^ERP purchase_order {po_no}, since .* — the document you asked for$"))
    expect(request_box).to_be_visible()
    expect(order_box).to_have_attribute("aria-current", "true")
    expect(order_box).to_contain_text("★ the document you asked for")
    expect(request_box).not_to_have_attribute("aria-current", "true")

    command = _command(stack, number)
    assert command is not None and command["status"] == "acked"
    hop = chain.locator(f"a.hop[data-delivery='{command['id']}']")  # later hops may follow
    expect(hop).to_have_accessible_name(re.compile(
        rf"^Hop: create → ERP \(purchase_approval\.create_po\): status: submitted → approved · "
        rf"{APPROVER}, acked, \d+ ms to acknowledge, Target's answer {po_no}$"))
    expect(hop).to_contain_text("✓ acked +")
    expect(hop).to_contain_text(f"status: submitted → approved · {APPROVER}")
    expect(hop).to_have_attribute("href", f"/api/v1/deliveries/{command['id']}")

    back = chain.get_by_role("group", name=re.compile(r"^back to OA: \d+$"))
    expect(back).to_contain_text("↩ back to OA")
    first_back = back.get_by_role("link").first
    expect(first_back).to_have_accessible_name(re.compile(
        rf"^back to OA: po_no {po_no}, po_status 已创建, acked, \d+ ms to acknowledge$"))

    snapshot = chain.aria_snapshot()  # what a screen reader is given, in order
    assert f'link "OA purchase_request {number}' in snapshot, snapshot
    assert f'link "ERP purchase_order {po_no}' in snapshot, snapshot
    assert f"· {APPROVER}, acked" in snapshot, snapshot

    row = page.locator(f"table.chain-hops tr[data-delivery='{command['id']}']")
    expect(row).to_contain_text(APPROVER)
    expect(row).to_contain_text(po_no)
    delivery = page.request.get(f"{stack.api_url}{hop.get_attribute('href')}")
    assert delivery.ok and delivery.json()["target_id"] == po_no, delivery.text()

    request_box.click()  # the record's page, which leads back to the chain from there
    expect(page).to_have_url(f"{stack.api_url}/records/purchase_request/{number}/lineage")
    page.get_by_role("link", name="its chain across systems (trace)").click()
    expect(page).to_have_url(f"{stack.api_url}/trace/purchase_request/{number}")
    expect(page.locator("a.doc[aria-current=true]")).to_have_attribute("data-system", "OA")

    page.goto(f"{stack.api_url}/trace/purchase_request/{number}?lang=zh")
    expect(page.get_by_role("heading", level=1)).to_contain_text("跨系统单据链")
    expect(page.locator("svg.chain")).to_contain_text("回写 OA")


def test_a_refused_pos_dead_delivery_task_links_to_the_chain_with_the_erps_message(
        page: Page, stack):
    number = _approved_request(stack, "S9E2E")  # no such supplier in the ERP: 422
    assert eventually(lambda: (_command(stack, number) or {}).get("status") == "dead", DEADLINE), (
        _command(stack, number))
    command = _command(stack, number)
    assert command is not None and "S9E2E" in command["last_error"]
    [task] = rows(stack.hub_url, "SELECT id FROM task WHERE type = 'dead_delivery' AND "
                  "status = 'open' AND golden_id = %s", (command["golden_id"],))
    try:
        _sign_in_at(page, stack, f"/tasks/{task['id']}", "trace.steward", "steward")
        page.get_by_role("link", name="Chain across systems (trace)").click()
        expect(page).to_have_url(f"{stack.api_url}/trace/purchase_request/{number}")
        chain = page.locator("svg.chain")
        expect(chain.get_by_role("group", name="ERP: no document made (dead)")).to_be_visible()
        hop = chain.locator(f"a.hop[data-delivery='{command['id']}']")
        expect(hop).to_have_accessible_name(re.compile(
            rf"· {APPROVER}, dead, error: {re.escape(command['last_error'])}$"))
        expect(hop).to_contain_text("✗ dead")
        expect(hop.locator("text.hop-error")).to_have_attribute("fill", "#b3261e")
        expect(hop.locator("text.hop-error")).to_contain_text(command["last_error"][:30])
        expect(page.locator(f"table.chain-hops tr[data-delivery='{command['id']}'] .error")
               ).to_have_text(command["last_error"])
    finally:  # leave the shared inbox as found: the task was this test's own
        with stack.client() as api:
            answer = api.post(f"/api/v1/tasks/{task['id']}/resolve",
                              json={"action": "waive", "reason": "e2e trace test"})
        assert answer.status_code == 200, answer.text
