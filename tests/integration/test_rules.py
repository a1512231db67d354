"""Rules on the demo project: every rule kind fires on a violating version and stays silent on a
valid one; quarantine holds back one record only; stewards release it; hand edits in OA and WMS
open divergence tasks while the hub's own writes open none. Real PostgreSQL, real Debezium,
real great-expectations, real demo OA/WMS."""
from __future__ import annotations

from typing import Any

import pytest

from mdm.demo.sync import wait_idle, wait_observed
from mdm.rules.uscc import uscc_check_digit
from tests.helpers import execute, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py


def _settle(stack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _observed(stack) -> None:
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wms")


def _current(stack, entity: str, key: str) -> dict[str, Any]:
    return rows(stack.hub_url,
                "SELECT g.id, g.version, g.attributes, v.quality, v.checks FROM golden_record g "
                "JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version "
                "WHERE g.entity = %s AND g.business_key = %s", (entity, key))[0]


def _failed_rules(stack, golden_id: int, version: int) -> set[str]:
    return {r["rule"] for r in rows(
        stack.hub_url, "SELECT rule FROM rule_result WHERE golden_id = %s AND version = %s "
        "AND outcome = 'failed'", (golden_id, version))}


def _open_tasks(stack, type_: str, entity: str, key: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM task WHERE type = %s AND entity = %s "
                "AND business_key = %s AND status = 'open'", (type_, entity, key))


def _oa(stack, table: str, column: str, key: str) -> dict[str, Any]:
    return rows(stack.pg.url("oa"), f"SELECT * FROM {table} WHERE {column} = %s", (key,))[0]


def _valid_uscc(stack, n: int) -> str:
    first17 = f"9131000{n:010d}"
    return first17 + uscc_check_digit(first17)


def _broken(uscc: str) -> str:
    return uscc[:17] + ("1" if uscc[17] == "0" else "0")


# Each case: (entity, key, SQL that violates, rule expected to fail, quality, SQL that is valid).
CASES = {
    "gx_in_set": ("material", "M-1003", "UPDATE material SET uom = '斤' WHERE code = 'M-1003'",
                  "expect_column_values_to_be_in_set:uom", "quarantined",
                  "UPDATE material SET uom = '千克' WHERE code = 'M-1003'"),
    "gx_between": ("material", "M-1004",
                   "UPDATE material SET standard_price = -5 WHERE code = 'M-1004'",
                   "expect_column_values_to_be_between:standard_price", "quarantined",
                   "UPDATE material SET standard_price = 5 WHERE code = 'M-1004'"),
    "gx_regex_on_child_rows": ("supplier", "S0006",
                               "UPDATE supplier_tax_identifier SET id_value = 'NOT-A-USCC' "
                               "WHERE id_type = 'USCC' AND supplier_id = "
                               "(SELECT id FROM supplier WHERE code = 'S0006')",
                               "uscc_format", "quarantined", None),
    "gx_unique_across_store": ("supplier", "S0008",
                               "UPDATE supplier SET name = (SELECT name FROM supplier WHERE "
                               "code = 'S0009') WHERE code = 'S0008'",
                               "expect_column_values_to_be_unique:name", "warning",
                               "UPDATE supplier SET name = '独一无二供应商' WHERE code = 'S0008'"),
    "uscc_check_digit": ("customer", "C0005", None, "uscc_check_digit:tax_id", "quarantined", None),
    "no_cycle": ("department", "D01",
                 "UPDATE department SET parent_id = (SELECT id FROM department WHERE parent_id = "
                 "(SELECT id FROM department WHERE code = 'D01') ORDER BY id LIMIT 1) "
                 "WHERE code = 'D01'",
                 "no_cycle:parent_id", "quarantined",
                 "UPDATE department SET parent_id = NULL WHERE code = 'D01'"),
    "reference_active": ("material", "M-1005",
                         "UPDATE material SET default_supplier_code = 'S9999' WHERE code = 'M-1005'",
                         "reference_active:default_supplier_code", "warning",
                         "UPDATE material SET default_supplier_code = 'S0001' WHERE code = 'M-1005'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_kind_fires_on_a_violation_and_is_silent_on_a_valid_version(stack, case):
    entity, key, bad_sql, rule, quality, good_sql = CASES[case]
    if case == "uscc_check_digit":
        good = _valid_uscc(stack, 40)
        bad_sql = f"UPDATE customer SET tax_id = '{_broken(good)}' WHERE code = '{key}'"
        good_sql = f"UPDATE customer SET tax_id = '{good}' WHERE code = '{key}'"
    if case == "gx_regex_on_child_rows":
        good_sql = ("UPDATE supplier_tax_identifier SET id_value = '" + _valid_uscc(stack, 41)
                    + "' WHERE id_type = 'USCC' AND supplier_id = "
                    "(SELECT id FROM supplier WHERE code = 'S0006')")
    execute(stack.erp_url, bad_sql)
    _settle(stack)
    bad = _current(stack, entity, key)
    assert bad["quality"] == quality
    assert rule in _failed_rules(stack, bad["id"], bad["version"])
    assert rule not in bad["checks"]
    [task] = _open_tasks(stack, "rule_violation", entity, key)
    assert task["version"] == bad["version"] and rule in task["summary"]

    execute(stack.erp_url, good_sql)
    _settle(stack)
    fixed = _current(stack, entity, key)
    assert fixed["version"] > bad["version"]
    assert fixed["quality"] == "ok", _failed_rules(stack, fixed["id"], fixed["version"])
    assert rule in fixed["checks"]
    assert _failed_rules(stack, fixed["id"], fixed["version"]) == set()
    assert _open_tasks(stack, "rule_violation", entity, key) == []  # released by the pass


def test_quarantine_holds_back_that_record_only_and_approval_releases_it(stack):
    good = _valid_uscc(stack, 42)
    bad = _broken(good)
    before = _oa(stack, "oa_customer", "customer_code", "C0007")
    execute(stack.erp_url,
            f"UPDATE customer SET tax_id = '{bad}', region = '华南' WHERE code = 'C0007'",
            "UPDATE customer SET region = '西北' WHERE code = 'C0008'")
    _settle(stack)
    held = _current(stack, "customer", "C0007")
    assert held["quality"] == "quarantined" and held["attributes"]["tax_id"] == bad
    assert rows(stack.hub_url, "SELECT * FROM delivery WHERE golden_id = %s AND version = %s",
                (held["id"], held["version"])) == []
    assert _oa(stack, "oa_customer", "customer_code", "C0007")["tax_id"] == before["tax_id"]
    assert _oa(stack, "oa_customer", "customer_code", "C0008")["region"] == "西北"  # others flow

    [task] = _open_tasks(stack, "rule_violation", "customer", "C0007")
    li = stack.client("steward.li", "steward")
    reply = li.post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "approve", "actor": "steward.li",
                             "reason": "confirmed with the customer"})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    assert _oa(stack, "oa_customer", "customer_code", "C0007")["tax_id"] == bad
    assert _current(stack, "customer", "C0007")["quality"] == "approved"
    [decision] = rows(stack.hub_url, "SELECT * FROM decision WHERE task_id = %s", (task["id"],))
    assert (decision["actor"], decision["action"], decision["reason"]) == (
        "steward.li", "approve", "confirmed with the customer")
    again = li.post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "approve", "actor": "steward.li"})
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]


def test_approving_a_warning_accepts_the_version_it_already_delivered(stack):
    """A warning's version went out when it was made; approving it sends nothing twice (it
    answered 500, a duplicate idempotency key, before)."""
    execute(stack.erp_url, "UPDATE material SET default_supplier_code = 'S9998' WHERE code = 'M-1006'")
    _settle(stack)
    warned = _current(stack, "material", "M-1006")
    assert warned["quality"] == "warning"
    sent = rows(stack.hub_url, "SELECT id FROM delivery WHERE golden_id = %s AND version = %s",
                (warned["id"], warned["version"]))
    assert sent
    [task] = _open_tasks(stack, "rule_violation", "material", "M-1006")
    reply = stack.client("steward.li", "steward").post(
        f"/api/v1/tasks/{task['id']}/resolve", json={"action": "approve", "reason": "known supplier"})
    assert reply.status_code == 200, reply.text
    assert _current(stack, "material", "M-1006")["quality"] == "approved"
    assert rows(stack.hub_url, "SELECT id FROM delivery WHERE golden_id = %s AND version = %s",
                (warned["id"], warned["version"])) == sent


def test_approve_with_edited_values_makes_a_version_caused_by_the_decision(stack):
    good = _valid_uscc(stack, 43)
    execute(stack.erp_url, f"UPDATE customer SET tax_id = '{_broken(good)}' WHERE code = 'C0009'")
    _settle(stack)
    [task] = _open_tasks(stack, "rule_violation", "customer", "C0009")
    reply = stack.client("steward.wang", "steward").post(f"/api/v1/tasks/{task['id']}/resolve",
                       json={"action": "approve_edited", "actor": "steward.wang",
                             "reason": "typo in the ERP", "values": {"tax_id": good}})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    record = _current(stack, "customer", "C0009")
    assert record["version"] == task["version"] + 1 and record["attributes"]["tax_id"] == good
    [version] = rows(stack.hub_url, "SELECT * FROM golden_version WHERE golden_id = %s AND "
                     "version = %s", (record["id"], record["version"]))
    assert (version["cause_kind"], version["cause_task_id"], version["cause_actor"]) == (
        "decision", task["id"], "steward.wang")
    assert _oa(stack, "oa_customer", "customer_code", "C0009")["tax_id"] == good
    [decision] = rows(stack.hub_url, "SELECT * FROM decision WHERE task_id = %s", (task["id"],))
    assert decision["after"] == {"tax_id": good} and decision["before"]["tax_id"] != good


def test_bad_resolutions_are_refused_and_change_nothing(stack):
    execute(stack.erp_url, "UPDATE material SET uom = '两', active = true WHERE code = 'M-1010'")
    _settle(stack)
    [task] = _open_tasks(stack, "rule_violation", "material", "M-1010")
    url = f"/api/v1/tasks/{task['id']}/resolve"
    x = stack.client("x", "steward")
    assert x.post(url, json={"action": "explode", "actor": "x"}).status_code == 422
    waive = x.post(url, json={"action": "waive", "actor": "x"})
    assert waive.status_code == 400 and "reason" in waive.json()["detail"]
    push = x.post(url, json={"action": "push", "actor": "x"})
    assert push.status_code == 400 and "allowed: approve, approve_edited, waive" in push.json()["detail"]
    edit = x.post(url, json={"action": "approve_edited", "actor": "x", "values": {"colour": 1}})
    assert edit.status_code == 400 and "colour" in edit.json()["detail"]
    assert x.post("/api/v1/tasks/999999/resolve",
                  json={"action": "waive", "actor": "x", "reason": "r"}).status_code == 404
    # as someone else, or as an auditor: refused
    assert x.post(url, json={"action": "waive", "actor": "steward.li", "reason": "r"}).status_code == 403
    auditor = stack.client("auditor.kim", "auditor")
    assert auditor.post(url, json={"action": "waive", "reason": "r"}).status_code == 403
    assert rows(stack.hub_url, "SELECT * FROM decision WHERE task_id = %s", (task["id"],)) == []
    assert _open_tasks(stack, "rule_violation", "material", "M-1010")[0]["id"] == task["id"]
    listed = auditor.get("/api/v1/tasks", params={"entity": "material"}).json()
    assert task["id"] in {t["id"] for t in listed["tasks"]} and listed["open"]["rule_violation"] >= 1
    ok = x.post(url, json={"action": "waive", "reason": "a unit we accept"})
    assert ok.status_code == 200 and ok.json()["status"] == "waived"


def _divergence_count(stack) -> int:
    return rows(stack.hub_url, "SELECT count(*) AS n FROM task WHERE type = 'divergence'")[0]["n"]


def test_hub_writes_open_no_divergence_and_hand_edits_open_exactly_one_each(stack):
    _observed(stack)
    before = _divergence_count(stack)
    delivered_before = rows(stack.hub_url, "SELECT count(*) AS n FROM delivery "
                            "WHERE status = 'acked'")[0]["n"]
    for round_ in range(6):  # a few hundred propagations to OA and WMS, all echoed back
        execute(stack.erp_url,
                f"UPDATE supplier SET phone = '021-6{round_:03d}' || lpad(id::text, 4, '0')",
                f"UPDATE material SET spec = spec || '·{round_}' WHERE id % 2 = {round_ % 2}",
                f"UPDATE employee SET title = '工程师{round_}'")
        _settle(stack)  # each round delivered before the next (none superseded)
    _observed(stack)
    delivered = rows(stack.hub_url, "SELECT count(*) AS n FROM delivery "
                     "WHERE status = 'acked'")[0]["n"] - delivered_before
    assert delivered >= 300
    assert _divergence_count(stack) == before, rows(
        stack.hub_url, "SELECT summary FROM task WHERE type = 'divergence'")

    golden_name = _current(stack, "supplier", "S0003")["attributes"]["name"]
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = '手改的名字' "
                                "WHERE vendor_code = 'S0003'")
    execute(stack.pg.url("wms"), "UPDATE wms_item SET item_name = '仓库手改' "
                                 "WHERE item_code = 'M-1020'")
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = ' ' || vendor_name || ' ' "
                                "WHERE vendor_code = 'S0004'")  # blanks only: normalised away
    # a seeded operator (E00..): records other modules on a shared stack renamed are not ours
    gone = rows(stack.pg.url("wms"), "SELECT operator_no FROM wms_operator WHERE is_active "
                "AND operator_no LIKE 'E00%%' ORDER BY operator_no DESC LIMIT 1")[0]["operator_no"]
    execute(stack.pg.url("wms"), f"DELETE FROM wms_operator WHERE operator_no = '{gone}'")
    _observed(stack)
    assert _divergence_count(stack) == before + 3
    [deleted] = _open_tasks(stack, "divergence", "employee", gone)
    assert deleted["system"] == "wms" and deleted["detail"]["kind"] == "deleted"
    [oa_task] = _open_tasks(stack, "divergence", "supplier", "S0003")
    assert oa_task["system"] == "oa"
    [field] = oa_task["detail"]["fields"]
    assert (field["field"], field["golden"], field["target"]) == (
        "vendor_name", golden_name, "手改的名字")
    assert oa_task["detail"]["at"] is not None
    [wms_task] = _open_tasks(stack, "divergence", "material", "M-1020")
    assert wms_task["system"] == "wms"
    assert wms_task["detail"]["fields"][0]["field"] == "item_name"

    reply = stack.client("steward.li", "steward").post(f"/api/v1/tasks/{oa_task['id']}/resolve",
                                                        json={"action": "push"})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    _observed(stack)
    assert _oa(stack, "oa_vendor", "vendor_code", "S0003")["vendor_name"] == golden_name
    assert _open_tasks(stack, "divergence", "supplier", "S0003") == []
    assert _divergence_count(stack) == before + 3  # the push's echo opened nothing


def test_rules_run_rejudges_current_records_and_prints_counts(stack):
    import os
    import subprocess
    import sys

    env = dict(os.environ, MDM_DATABASE_URL=stack.hub_url)
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "rules", "run", "material"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "current records judged" in done.stdout
    assert "expect_column_values_to_be_in_set:uom" in done.stdout
    total = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_record WHERE entity = "
                 "'material' AND status = 'active'")[0]["n"]
    assert f"material: {total} current records judged" in done.stdout


def test_an_edit_beside_a_failing_value_stays_quarantined_and_a_clean_one_passes_all(stack):
    """Rules whose inputs did not change are not re-run only when the previous version passed
    them: a failure is never carried over as a pass."""
    good = _valid_uscc(stack, 44)
    execute(stack.erp_url, f"UPDATE customer SET tax_id = '{_broken(good)}' WHERE code = 'C0011'")
    _settle(stack)
    first = _current(stack, "customer", "C0011")
    execute(stack.erp_url, "UPDATE customer SET region = '东北' WHERE code = 'C0011'")
    _settle(stack)
    second = _current(stack, "customer", "C0011")
    assert second["version"] == first["version"] + 1
    assert second["quality"] == "quarantined"
    assert "uscc_check_digit:tax_id" in _failed_rules(stack, second["id"], second["version"])
    [task] = _open_tasks(stack, "rule_violation", "customer", "C0011")
    assert task["version"] == second["version"]

    execute(stack.erp_url, "UPDATE customer SET region = '华北' WHERE code = 'C0012'")
    _settle(stack)
    clean = _current(stack, "customer", "C0012")
    assert clean["quality"] == "ok"
    every = {"expect_column_values_to_not_be_null:name",
             "expect_column_values_to_be_between:credit_limit", "uscc_check_digit:tax_id"}
    assert set(clean["checks"]) == every
