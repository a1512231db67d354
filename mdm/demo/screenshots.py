"""Screenshots of the workbench for the README, taken from a running demo stack:
`python -m mdm.demo.screenshots docs/` (needs the test extras: Playwright, and Chromium as the
e2e tests install it)."""
from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from mdm.rules.uscc import uscc_check_digit
from mdm.steward.users import add_user

PASSWORD = "screenshot-steward-1"


def _scenario(stack: DemoStack) -> int:
    """A few tasks to look at: hand edits in OA and WMS, an invalid tax id. Returns the id of
    the OA divergence."""
    with psycopg.connect(stack.pg.url("oa"), autocommit=True) as conn:
        conn.execute("UPDATE oa_vendor SET vendor_name = vendor_name || '（OA手工修改）' WHERE vendor_code = 'S0003'")
    with psycopg.connect(stack.pg.url("wms"), autocommit=True) as conn:
        conn.execute("UPDATE wms_item SET item_name = '六角螺栓 M8（仓库改）' WHERE item_code = 'M-1004'")
    first17 = "91310000000000099"
    bad = first17 + ("0" if uscc_check_digit(first17) != "0" else "1")
    with psycopg.connect(stack.erp_url, autocommit=True) as conn:
        conn.execute(f"UPDATE customer SET tax_id = '{bad}' WHERE code = 'C0002'")
    wait_idle(stack.erp_url, stack.hub_url)
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wms")
    with psycopg.connect(stack.hub_url, autocommit=True) as conn:
        add_user(conn, "li.na", "steward", PASSWORD, display_name="李娜")
        add_user(conn, "wang.qiang", "admin", PASSWORD, display_name="王强")
        row = conn.execute("SELECT id FROM task WHERE type = 'divergence' AND business_key = 'S0003' "
                           "AND status = 'open'").fetchone()
    assert row is not None
    return int(row[0])


def _purchase_chain(stack: DemoStack) -> str:
    """A purchase request approved in OA (through its API) whose ERP order was then released:
    the PO number and both states back on the request. Returns the request's number."""
    oa = httpx.Client(base_url=f"{stack.oa_url}/api/purchase-requests", timeout=30)
    made = oa.post(f"{stack.oa_url}/api/purchase-requests", json={"title": "车间劳保用品", "requester": "E0003", "dept_code": "D01",
                             "vendor_code": "S0001", "lines": [
                                 {"material_code": "M-1002", "quantity": "12.5",
                                  "unit_price": "3.2000", "needed_by": "2026-12-20"}]})
    number = str(made.raise_for_status().json()["request_no"])
    oa.post(f"/{number}/submit", json={}).raise_for_status()
    oa.post(f"/{number}/approve", json={"approver": "王经理", "comment": "同意"}).raise_for_status()
    po_no = _until(lambda: oa.get(f"/{number}").json().get("po_no"))
    with psycopg.connect(stack.erp_url, autocommit=True) as conn:
        conn.execute("UPDATE purchase_order SET status = 'released' WHERE po_no = %s", (po_no,))
    _until(lambda: oa.get(f"/{number}").json().get("po_status") == "已下达供应商")
    return number


def _until(value: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    """`value()` once it is truthy (polled); RuntimeError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := value():
            return found
        time.sleep(0.2)
    raise RuntimeError(f"the purchase chain did not complete within {timeout_s:.0f} s")


def _signed_in(browser: Any, stack: DemoStack, username: str) -> Any:
    """A page at 1280×800 in Chinese, signed in as `username` (a context of its own)."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                               extra_http_headers={"accept-language": "zh-CN,zh"}).new_page()
    page.goto(f"{stack.api_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.api_url}/")
    return page


def take(folder: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as state:
        stack = DemoStack(Path(state))
        try:
            stack.start_databases(suppliers=40, materials=80, employees=30, customers=30)
            stack.start_targets()
            stack.start_hub()
            wait_idle(stack.erp_url, stack.hub_url, timeout=300)
            task_id = _scenario(stack)
            request_no = _purchase_chain(stack)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
                shots = [folder / "workbench-inbox.png", folder / "workbench-task.png",
                         folder / "workbench-config.png", folder / "workbench-trace.png"]
                page = _signed_in(browser, stack, "li.na")
                page.wait_for_selector("table.tasks")
                page.screenshot(path=str(shots[0]))
                page.goto(f"{stack.api_url}/tasks/{task_id}")
                page.wait_for_selector("table.compare")
                page.screenshot(path=str(shots[1]), full_page=True)
                page.goto(f"{stack.api_url}/trace/purchase_request/{request_no}")
                page.wait_for_selector("svg.chain a.hop")
                page.screenshot(path=str(shots[3]), full_page=True)
                page = _signed_in(browser, stack, "wang.qiang")
                page.goto(f"{stack.api_url}/admin/config")
                page.wait_for_selector("section.config-targets")
                page.screenshot(path=str(shots[2]), full_page=True)
                browser.close()
            return shots
        finally:
            stack.stop()
            stack.pg.remove()


if __name__ == "__main__":
    for shot in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(shot)
