"""A business key that changes (an ERP rename of a code) renames the record at every target
instead of leaving the old one alive beside a new one; a key another active record holds is a
steward's task, never an overwrite at the targets. Real PostgreSQL, real Debezium, the real
demo OA (REST and its HR table, written directly) and WMS."""
from __future__ import annotations

from typing import Any

import pytest

from mdm.demo.sync import wait_idle
from mdm.rules.uscc import uscc_check_digit
from tests.helpers import eventually, execute, rows

# The session's demo stack (tests/conftest.py): the seeded records renamed here (S0020, E0020,
# E0021, E0022, C0020; C0013 only read) are ones no other shared module uses.
pytestmark = pytest.mark.shared_stack

# (entity, ERP table, target → (database, table, key column, active column))
COPIES = {
    "supplier": {"oa": ("oa", "oa_vendor", "vendor_code", "enabled"),
                 "wms": ("wms", "wms_supplier", "supplier_no", "is_active")},
    "employee": {"oa": ("oa", "oa_staff", "staff_no", "enabled"),
                 "oa_db": ("oa", "oa_hr_employee", "emp_no", "on_job"),
                 "wms": ("wms", "wms_operator", "operator_no", "is_active")},
}


def _settle(stack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)


def _copies(stack, entity: str, key: str) -> dict[str, list[dict[str, Any]]]:
    """Each target's rows of `entity` under `key`."""
    return {target: rows(stack.pg.url(db), f"SELECT * FROM {table} WHERE {column} = %s", (key,))
            for target, (db, table, column, _) in COPIES[entity].items()}


def _record(stack, entity: str, golden_id: int) -> dict[str, Any]:
    return rows(stack.hub_url, "SELECT * FROM golden_record WHERE id = %s", (golden_id,))[0]


def _golden_id(stack, entity: str, key: str) -> int:
    [found] = rows(stack.hub_url, "SELECT id FROM golden_record WHERE entity = %s AND "
                   "business_key = %s AND status = 'active'", (entity, key))
    return int(found["id"])


def test_erp_rename_leaves_one_active_record_under_the_new_key_at_every_target(stack):
    renames = {"supplier": ("S0020", "S9001"), "employee": ("E0020", "E9001")}
    before = {entity: _copies(stack, entity, old) for entity, (old, _) in renames.items()}
    for entity, (old, new) in renames.items():
        assert all(len(found) == 1 for found in before[entity].values()), before[entity]
        execute(stack.erp_url, f"UPDATE {entity} SET code = '{new}' WHERE code = '{old}'")
    _settle(stack)

    for entity, (old, new) in renames.items():
        assert _copies(stack, entity, old) == {t: [] for t in COPIES[entity]}, \
            f"{entity} {old} is still at a target after the rename to {new}"
        for target, found in _copies(stack, entity, new).items():
            active = COPIES[entity][target][3]
            assert [r[active] for r in found] == [True], (entity, target, found)
            # the target's own record was renamed, not a second one created
            id_column = "emp_id" if target == "oa_db" else "id"
            assert found[0][id_column] == before[entity][target][0][id_column], (entity, target)
        [record] = rows(stack.hub_url, "SELECT * FROM golden_record WHERE entity = %s AND "
                        "business_key IN (%s, %s)", (entity, old, new))
        assert record["business_key"] == new and record["status"] == "active"

    # a second rename, and a name change riding on it, follow the same record
    execute(stack.erp_url, "UPDATE supplier SET code = 'S9002', name = name || '（再更名）' "
            "WHERE code = 'S9001'")
    _settle(stack)
    assert _copies(stack, "supplier", "S9001") == {"oa": [], "wms": []}
    renamed = _copies(stack, "supplier", "S9002")
    assert renamed["oa"][0]["vendor_name"].endswith("（再更名）")
    assert renamed["wms"][0]["supplier_name"].endswith("（再更名）")


def test_rename_onto_a_key_another_active_record_holds_is_a_task_and_overwrites_nothing(stack):
    holder, mover = "E0021", "E0022"
    holder_copies = _copies(stack, "employee", holder)
    holder_id, mover_id = _golden_id(stack, "employee", holder), _golden_id(stack, "employee", mover)
    mover_row = _record(stack, "employee", mover_id)["source_key"]
    # an ERP without a unique index on the code (the demo ERP has one: drop it for this test)
    execute(stack.erp_url, "ALTER TABLE employee DROP CONSTRAINT employee_code_key")
    try:
        execute(stack.erp_url, f"UPDATE employee SET code = '{holder}', name = '冲突者' "
                f"WHERE code = '{mover}'")
        _settle(stack)
        [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'key_clash' AND "
                      "status = 'open' AND entity = 'employee' AND golden_id = %s", (mover_id,))
        assert task["business_key"] == holder and holder in task["summary"]
        assert task["detail"]["held_by"]["golden_id"] == holder_id
        # the holder's copies are untouched at every target; the mover waits where it was
        assert _copies(stack, "employee", holder) == holder_copies
        assert all(len(found) == 1 for found in _copies(stack, "employee", mover).values())
        [version] = rows(stack.hub_url, "SELECT quality FROM golden_version WHERE golden_id = %s "
                         "AND version = %s", (mover_id, task["version"]))
        assert version["quality"] == "quarantined"

        # the ERP gives the mover a key of its own: it is renamed at the targets, the task closes
        execute(stack.erp_url, f"UPDATE employee SET code = 'E9003' WHERE id = {mover_row}")
        _settle(stack)
        assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM task WHERE id = %s",
                                       (task["id"],))[0]["status"] == "resolved", timeout=60)
        assert _copies(stack, "employee", mover) == {t: [] for t in COPIES["employee"]}
        assert all(found[0]["staff_name" if t == "oa" else "emp_name" if t == "oa_db"
                         else "operator_name"] == "冲突者"
                   for t, found in _copies(stack, "employee", "E9003").items())
        assert _copies(stack, "employee", holder) == holder_copies
    finally:
        execute(stack.erp_url, f"UPDATE employee SET code = 'E9003' WHERE id = {mover_row} "
                "AND code <> 'E9003'",
                "ALTER TABLE employee ADD CONSTRAINT employee_code_key UNIQUE (code)")


def _broken_uscc(n: int) -> str:
    first17 = f"9131000{n:010d}"
    digit = uscc_check_digit(first17)
    return first17 + ("1" if digit == "0" else "0")


def test_approve_edited_to_a_key_another_record_holds_is_refused(stack):
    held, other = "C0013", "C0020"
    execute(stack.erp_url, f"UPDATE customer SET tax_id = '{_broken_uscc(61)}' WHERE code = '{other}'")
    _settle(stack)
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'rule_violation' AND "
                  "status = 'open' AND entity = 'customer' AND business_key = %s", (other,))
    golden_id = int(task["golden_id"])
    steward = stack.client("steward.wang", "steward")
    url = f"/api/v1/tasks/{task['id']}/resolve"
    reply = steward.post(url, json={"action": "approve_edited", "actor": "steward.wang",
                                    "reason": "merge codes", "values": {"code": held}})
    assert reply.status_code == 409, reply.text
    detail = reply.json()["detail"]
    assert f"business key {held}" in detail and "another active customer" in detail, detail
    assert _record(stack, "customer", golden_id)["version"] == task["version"]
    assert rows(stack.hub_url, "SELECT status FROM task WHERE id = %s", (task["id"],))[0]["status"] == "open"

    # a key no one holds is accepted, and the decision renames the record at the targets
    first17 = "91310000000000062"
    reply = steward.post(url, json={"action": "approve_edited", "actor": "steward.wang",
                                    "reason": "new code", "values": {
                                        "code": "C9062", "tax_id": first17 + uscc_check_digit(first17)}})
    assert reply.status_code == 200, reply.text
    _settle(stack)
    oa = stack.pg.url("oa")
    assert rows(oa, "SELECT * FROM oa_customer WHERE customer_code = %s", (other,)) == []
    assert len(rows(oa, "SELECT * FROM oa_customer WHERE customer_code = 'C9062'")) == 1
