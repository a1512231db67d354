"""Lineage and audit on a pipeline that ran real ERP changes through real capture: history
with diffs, as of (and its boundary), field lineage (an ERP commit vs a steward's decision),
"why does WMS show X", one transaction's changes, a period's decisions, the lineage page."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mdm.demo.journey import run_edit
from mdm.demo.sync import wait_idle
from mdm.rules.uscc import uscc_check_digit
from tests.helpers import rows
from tests.hub_cli import run_mdm as _mdm

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py


def _settle(stack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _api(stack, path: str, **params):
    response = stack.client("auditor.kim", "auditor").get(path, params=params)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def test_history_shows_each_version_with_what_changed_and_the_erp_commit(stack):
    tx = run_edit(stack.erp_url, "UPDATE supplier SET name = '历史测试供应商有限公司' WHERE code = 'S0010'")
    _settle(stack)
    newest = _api(stack, "/api/v1/records/supplier/S0010/history")[0]
    assert newest["changes"]["name"]["to"] == "历史测试供应商有限公司"
    assert newest["changes"]["name"]["from"] != "历史测试供应商有限公司"
    assert list(newest["changes"]) == ["name"]
    assert (newest["cause"]["kind"], newest["cause"]["source"], newest["cause"]["tx_id"]) == ("change_event", "erp", tx)
    assert newest["cause"]["table"] == "public.supplier" and newest["cause"]["lsn"] > 0
    shown = _mdm(stack, "history", "supplier", "S0010")
    assert shown.returncode == 0, shown.stderr
    assert f"erp tx {tx} u public.supplier" in shown.stdout and "历史测试供应商有限公司" in shown.stdout


def test_as_of_between_versions_is_the_earlier_and_at_a_commit_instant_that_version(stack):
    for region in ("西北", "东北"):
        run_edit(stack.erp_url, f"UPDATE customer SET region = '{region}' WHERE code = 'C0017'")
        _settle(stack)
    older, newer = _api(stack, "/api/v1/records/customer/C0017/history", limit=2)[::-1]
    assert older["attributes"]["region"] == "西北" and newer["attributes"]["region"] == "东北"
    url = "/api/v1/records/customer/C0017/as-of"
    start = older["valid_from"]
    between = _api(stack, url, t=_midpoint(older["valid_from"], newer["valid_from"]))
    assert between["version"] == older["version"]
    assert _api(stack, url, t=newer["valid_from"])["version"] == newer["version"]  # boundary: the newer
    assert _api(stack, url, t=start)["version"] == older["version"]
    first = _api(stack, "/api/v1/records/customer/C0017/versions/1")
    missing = stack.client().get(url, params={"t": _shift(first["valid_from"], -1)})
    assert missing.status_code == 404  # before the record existed
    naive = stack.client().get(url, params={"t": "2026-01-01T08:00:00"})
    assert naive.status_code == 422 and "UTC offset" in naive.text


def test_field_lineage_shows_erp_commits_and_a_stewards_decision(stack):
    first17 = "91310000000000077"
    good = first17 + uscc_check_digit(first17)
    bad = good[:17] + ("1" if good[17] == "0" else "0")
    tx = run_edit(stack.erp_url, f"UPDATE customer SET tax_id = '{bad}' WHERE code = 'C0018'")
    _settle(stack)
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'rule_violation' AND status = 'open' "
                  "AND business_key = 'C0018'")
    reply = stack.client("steward.li", "steward").post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "approve_edited", "actor": "steward.li", "reason": "one digit off",
                             "values": {"tax_id": good}})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    segments = _api(stack, "/api/v1/records/customer/C0018/fields/tax_id/lineage")
    erp_value, decided = segments[-2], segments[-1]
    assert erp_value["value"] == bad and erp_value["set_by"]["tx_id"] == tx
    assert erp_value["received"]["oa"]["at"] is None  # quarantined: never sent
    assert decided["value"] == good
    assert decided["set_by"]["kind"] == "decision" and decided["set_by"]["actor"] == "steward.li"
    assert decided["set_by"]["decision"]["reason"] == "one digit off"
    assert decided["set_by"]["task_id"] == task["id"]
    assert list(decided["received"]) == ["oa"]  # the one target that maps tax_id
    assert decided["received"]["oa"]["at"] is not None
    assert decided["received"]["oa"]["version"] == decided["set_in_version"]
    # why does OA show it: the decision, not an ERP commit
    why = _api(stack, "/api/v1/records/customer/C0018/why", target="oa", field="tax_id")
    assert why["set_by"]["kind"] == "decision" and "steward.li" in why["explanation"]
    shown = _mdm(stack, "lineage", "customer", "C0018", "--field", "tax_id")
    assert shown.returncode == 0, shown.stderr
    assert f"decision by steward.li (task {task['id']})" in shown.stdout and f"erp tx {tx}" in shown.stdout


def test_why_does_wms_show_this_leads_back_to_the_erp_commit(stack):
    tx = run_edit(stack.erp_url, "UPDATE material SET name = '追溯测试物料' WHERE code = 'M-1023'")
    _settle(stack)
    run_edit(stack.erp_url, "UPDATE material SET standard_price = standard_price + 1 WHERE code = 'M-1023'")
    _settle(stack)  # a later version that did not touch the name: WMS's name still comes from tx
    why = _api(stack, "/api/v1/records/material/M-1023/why", target="wms", field="item_name")
    assert why["set_by"]["kind"] == "change_event" and why["set_by"]["tx_id"] == tx
    assert why["delivered"]["value"] == "追溯测试物料"
    assert why["delivered"]["version"] > why["set_in_version"]
    shown = _mdm(stack, "lineage", "material", "M-1023", "--target", "wms", "--field", "item_name")
    assert shown.returncode == 0 and f"erp transaction {tx}" in shown.stdout, shown.stdout + shown.stderr
    bad = _mdm(stack, "lineage", "material", "M-1023", "--target", "wms", "--field", "colour")
    assert bad.returncode == 1 and "wms has no field 'colour'" in bad.stderr


def test_one_transaction_lists_everything_it_changed(stack):
    tx = run_edit(stack.erp_url, "UPDATE supplier SET name = name || '·' WHERE code IN ('S0011', 'S0012'); "
                                 "UPDATE material SET spec = 'TX-SPEC' WHERE code = 'M-1021'")
    _settle(stack)
    changed = _api(stack, f"/api/v1/transactions/erp/{tx}")
    assert sorted((c["entity"], c["business_key"]) for c in changed) == [
        ("material", "M-1021"), ("supplier", "S0011"), ("supplier", "S0012")]
    material = next(c for c in changed if c["entity"] == "material")
    assert material["changes"]["spec"]["to"] == "TX-SPEC"
    assert {d["target"] for d in material["deliveries"]} == {"oa", "wms"}
    shown = _mdm(stack, "audit", "tx", "erp", str(tx))
    assert shown.returncode == 0 and "M-1021" in shown.stdout and "S0012" in shown.stdout


def test_decisions_in_a_period_by_actor(stack):
    execute_sql = "UPDATE material SET uom = '两' WHERE code = 'M-1022'"
    run_edit(stack.erp_url, execute_sql)
    _settle(stack)
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'rule_violation' AND status = 'open' "
                  "AND business_key = 'M-1022'")
    before = rows(stack.hub_url, "SELECT clock_timestamp() AS t")[0]["t"]
    reply = stack.client("steward.zhou", "steward").post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "waive", "actor": "steward.zhou", "reason": "legacy unit"})
    assert reply.status_code == 200
    after = rows(stack.hub_url, "SELECT clock_timestamp() AS t")[0]["t"]
    found = _api(stack, "/api/v1/decisions", since=before.isoformat(), until=after.isoformat())
    assert [(d["actor"], d["action"], d["task_id"]) for d in found] == [("steward.zhou", "waive", task["id"])]
    assert _api(stack, "/api/v1/decisions", since=before.isoformat(), until=after.isoformat(),
                actor="someone.else") == []
    shown = _mdm(stack, "audit", "decisions", "--since", before.isoformat(), "--actor", "steward.zhou")
    assert shown.returncode == 0 and "legacy unit" in shown.stdout
    graph = _api(stack, "/api/v1/records/material/M-1022/lineage")
    [decided] = [n for n in graph["nodes"] if n["label"] == "decision: waive by steward.zhou"]
    assert {"source": decided["id"], "target": f"version:{task['version']}", "label": "decided"} in graph["edges"]


def test_lineage_page_draws_the_graph_and_every_box_links_to_its_data(stack):
    run_edit(stack.erp_url, "UPDATE supplier SET name = '图谱测试供应商' WHERE code = 'S0013'")
    _settle(stack)
    page = stack.client().get("/records/supplier/S0013/lineage")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "Read each row from left to right" in page.text
    links = set(re.findall(r'<a href="([^"]+)"><g>', page.text))
    assert any("/versions/" in link for link in links)
    assert any(link.startswith("/api/v1/deliveries/") for link in links)
    assert any(link.startswith("/api/v1/transactions/erp/") for link in links)
    for link in links:
        assert stack.client().get(link).status_code == 200, link
    shown = _mdm(stack, "lineage", "supplier", "S0013")
    assert shown.returncode == 0 and "→ oa (#" in shown.stdout and "erp tx" in shown.stdout, shown.stdout
    graph = _api(stack, "/api/v1/records/supplier/S0013/lineage")
    kinds = {n["kind"] for n in graph["nodes"]}
    assert kinds == {"cause", "version", "delivery", "ack"}
    assert {e["label"] for e in graph["edges"]} >= {"made", "sent", "acked", "next"}


def test_the_cli_asks_the_hub_with_a_token_and_the_role_decides(stack):
    unsigned = _mdm(stack, "history", "supplier", "S0001", role=None)
    assert unsigned.returncode == 1 and "MDM_TOKEN" in unsigned.stderr, unsigned.stderr
    assert "Traceback" not in unsigned.stderr
    shown = _mdm(stack, "records", "supplier", "S0001")  # an auditor reads
    assert shown.returncode == 0 and "supplier S0001" in shown.stdout and "erp=" in shown.stdout, shown.stderr
    refused = _mdm(stack, "replay", "supplier", "S0001", "--target", "oa")  # but does not re-send
    assert refused.returncode == 1 and "403" in refused.stderr and "admin" in refused.stderr, refused.stderr
    unknown = _mdm(stack, "history", "suppliers", "S0001")
    assert unknown.returncode == 1 and "unknown entity 'suppliers'" in unknown.stderr, unknown.stderr
    missing = _mdm(stack, "lineage", "supplier", "NOPE", "--field", "name")
    assert missing.returncode == 1 and "no supplier with business key 'NOPE'" in missing.stderr


def _midpoint(a: str, b: str) -> str:
    from datetime import datetime

    x, y = datetime.fromisoformat(a), datetime.fromisoformat(b)
    return (x + (y - x) / 2).isoformat()


def _shift(a: str, seconds: float) -> str:
    from datetime import datetime

    return (datetime.fromisoformat(a) + timedelta(seconds=seconds)).isoformat()


def test_retention_drops_old_versions_never_the_current_one_nor_one_a_task_needs(stack):
    import dataclasses

    import psycopg

    from mdm.config.loader import load_project
    from mdm.config.models import HistoryPolicy
    from mdm.lineage.retention import prune

    for n in range(5):
        run_edit(stack.erp_url, f"UPDATE customer SET region = '区域{n}' WHERE code = 'C0014'")
        _settle(stack)
    project = load_project(stack.project_dir)
    customer = project.entities["customer"].model_copy(update={"history": HistoryPolicy(keep_versions=2)})
    project = dataclasses.replace(project, entities={**project.entities, "customer": customer})
    record = _api(stack, "/api/v1/records/customer/C0014")
    held = record["version"] - 4  # a steward still has to decide about this one
    from tests.helpers import execute

    execute(stack.hub_url, "INSERT INTO task (type, entity, business_key, golden_id, version, system, "
                           f"severity, summary, detail) VALUES ('rule_violation', 'customer', 'C0014', "
                           f"{record['golden_id']}, {held}, 'erp', 'error', 'held for the test', '{{}}')")
    with psycopg.connect(stack.hub_url, autocommit=True) as conn:
        would = prune(conn, project, dry_run=True).versions["customer"]
        assert would > 0
        assert prune(conn, project).versions["customer"] == would
        assert prune(conn, project).versions["customer"] == 0  # nothing left to drop
    kept = [v["version"] for v in rows(stack.hub_url, "SELECT version FROM golden_version WHERE "
                                       "golden_id = %s ORDER BY version", (record["golden_id"],))]
    assert kept == [held, record["version"] - 2, record["version"] - 1, record["version"]]
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM delivery WHERE golden_id = %s AND version < %s "
                "AND version <> %s", (record["golden_id"], kept[1], held))[0]["n"] == 0
    history = _api(stack, "/api/v1/records/customer/C0014/history")
    assert [v["version"] for v in history] == kept[::-1]
    assert history[1]["changes"] == {"region": {"from": "区域2", "to": "区域3"}}
    assert history[2]["changes"] is None and "dropped" in history[2]["note"]  # its predecessor is gone
    shown = _mdm(stack, "prune", "--dry-run", "-p", str(stack.project_dir))  # on the database
    assert shown.returncode == 0 and "customer" not in shown.stdout  # the demo project has no customer policy


def test_old_transaction_ends_no_version_names_are_pruned_and_capture_goes_on(stack):
    import psycopg

    from mdm.config.loader import load_project
    from mdm.lineage.retention import prune
    from tests.helpers import eventually, execute

    named = "EXISTS (SELECT 1 FROM golden_version v WHERE v.cause_source = t.source " \
            "AND v.cause_tx_id = t.tx_id)"
    count = f"SELECT count(*) FILTER (WHERE {named}) AS named, " \
            f"count(*) FILTER (WHERE NOT {named}) AS unnamed FROM source_tx t"
    # heartbeats end a transaction every interval: wait for some that made no version
    assert eventually(lambda: rows(stack.hub_url, count)[0]["unnamed"] >= 3, timeout=120)
    execute(stack.hub_url, "UPDATE source_tx SET ended_at = ended_at - interval '2 days'")
    before = rows(stack.hub_url, count)[0]
    assert before["named"] > 0
    project = load_project(stack.project_dir)
    with psycopg.connect(stack.hub_url, autocommit=True) as conn:
        would = prune(conn, project, dry_run=True).transactions
        assert would >= before["unnamed"]  # heartbeats may have ended since, not old yet
        assert prune(conn, project, batch=2).transactions == before["unnamed"]
    after = rows(stack.hub_url, count)[0]
    assert after["named"] == before["named"]  # what `mdm audit tx` starts from stays
    assert rows(stack.hub_url, f"SELECT count(*) AS n FROM source_tx t WHERE NOT {named} "
                "AND ended_at < clock_timestamp() - interval '1 day'")[0]["n"] == 0
    tx = run_edit(stack.erp_url, "UPDATE customer SET region = '区域新' WHERE code = 'C0019'")
    _settle(stack)
    assert _api(stack, "/api/v1/records/customer/C0019")["attributes"]["region"] == "区域新", tx
    shown = _mdm(stack, "prune", "--dry-run", "-p", str(stack.project_dir))
    assert shown.returncode == 0, shown.stderr
    assert "source transactions: would drop 0 END row(s)" in shown.stdout, shown.stdout
