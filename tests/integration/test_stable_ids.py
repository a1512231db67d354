"""Ids stay stable across a crash (issue 11, item 9). Processing runs with
`synchronous_commit = off`: a commit can be acknowledged, seen by the propagator and pushed, then
lost if the server crashes before the WAL is flushed; the redo allocates other golden ids and
idempotency keys, so a queue consumer holds a record under an id the hub no longer has.

The crash window is a few hundred milliseconds and cannot be forced reliably, so this tests the
invariant the fix rests on, on the real stack: every transaction that writes what the outside
world sees — golden records and versions, deliveries, tasks — commits with synchronous_commit
on. A deferred constraint trigger runs at commit time inside the hub's own transaction and
records the setting in force then."""
from __future__ import annotations

import pytest

from mdm.demo.sync import wait_idle, wait_observed
from tests.helpers import eventually, execute, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

WATCHED = ("golden_record", "golden_version", "delivery", "task")
PROBE = """
CREATE TABLE commit_probe (table_name text NOT NULL, setting text NOT NULL, xid xid8 NOT NULL);
CREATE FUNCTION commit_probe_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commit_probe VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'),
                                     pg_current_xact_id());
    RETURN NULL;
END $$;
""" + "".join(f"""
CREATE CONSTRAINT TRIGGER commit_probe_{table} AFTER INSERT ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION commit_probe_record();
""" for table in WATCHED)
UNPROBE = "".join(f"DROP TRIGGER commit_probe_{table} ON {table};" for table in WATCHED) + """
DROP FUNCTION commit_probe_record();
DROP TABLE commit_probe;
"""


def _probed(hub_url: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for r in rows(hub_url, "SELECT table_name, setting FROM commit_probe"):
        found.setdefault(r["table_name"], set()).add(r["setting"])
    return found


@pytest.fixture()
def probe(stack):
    """The commit probe on the hub's tables, taken off again afterwards (a shared stack's hub
    goes on serving other modules)."""
    execute(stack.hub_url, PROBE)
    yield
    execute(stack.hub_url, UNPROBE)


def test_transactions_that_create_records_deliveries_or_tasks_commit_synchronously(stack, probe):
    # a new supplier (a golden record with a new id, its first version, deliveries to OA and
    # WMS) and a change to an existing one (a version and deliveries)
    execute(stack.erp_url,
            "INSERT INTO supplier (code, name, category) VALUES ('S-SYNC-1', '同步提交供应商', '原材料')",
            "UPDATE supplier SET name = '同步提交更名' WHERE code = 'S0002'")
    wait_idle(stack.erp_url, stack.hub_url)
    # a hand edit in OA's own database: a divergence task
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = '手工改名' "
                                "WHERE vendor_code = 'S-SYNC-1'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    assert eventually(lambda: "task" in _probed(stack.hub_url), timeout=60)
    probed = _probed(stack.hub_url)
    assert set(probed) == set(WATCHED), probed  # each kind of write was seen at its commit
    assert probed == {table: {"on"} for table in WATCHED}, probed

