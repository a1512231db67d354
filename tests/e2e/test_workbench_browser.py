"""The workbench in real headless Chromium against the running demo: a steward signs in, opens
the divergence a hand edit in OA made, pushes the golden value, sees OA corrected, the task
closed and the decision in the audit log; and approves a quarantined version that then reaches
the targets."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from mdm.demo.sync import wait_idle, wait_observed
from mdm.rules.uscc import uscc_check_digit
from tests.helpers import execute, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

PASSWORD = "steward-password-1"


def _sign_in(page: Page, stack, username: str = "steward.e2e") -> None:
    stack.ensure_user(username, "steward", PASSWORD, "李娜")
    page.goto(f"{stack.api_url}/")
    expect(page).to_have_url(f"{stack.api_url}/login?next=/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def test_push_the_golden_value_over_a_hand_edit_in_oa(page: Page, stack):
    golden = rows(stack.hub_url, "SELECT attributes->>'name' AS name FROM golden_record "
                                 "WHERE entity = 'supplier' AND business_key = 'S0005'")[0]["name"]
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = '浏览器测试手改' WHERE vendor_code = 'S0005'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    [task] = rows(stack.hub_url, "SELECT id FROM task WHERE type = 'divergence' AND status = 'open' "
                  "AND business_key = 'S0005' AND system = 'oa'")

    _sign_in(page, stack)
    page.locator(f'tr[data-id="{task["id"]}"] a').click()
    expect(page.locator("table.compare[data-system=oa] tr.differs")).to_contain_text("浏览器测试手改")
    page.get_by_role("button", name="Push the golden value again").click()
    expect(page.locator(".task-status")).to_have_text("resolved", timeout=15_000)

    wait_idle(stack.erp_url, stack.hub_url)
    oa = rows(stack.pg.url("oa"), "SELECT vendor_name FROM oa_vendor WHERE vendor_code = 'S0005'")[0]
    assert oa["vendor_name"] == golden
    page.get_by_role("link", name="Audit log").click()
    entry = page.locator("table.audit tbody tr").filter(has_text=f"task {task['id']}")
    expect(entry).to_contain_text("steward.e2e")
    expect(entry).to_contain_text("push")


def test_approve_a_quarantined_version_and_see_it_reach_the_targets(page: Page, stack):
    first17 = "91310000000000088"
    bad = first17 + ("0" if uscc_check_digit(first17) != "0" else "1")  # a wrong check digit
    execute(stack.erp_url, f"UPDATE customer SET tax_id = '{bad}' WHERE code = 'C0015'")
    wait_idle(stack.erp_url, stack.hub_url)
    [task] = rows(stack.hub_url, "SELECT id, golden_id, version FROM task WHERE type = 'rule_violation' "
                  "AND status = 'open' AND business_key = 'C0015'")
    assert rows(stack.pg.url("oa"), "SELECT tax_id FROM oa_customer WHERE customer_code = 'C0015'")[0]["tax_id"] != bad

    _sign_in(page, stack)
    page.goto(f"{stack.api_url}/tasks/{task['id']}")
    expect(page.locator("section")).to_contain_text(["uscc_check_digit"])
    page.get_by_placeholder("Reason").fill("checked with the customer")
    page.get_by_role("button", name="Approve as it is").click()
    expect(page.locator(".task-status")).to_have_text("resolved", timeout=15_000)

    wait_idle(stack.erp_url, stack.hub_url)
    assert rows(stack.pg.url("oa"), "SELECT tax_id FROM oa_customer WHERE customer_code = 'C0015'")[0]["tax_id"] == bad
    sent = rows(stack.hub_url, "SELECT target, status FROM delivery WHERE golden_id = %s AND version = %s",
                (task["golden_id"], task["version"]))
    assert sent and all(d["status"] == "acked" for d in sent)


def test_keyboard_and_bulk_waive_several_tasks_at_once(page: Page, stack):
    for code in ("M-1040", "M-1041"):
        execute(stack.erp_url, f"UPDATE material SET uom = '两' WHERE code = '{code}'")
    wait_idle(stack.erp_url, stack.hub_url)
    ids = {r["business_key"]: r["id"] for r in rows(
        stack.hub_url, "SELECT id, business_key FROM task WHERE type = 'rule_violation' AND status = 'open' "
                       "AND business_key IN ('M-1040', 'M-1041')")}
    assert len(ids) == 2

    _sign_in(page, stack)
    inbox = f"{stack.api_url}/?type=rule_violation&q=M-104&sort=key"
    page.goto(inbox)
    expect(page.locator("table.tasks tbody tr")).to_have_count(2)
    page.keyboard.press("j")
    page.keyboard.press("Enter")  # opens the task under the cursor: the second (M-1041)
    expect(page).to_have_url(f"{stack.api_url}/tasks/{ids['M-1041']}")
    page.goto(inbox)
    page.keyboard.press("x")  # select the first
    page.keyboard.press("j")
    page.keyboard.press("x")  # and the second
    expect(page.locator(".bulk .n")).to_have_text("2")
    page.locator(".bulk-reason").fill("两 is a unit we accept")
    page.get_by_role("button", name="Waive selected").click()
    expect(page.locator(".bulk-result")).to_have_text("2 ✓", timeout=15_000)
    statuses = rows(stack.hub_url, "SELECT status FROM task WHERE id = ANY(%s)", (list(ids.values()),))
    assert [s["status"] for s in statuses] == ["waived", "waived"]


def test_an_admin_revokes_one_token_and_unlocks_a_user_on_the_users_page(page: Page, stack):
    import httpx

    token = stack.token("e2e.tokens", "auditor")
    kept = stack.token("e2e.tokens", "auditor")
    execute(stack.hub_url, "INSERT INTO signin_failure (kind, subject, failures, locked_at) "
                           "VALUES ('user', 'e2e.tokens', 20, clock_timestamp())")
    [issued] = rows(stack.hub_url, "SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id "
                                   "WHERE u.username = 'e2e.tokens' ORDER BY t.id LIMIT 1")
    stack.ensure_user("admin.e2e", "admin", PASSWORD)
    page.goto(f"{stack.api_url}/admin/users")
    page.get_by_label("User name").fill("admin.e2e")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    row = page.locator('tr[data-user="e2e.tokens"]')
    expect(row).to_contain_text("locked")
    row.locator(f'li[data-token="{issued["id"]}"] button').click()
    expect(row.locator(f'li[data-token="{issued["id"]}"]')).to_have_count(0)
    page.locator('tr[data-user="e2e.tokens"] button[data-unlock]').click()
    expect(page.locator('tr[data-user="e2e.tokens"] .locked')).to_have_count(0)

    def status(t: str) -> int:
        return httpx.get(f"{stack.api_url}/api/v1/tasks", headers={"Authorization": f"Bearer {t}"}).status_code

    assert status(token) == 401 and status(kept) == 200
    assert not rows(stack.hub_url, "SELECT 1 FROM signin_failure WHERE subject = 'e2e.tokens'")
