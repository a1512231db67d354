"""An ERP edit reaches the golden store, OA and WMS: every operation on every demo entity,
with the right values and types. Real PostgreSQL, real Debezium, real demo OA/WMS servers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mdm.config.loader import load_project
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.helpers import convergence_problems, execute, golden, rows, target_databases, target_rows

PROJECT = load_project(REPO_ROOT)


def _targets(stack) -> dict[str, str]:
    return target_databases(stack)


def _settle(stack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def test_snapshot_converges_golden_and_both_targets(stack):
    assert convergence_problems(PROJECT, stack.erp_url, stack.hub_url, _targets(stack)) == []
    assert len(golden(stack.hub_url, "supplier")) == 25


INSERTS = {
    "department": "INSERT INTO department (code, name, parent_id) VALUES ('DT1', '测试部', (SELECT min(id) FROM department))",
    "employee": "INSERT INTO employee (code, name, gender, hire_date, monthly_salary) VALUES ('ET1', '张测试', 'F', '2024-03-01', 12345.67)",
    "customer": "INSERT INTO customer (code, name, region, credit_limit) VALUES ('CT1', '测试客户有限公司', '华东', 500000.00)",
    "material": "INSERT INTO material (code, name, uom, standard_price, weight_kg, effective_from) VALUES ('M-T1', '测试物料', '个', 3.1416, 0.125, '2026-01-01')",
    "supplier": "INSERT INTO supplier (code, name, credit_limit, established_on, last_audit_at) VALUES ('ST1', '测试供应商有限公司', 99999999.99, '1999-12-31', '2026-11-25 10:11:12.5+08')",
}
TABLE_KEYS = {"department": "DT1", "employee": "ET1", "customer": "CT1", "material": "M-T1", "supplier": "ST1"}


@pytest.mark.parametrize("entity", sorted(INSERTS))
def test_insert_update_soft_and_hard_delete_reach_golden_and_targets(stack, entity):
    table, code = PROJECT.entities[entity].table, TABLE_KEYS[entity]
    execute(stack.erp_url, INSERTS[entity])
    _settle(stack)
    record = _record(stack, entity, code)
    # one version from the ERP (a material gets a second one: WMS answers with its stock status)
    first = 2 if entity == "material" else 1
    assert record["status"] == "active" and record["version"] == first

    execute(stack.erp_url, f"UPDATE {table} SET name = name || '·改' WHERE code = '{code}'")
    _settle(stack)
    record = _record(stack, entity, code)
    assert record["attributes"]["name"].endswith("·改") and record["version"] == first + 1

    execute(stack.erp_url, f"UPDATE {table} SET active = false WHERE code = '{code}'")
    _settle(stack)
    assert _record(stack, entity, code)["status"] == "retired"

    execute(stack.erp_url, f"UPDATE {table} SET active = true WHERE code = '{code}'")
    _settle(stack)
    assert _record(stack, entity, code)["status"] == "active"

    if entity == "supplier":
        execute(stack.erp_url, f"DELETE FROM supplier_bank_account WHERE supplier_id = (SELECT id FROM supplier WHERE code = '{code}')")
    if entity == "department":
        execute(stack.erp_url, f"UPDATE employee SET department_id = NULL WHERE department_id = (SELECT id FROM department WHERE code = '{code}')")
    execute(stack.erp_url, f"DELETE FROM {table} WHERE code = '{code}'")
    _settle(stack)
    record = _record(stack, entity, code)
    assert record["status"] == "retired"
    assert convergence_problems(PROJECT, stack.erp_url, stack.hub_url, _targets(stack)) == []


def _record(stack, entity: str, code: str) -> dict:
    found = rows(stack.hub_url, "SELECT * FROM golden_record WHERE entity = %s AND business_key = %s", (entity, code))
    assert len(found) == 1, f"{entity} {code}: {len(found)} golden records"
    return found[0]


def test_types_arrive_exactly_in_golden_and_at_targets(stack):
    execute(stack.erp_url,
            "UPDATE supplier SET credit_limit = 1234567.89, established_on = '2001-02-03', "
            "last_audit_at = '2026-11-25 23:59:59.123456+08', payment_terms_days = 45 WHERE code = 'S0003'",
            "UPDATE material SET standard_price = 0.0001, weight_kg = 12.345, effective_from = '2030-12-31' "
            "WHERE code = 'M-1003'")
    _settle(stack)
    supplier = _record(stack, "supplier", "S0003")["attributes"]
    assert supplier["credit_limit"] == "1234567.89"
    assert supplier["established_on"] == "2001-02-03"
    assert supplier["last_audit_at"] == "2026-11-25T15:59:59.123456+00:00"
    assert supplier["payment_terms_days"] == 45
    oa = target_rows(stack.pg.url("oa"), "oa_vendor", "vendor_code")["S0003"]
    assert oa["credit_limit"] == Decimal("1234567.89")
    assert oa["established_on"].isoformat() == "2001-02-03"
    assert oa["last_audit_at"] == datetime(2026, 11, 25, 15, 59, 59, 123456, tzinfo=UTC)
    item = target_rows(stack.pg.url("wms"), "wms_item", "item_code")["M-1003"]
    assert item["weight_kg"] == Decimal("12.345") and item["effective_from"].isoformat() == "2030-12-31"
    oa_material = target_rows(stack.pg.url("oa"), "oa_material", "material_code")["M-1003"]
    assert oa_material["standard_price"] == Decimal("0.0001")


def test_unchanged_toast_column_keeps_its_value(stack):
    big = rows(stack.erp_url, "SELECT code, description FROM material WHERE length(description) > 4000 ORDER BY code LIMIT 1")[0]
    execute(stack.erp_url, "ALTER TABLE material ALTER COLUMN description SET STORAGE EXTERNAL",
            f"UPDATE material SET description = description || ' ' WHERE code = '{big['code']}'")
    _settle(stack)
    execute(stack.erp_url, f"UPDATE material SET uom = '千克' WHERE code = '{big['code']}'")
    _settle(stack)
    record = _record(stack, "material", big["code"])
    assert record["attributes"]["uom"] == "千克"
    assert record["attributes"]["description"] == big["description"] + " "
    wms = target_rows(stack.pg.url("wms"), "wms_item", "item_code")[big["code"]]
    assert wms["description"] == big["description"] + " " and wms["unit"] == "千克"


def test_child_row_change_makes_a_new_supplier_version(stack):
    before = _record(stack, "supplier", "S0002")
    execute(stack.erp_url, "INSERT INTO supplier_bank_account (supplier_id, bank_name, account_name, account_no) "
                           "SELECT id, '中国银行苏州分行', name, '6216600000000009999' FROM supplier WHERE code = 'S0002'")
    _settle(stack)
    after = _record(stack, "supplier", "S0002")
    assert after["version"] == before["version"] + 1
    assert "6216600000000009999" in [a["account_no"] for a in after["attributes"]["bank_accounts"]]
    oa = target_rows(stack.pg.url("oa"), "oa_vendor", "vendor_code")["S0002"]
    assert "6216600000000009999" in [a["account_no"] for a in oa["bank_accounts"]]


def test_edit_of_ignored_audit_column_makes_no_version(stack):
    before = _record(stack, "customer", "C0001")
    execute(stack.erp_url, "UPDATE customer SET updated_at = localtimestamp + interval '1 day' WHERE code = 'C0001'")
    _settle(stack)
    assert _record(stack, "customer", "C0001")["version"] == before["version"]


def test_versions_carry_their_erp_cause_and_xrefs_hold_target_ids(stack):
    execute(stack.erp_url, "UPDATE customer SET region = '西北' WHERE code = 'C0002'")
    _settle(stack)
    record = _record(stack, "customer", "C0002")
    version = rows(stack.hub_url, "SELECT * FROM golden_version WHERE golden_id = %s AND version = %s",
                   (record["id"], record["version"]))[0]
    assert (version["cause_kind"], version["cause_source"], version["cause_table"], version["cause_op"]) == \
        ("change_event", "erp", "public.customer", "u")
    assert version["cause_lsn"] > 0 and version["cause_tx_id"] > 0 and version["cause_commit_ts"] is not None
    xrefs = {r["system"]: r["key"] for r in rows(stack.hub_url, "SELECT * FROM xref WHERE golden_id = %s", (record["id"],))}
    oa_id = target_rows(stack.pg.url("oa"), "oa_customer", "customer_code")["C0002"]["id"]
    assert xrefs["erp"] == record["source_key"] and xrefs["oa"] == str(oa_id) and "wms" in xrefs


def test_api_serves_records_history_and_metrics(stack):
    import httpx

    record = stack.client().get("/api/v1/records/supplier/S0001").json()
    assert record["business_key"] == "S0001" and set(record["xrefs"]) == {"erp", "oa", "wms"}
    by_id = stack.client().get(f"/api/v1/records/supplier/{record['golden_id']}?by=golden_id").json()
    assert by_id["business_key"] == "S0001"
    history = stack.client().get("/api/v1/records/supplier/S0001/history").json()
    assert history[0]["version"] == record["version"] and history[-1]["version"] == 1
    assert stack.client().get("/api/v1/records/supplier/NOPE").status_code == 404
    assert stack.client().get("/api/v1/records/nope").status_code == 404
    metrics = httpx.get(f"{stack.api_url}/metrics").text
    assert 'mdm_golden_records{entity="supplier",status="active"}' in metrics
    assert "mdm_slot_retained_wal_bytes" in metrics and "mdm_capture_latency_ms" in metrics
    assert httpx.get(f"{stack.api_url}/readyz").json() == {"status": "ready"}


def test_a_business_key_lookup_never_answers_with_the_record_whose_golden_id_it_is(stack):
    client = stack.client()
    other = client.get("/api/v1/records/customer/C0001").json()
    key = str(other["golden_id"])  # a customer numbered like C0001's golden id
    execute(stack.erp_url, "INSERT INTO customer (code, name, region, credit_limit) "
                           f"VALUES ('{key}', '编号客户', '华东', 1000.00)")
    _settle(stack)
    numbered = client.get(f"/api/v1/records/customer/{key}").json()
    assert numbered["business_key"] == key and numbered["golden_id"] != other["golden_id"]

    execute(stack.erp_url, f"UPDATE customer SET code = 'CN-{key}' WHERE code = '{key}'")
    _settle(stack)
    gone = client.get(f"/api/v1/records/customer/{key}")  # no customer holds the key any more
    assert gone.status_code == 404 and "?by=golden_id" in gone.json()["detail"]
    assert client.get(f"/api/v1/records/customer/{key}/history").status_code == 404
    by_id = client.get(f"/api/v1/records/customer/{key}?by=golden_id").json()
    assert by_id["business_key"] == "C0001"
    assert client.get(f"/api/v1/records/customer/{key}/history?by=golden_id").status_code == 200
    assert client.get("/api/v1/records/customer/C0001?by=golden_id").status_code == 422
    assert client.get("/api/v1/records/customer/C0001?by=name").status_code == 422


def test_idle_slot_does_not_pile_up_wal_while_other_databases_write(stack):
    """Heartbeats keep the ERP slot moving although nothing captured changes."""
    import time

    import psycopg

    with psycopg.connect(stack.pg.url("oa"), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_filler (id serial, pad text)")
        for _ in range(8):  # ~64 MiB of WAL in another database of the same server
            conn.execute("INSERT INTO wal_filler (pad) SELECT repeat(md5(random()::text), 64) "
                         "FROM generate_series(1, 3000)")
        conn.execute("CHECKPOINT")
    deadline = time.monotonic() + 90
    lag = None
    while time.monotonic() < deadline:
        slot = rows(stack.erp_url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) AS lag "
                                   "FROM pg_replication_slots WHERE slot_name = 'mdm_erp'")[0]
        lag = int(slot["lag"])
        if lag < 1024 * 1024:
            break
        time.sleep(1)
    assert lag is not None and lag < 1024 * 1024, f"slot still {lag} bytes behind"
    recorded = rows(stack.hub_url, "SELECT slot_retained_bytes, slot_checked_at FROM capture_state WHERE source = 'erp'")[0]
    assert recorded["slot_checked_at"] is not None and recorded["slot_retained_bytes"] is not None


def test_target_5xx_is_retried_with_backoff_until_acked(stack):
    import httpx

    httpx.post(f"{stack.oa_url}/_faults", json={"fail_next": 3, "status": 503}).raise_for_status()
    execute(stack.erp_url, "UPDATE customer SET region = '东北' WHERE code = 'C0003'")
    _settle(stack)
    record = _record(stack, "customer", "C0003")
    delivery = rows(stack.hub_url, "SELECT * FROM delivery WHERE golden_id = %s AND version = %s AND target = 'oa'",
                    (record["id"], record["version"]))[0]
    assert delivery["status"] == "acked" and delivery["attempts"] == 4
    assert delivery["acked_at"] - delivery["created_at"] > timedelta(milliseconds=300)  # it backed off
    assert target_rows(stack.pg.url("oa"), "oa_customer", "customer_code")["C0003"]["region"] == "东北"


def test_target_4xx_makes_the_delivery_dead_others_flow_and_a_steward_retries_it(stack):
    import httpx

    httpx.post(f"{stack.wms_url}/_faults", json={"fail_next": 1, "status": 422}).raise_for_status()
    execute(stack.erp_url, "UPDATE customer SET region = '西南' WHERE code = 'C0004'")
    _settle(stack)
    record = _record(stack, "customer", "C0004")
    by_target = {d["target"]: d for d in rows(
        stack.hub_url, "SELECT * FROM delivery WHERE golden_id = %s AND version = %s", (record["id"], record["version"]))}
    assert by_target["wms"]["status"] == "dead" and by_target["wms"]["attempts"] == 1
    assert "HTTP 422" in by_target["wms"]["last_error"]
    assert by_target["oa"]["status"] == "acked"
    execute(stack.erp_url, "UPDATE customer SET region = '华中' WHERE code = 'C0005'")
    _settle(stack)
    assert target_rows(stack.pg.url("wms"), "wms_customer", "customer_no")["C0005"]["region"] == "华中"

    # The dead delivery is a steward's task; once the cause is gone, `retry` delivers it.
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'dead_delivery' AND "
                  "business_key = 'C0004' AND status = 'open'")
    assert task["system"] == "wms" and task["detail"]["delivery_id"] == by_target["wms"]["id"]
    assert "HTTP 422" in task["summary"]
    reply = stack.client("ops.zhao", "steward").post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "retry", "actor": "ops.zhao", "reason": "WMS fixed"})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    assert target_rows(stack.pg.url("wms"), "wms_customer", "customer_no")["C0004"]["region"] == "西南"
    [delivery] = rows(stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                      (by_target["wms"]["id"],))
    assert delivery["status"] == "acked"
    again = stack.client("ops.zhao", "steward").post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "retry", "actor": "ops.zhao"})
    assert again.status_code == 409


def test_demo_sql_edits_the_demo_erp_started_from_this_folder(stack, tmp_path):
    import json
    import os
    import subprocess
    import sys

    (tmp_path / ".mdm" / "demo").mkdir(parents=True)
    (tmp_path / ".mdm" / "demo" / "demo.json").write_text(json.dumps({"erp_url": stack.erp_url, "hub_url": stack.hub_url}))
    result = subprocess.run(
        [sys.executable, "-m", "mdm.cli.main", "demo", "sql",
         "UPDATE supplier SET name = '苏州演示更名有限公司' WHERE code = 'S0004'"],
        cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "committed (1 row(s))" in result.stdout
    _settle(stack)
    assert _record(stack, "supplier", "S0004")["attributes"]["name"] == "苏州演示更名有限公司"
    elsewhere = subprocess.run([sys.executable, "-m", "mdm.cli.main", "demo", "sql", "SELECT 1"],
                               cwd=tmp_path / ".mdm", capture_output=True, text=True, timeout=60)
    assert elsewhere.returncode == 1 and "no running demo found" in elsewhere.stderr


def test_as_of_returns_the_version_valid_at_that_instant(stack):

    execute(stack.erp_url, "UPDATE customer SET region = '港澳台' WHERE code = 'C0006'")
    _settle(stack)
    execute(stack.erp_url, "UPDATE customer SET region = '海外' WHERE code = 'C0006'")
    _settle(stack)
    versions = rows(stack.hub_url, "SELECT version, valid_from, valid_to, attributes FROM golden_version "
                                   "WHERE golden_id = %s ORDER BY version", (_record(stack, "customer", "C0006")["id"],))
    older, newer = versions[-2], versions[-1]
    assert older["valid_to"] == newer["valid_from"]
    between = older["valid_from"] + (newer["valid_from"] - older["valid_from"]) / 2
    url = "/api/v1/records/customer/C0006/history"
    api = stack.client("auditor.kim", "auditor")
    assert [v["version"] for v in api.get(url, params={"as_of": between.isoformat()}).json()] == [older["version"]]
    exact = api.get(url, params={"as_of": newer["valid_from"].isoformat()}).json()
    assert [v["version"] for v in exact] == [newer["version"]]
    assert exact[0]["attributes"]["region"] == "海外"


def test_wms_status_comes_back_as_an_attribute_wms_owns_and_reaches_oa(stack):
    """The seed's "status returned" pattern: WMS answers each write with its stock_status; the
    hub keeps it as material.wms_status (owner: wms) and carries it to OA, not back to WMS."""
    _settle(stack)
    material = rows(stack.erp_url, "SELECT id, code FROM material WHERE active ORDER BY id LIMIT 1")[0]
    code = material["code"]
    assert _record(stack, "material", code)["attributes"]["wms_status"] == "待入库"
    execute(stack.pg.url("wms"), f"UPDATE wms_item SET stock_status = '在库' WHERE item_code = '{code}'")
    execute(stack.erp_url, f"UPDATE material SET standard_price = standard_price + 1 WHERE id = {material['id']}")
    _settle(stack)
    record = _record(stack, "material", code)
    assert record["attributes"]["wms_status"] == "在库"
    version = rows(stack.hub_url, "SELECT * FROM golden_version WHERE golden_id = %s AND version = %s",
                   (record["id"], record["version"]))[0]
    assert (version["cause_kind"], version["cause_source"]) == ("write_back", "wms")
    sent = {r["target"] for r in rows(stack.hub_url, "SELECT target FROM delivery WHERE golden_id = %s "
                                      "AND version = %s", (record["id"], record["version"]))}
    assert sent == {"oa"}  # WMS is not sent its own answer back
    assert target_rows(stack.pg.url("oa"), "oa_material", "material_code")[code]["wms_status"] == "在库"
    # an ERP edit afterwards keeps the value WMS owns
    execute(stack.erp_url, f"UPDATE material SET name = name || '·' WHERE id = {material['id']}")
    _settle(stack)
    assert _record(stack, "material", code)["attributes"]["wms_status"] == "在库"
    assert convergence_problems(PROJECT, stack.erp_url, stack.hub_url, _targets(stack)) == []


def test_a_written_back_version_keeps_rule_tasks_with_the_system_of_record(stack):
    """A write-back version is judged like any other; a rule it fails is the record's (erp),
    not a second task under the answering target's name."""
    _settle(stack)
    by_system = rows(stack.hub_url, "SELECT system, count(*) AS n FROM task WHERE type = 'rule_violation' "
                                    "GROUP BY system")
    assert {r["system"] for r in by_system} <= {"erp"}, by_system
