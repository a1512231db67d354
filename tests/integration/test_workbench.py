"""The workbench over HTTP: sign-in with CSRF, the inbox (filters, counts, Chinese and English,
search that folds full-width characters), the task page side by side, and decisions that need
the session's CSRF token."""
from __future__ import annotations

import re

import httpx
import pytest

from mdm.demo.sync import wait_idle, wait_observed
from tests.helpers import execute, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

PASSWORD = "correct horse battery"


def _browser(stack, username: str, role: str, lang: str = "en-US,en") -> tuple[httpx.Client, str]:
    """A signed-in browser-like client and its CSRF token."""
    stack.ensure_user(username, role, PASSWORD, "王芳" if role == "steward" else None)
    client = httpx.Client(base_url=stack.api_url, headers={"accept-language": lang}, timeout=30)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf, "next": "/"})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    page = client.get("/")
    return client, re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


@pytest.fixture(scope="module")
def divergence(stack) -> dict:
    """A hand edit in OA's own database: one divergence task."""
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = 'ＯＡ手改供应商' WHERE vendor_code = 'S0014'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'divergence' AND status = 'open' "
                  "AND business_key = 'S0014' AND system = 'oa'")
    return task


def test_sign_in_needs_the_right_password_and_the_forms_csrf_token(stack):
    client = httpx.Client(base_url=stack.api_url)
    _browser(stack, "wb.wang", "steward")
    client.get("/login")
    forged = client.post("/login", data={"username": "wb.wang", "password": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    wrong = client.post("/login", data={"username": "wb.wang", "password": "nope-nope-nope", "csrf": csrf})
    assert wrong.status_code == 303 and "failed=1" in wrong.headers["location"]
    assert "mdm_session" not in client.cookies
    # a sign-in link cannot send the user elsewhere afterwards
    form = client.get("/login", params={"next": "//evil.example/"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = client.post("/login", data={"username": "wb.wang", "password": PASSWORD, "csrf": csrf,
                                         "next": "//evil.example/"})
    assert signed.status_code == 303 and signed.headers["location"] == "/"


def test_inbox_lists_open_tasks_with_counts_in_chinese_or_english(stack, divergence):
    zh, _ = _browser(stack, "wb.wang", "steward", lang="zh-CN,zh;q=0.9")
    page = zh.get("/")
    assert page.status_code == 200 and "待办" in page.text and "数据不一致" in page.text
    assert f'data-id="{divergence["id"]}"' in page.text
    en = zh.get("/", params={"lang": "en"})
    assert "Inbox" in en.text and "divergence" in en.text
    assert "Inbox" in zh.get("/").text  # the choice is remembered
    only = zh.get("/", params={"type": "dead_delivery"}).text
    assert f'data-id="{divergence["id"]}"' not in only
    # search folds full-width characters: 'oa手改' finds 'ＯＡ手改供应商'
    found = zh.get("/", params={"q": "oa手改"}).text
    assert f'data-id="{divergence["id"]}"' in found
    assert f'data-id="{divergence["id"]}"' not in zh.get("/", params={"q": "没有这个"}).text
    # sorted by the records' names in pinyin
    from mdm.api.web import pinyin_key

    by_name = re.findall(r'<td class="name">([^<]*)</td>', zh.get("/", params={"sort": "name"}).text)
    assert len(by_name) >= 2 and by_name == sorted(by_name, key=pinyin_key)


def test_task_page_shows_golden_and_each_copy_side_by_side(stack, divergence):
    client, _ = _browser(stack, "wb.wang", "steward")
    page = client.get(f"/tasks/{divergence['id']}").text
    [oa_table] = re.findall(r'<table class="compare" data-system="oa">(.*?)</table>', page, re.S)
    differing = re.findall(r'<tr class="differs"><td>(\w+)</td>', oa_table)
    assert differing == ["vendor_name"] and "ＯＡ手改供应商" in oa_table
    assert 'data-action="push"' in page and 'data-action="waive"' in page
    assert "/records/supplier/S0014/lineage" in page
    auditor, _ = _browser(stack, "wb.zhang", "auditor")
    read_only = auditor.get(f"/tasks/{divergence['id']}").text
    assert "Your role may read but not decide." in read_only and 'data-action="push"' not in read_only


def test_a_decision_needs_the_sessions_csrf_token_and_a_bad_one_changes_nothing(stack, divergence):
    client, csrf = _browser(stack, "wb.wang", "steward")
    url = f"/api/v1/tasks/{divergence['id']}/resolve"
    for headers in ({}, {"x-csrf-token": "forged"}):
        refused = client.post(url, json={"action": "push"}, headers=headers)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert rows(stack.hub_url, "SELECT status FROM task WHERE id = %s", (divergence["id"],))[0]["status"] == "open"
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM decision WHERE task_id = %s", (divergence["id"],))[0]["n"] == 0
    unknown = client.post(url, json={"action": "explode"}, headers={"x-csrf-token": csrf})
    assert unknown.status_code == 422
    done = client.post(url, json={"action": "push"}, headers={"x-csrf-token": csrf})
    assert done.status_code == 200, done.text
    stale = client.post(url, json={"action": "push"}, headers={"x-csrf-token": csrf})
    assert stale.status_code == 409
    [decision] = rows(stack.hub_url, "SELECT actor FROM decision WHERE task_id = %s", (divergence["id"],))
    assert decision["actor"] == "wb.wang"
    wait_idle(stack.erp_url, stack.hub_url)


def test_sign_out_ends_the_session(stack):
    client, csrf = _browser(stack, "wb.wang", "steward")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_accept_the_systems_value_as_a_change_request_to_the_erp(stack):
    execute(stack.pg.url("wms"), "UPDATE wms_supplier SET supplier_name = '仓库确认的新名称有限公司' "
                                 "WHERE supplier_no = 'S0015'")
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wms")
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'divergence' AND status = 'open' "
                  "AND business_key = 'S0015' AND system = 'wms'")
    golden_before = rows(stack.hub_url, "SELECT version, attributes->>'name' AS name FROM golden_record "
                         "WHERE entity = 'supplier' AND business_key = 'S0015'")[0]
    client, csrf = _browser(stack, "wb.wang", "steward")
    done = client.post(f"/api/v1/tasks/{task['id']}/resolve", headers={"x-csrf-token": csrf},
                       json={"action": "change_request", "reason": "WMS has the registered name"})
    assert done.status_code == 200, done.text
    # the ERP stays the source of truth: the golden record is unchanged …
    after = rows(stack.hub_url, "SELECT version, attributes->>'name' AS name FROM golden_record "
                 "WHERE entity = 'supplier' AND business_key = 'S0015'")[0]
    assert after == golden_before
    # … and the request waits for the ERP team, as JSON and as CSV that Excel opens
    [request] = [r for r in client.get("/api/v1/change-requests").json() if r["task_id"] == task["id"]]
    assert (request["field"], request["attribute"], request["requested_value"], request["requested_by"]) == (
        "supplier_name", "name", "仓库确认的新名称有限公司", "wb.wang")
    exported = client.get("/api/v1/change-requests.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf") and "仓库确认的新名称有限公司" in exported.text
    audit = rows(stack.hub_url, "SELECT actor, action FROM audit_log WHERE task_id = %s", (task["id"],))
    assert audit == [{"actor": "wb.wang", "action": "change_request"}]


def test_the_cli_decides_through_the_api_as_the_tokens_user(stack):
    import subprocess
    import sys

    execute(stack.erp_url, "UPDATE material SET uom = '两' WHERE code = 'M-1030'")
    wait_idle(stack.erp_url, stack.hub_url)
    [task] = rows(stack.hub_url, "SELECT id FROM task WHERE type = 'rule_violation' AND status = 'open' "
                  "AND business_key = 'M-1030'")
    env = {**stack.env(), "MDM_API_URL": stack.api_url, "COLUMNS": "250",
           "MDM_TOKEN": stack.token("steward.cli", "steward")}

    def mdm(*args: str, environ: dict = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mdm.cli.main", *args], env=environ,
                              capture_output=True, text=True, timeout=60)

    listed = mdm("tasks", "list", "--type", "rule_violation")
    assert listed.returncode == 0 and "M-1030" in listed.stdout, listed.stderr
    assert f'"id": {task["id"]}' in mdm("tasks", "show", str(task["id"])).stdout
    done = mdm("tasks", "resolve", str(task["id"]), "waive", "--reason", "一两 is a unit we keep")
    assert done.returncode == 0 and "waive → waived" in done.stdout, done.stderr
    [decision] = rows(stack.hub_url, "SELECT actor FROM decision WHERE task_id = %s", (task["id"],))
    assert decision["actor"] == "steward.cli"
    stale = mdm("tasks", "resolve", str(task["id"]), "waive", "--reason", "again")
    assert stale.returncode == 1 and "refused (409)" in stale.stderr
    anonymous = mdm("tasks", "list", environ={k: v for k, v in env.items() if k != "MDM_TOKEN"})
    assert anonymous.returncode == 1 and "MDM_TOKEN is not set" in anonymous.stderr
    auditor = mdm("tasks", "resolve", str(task["id"]), "waive", "--reason", "x",
                  environ={**env, "MDM_TOKEN": stack.token("auditor.cli", "auditor")})
    assert auditor.returncode == 1 and "refused (403)" in auditor.stderr


def test_the_users_page_is_for_admins(stack):
    admin, csrf = _browser(stack, "admin.web", "admin")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and 'data-user="admin.web"' in page.text and "Add a user" in page.text
    made = admin.post("/api/v1/users", headers={"x-csrf-token": csrf},
                      json={"username": "qian.li", "role": "auditor", "password": "long enough 123"})
    assert made.status_code == 201
    assert 'data-user="qian.li"' in admin.get("/admin/users").text
    stack.ensure_user("li.na", "auditor", display_name="李娜")
    stack.ensure_user("ai.mi", "auditor", display_name="艾米")
    stack.ensure_user("zhang.wei", "auditor", display_name="张伟")
    listed = re.findall(r'<tr data-user="([^"]+)"><td>[^<]*</td><td>([^<]*)</td>', admin.get("/admin/users").text)
    named = [name for _, name in listed if name in ("李娜", "艾米", "张伟")]
    assert named == ["艾米", "李娜", "张伟"]  # by pinyin: ai, li, zhang (not by code point)
    steward, _ = _browser(stack, "wb.wang", "steward")
    assert steward.get("/admin/users").status_code == 403
    assert "/admin/users" not in steward.get("/").text  # no link for who may not follow it


def test_the_configuration_page_shows_each_file_and_how_its_part_is_doing(stack):
    wait_idle(stack.erp_url, stack.hub_url)
    admin, _ = _browser(stack, "admin.web", "admin", lang="zh-CN,zh")
    config = admin.get("/api/v1/config").json()
    erp = next(s for s in config["sources"] if s["name"] == "erp")
    assert erp["file"] == "cdc/erp.yaml" and erp["url"]["written"] == "${MDM_ERP_URL}"
    assert erp["url"]["resolved"].startswith("postgresql://") and erp["capture"]["events_total"] > 0
    supplier = next(e for e in config["entities"] if e["name"] == "supplier")
    assert supplier["targets"] == ["oa", "wms"] and supplier["rules"]
    wms = next(t for t in config["targets"] if t["name"] == "wms")
    assert wms["kind"] == "rest" and wms["deliveries"]["acked"] > 0
    page = admin.get("/admin/config")
    assert page.status_code == 200 and "配置" in page.text
    assert 'data-source="erp"' in page.text and "cdc/erp.yaml" in page.text and 'data-target="wms"' in page.text
    steward, _ = _browser(stack, "wb.wang", "steward")
    assert steward.get("/admin/config").status_code == 403
    assert steward.get("/api/v1/config").status_code == 403
    assert "/admin/config" not in steward.get("/").text
