"""`mdm resync ENTITY [KEY…]` re-reads an entity, or some of its records, from the ERP while
capture goes on: each row read again goes through processing, so unchanged records make no
version. This hub keeps its snapshot watermarks in a signal table (`signal_table:` in
cdc/erp.yaml), which capture creates, publishes and keeps out of the inbox. Real PostgreSQL,
real Debezium, the demo OA/WMS."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import convergence_problems, edit_file, eventually, execute, rows, target_databases
from tests.integration.test_incremental_snapshot import snapshot_reads

FINISHED = ("done", "failed")

SUPPLIER_TABLES = ("public.supplier", "public.supplier_bank_account",
                   "public.supplier_tax_identifier")
ATTEMPTS = 4  # snapshot_attempts in this hub's cdc/erp.yaml


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, Path]]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    edit_file(project / "cdc/erp.yaml", "\nslot: mdm_erp\n",
              f"\nslot: mdm_erp\nsignal_table: public.mdm_signal\nsnapshot_attempts: {ATTEMPTS}\n")
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project) as stack:
        yield stack, project


def resync(stack: DemoStack, project: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", "resync", *args,
                           "--project", str(project)], env=stack.env(), capture_output=True,
                          text=True, timeout=400, check=True).stdout


def _versions(hub_url: str) -> dict[tuple[str, str], int]:
    return {(r["entity"], r["business_key"]): r["version"] for r in rows(
        hub_url, "SELECT entity, business_key, version FROM golden_record")}


def _rows_of(erp_url: str, code: str) -> dict[str, int]:
    [counts] = rows(erp_url, """
        SELECT (SELECT count(*) FROM supplier_bank_account b WHERE b.supplier_id = s.id) AS banks,
               (SELECT count(*) FROM supplier_tax_identifier t WHERE t.supplier_id = s.id) AS taxes
        FROM supplier s WHERE s.code = %s""", (code,))
    return {"public.supplier": 1, "public.supplier_bank_account": counts["banks"],
            "public.supplier_tax_identifier": counts["taxes"]}


def _read_again(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: after.get(t, 0) - n for t, n in before.items() if after.get(t, 0) != n}


def test_resync_of_one_record_rereads_its_rows_and_makes_no_version(hub):
    stack, project = hub
    before, versions = snapshot_reads(stack.hub_url), _versions(stack.hub_url)
    out = resync(stack, project, "supplier", "S0003", "--wait")
    assert re.search(r"resync #\d+ done", out), out
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    expected = {t: n for t, n in _rows_of(stack.erp_url, "S0003").items() if n}
    assert _read_again(before, snapshot_reads(stack.hub_url)) == expected
    assert _versions(stack.hub_url) == versions  # the same rows: no version anywhere


def test_resync_of_an_entity_rereads_it_while_capture_goes_on(hub):
    stack, project = hub
    before, versions = snapshot_reads(stack.hub_url), _versions(stack.hub_url)
    out = resync(stack, project, "supplier")
    request = int(re.search(r"resync #(\d+) queued", out).group(1))  # type: ignore[union-attr]
    # capture streams changes while it re-reads: these reach the hub as they happen
    execute(stack.erp_url, "UPDATE supplier SET name = name || '·重读中' WHERE code = 'S0007'",
            "UPDATE material SET name = name || '·重读中' WHERE code = 'M-1004'")
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM snapshot_request WHERE "
                                                  "id = %s", (request,))[0]["status"] == "done",
                      300)
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)

    erp_rows = {t: rows(stack.erp_url, f"SELECT count(*) AS n FROM {t}")[0]["n"]
                for t in SUPPLIER_TABLES}
    read_again = _read_again(before, snapshot_reads(stack.hub_url))
    # S0007's snapshot read is dropped when its update streams in within the same window
    # (Debezium's watermarks: the streamed change is newer); otherwise every row is read again
    assert read_again.pop("public.supplier") in (erp_rows["public.supplier"] - 1,
                                                 erp_rows["public.supplier"])
    assert read_again == {t: n for t, n in erp_rows.items() if t != "public.supplier"}
    changed = {k for k, v in _versions(stack.hub_url).items() if versions.get(k) != v}
    assert changed == {("supplier", "S0007"), ("material", "M-1004")}
    assert rows(stack.hub_url, "SELECT attributes->>'name' AS name FROM golden_record WHERE "
                               "entity = 'supplier' AND business_key = 'S0007'")[0]["name"].endswith("·重读中")
    assert convergence_problems(load_project(project), stack.erp_url, stack.hub_url,
                                target_databases(stack)) == []
    progress = {r["table_name"]: r for r in rows(
        stack.hub_url, "SELECT * FROM snapshot_progress WHERE kind = 'incremental' AND "
                       "request_id = %s", (request,))}
    assert {t: p["state"] for t, p in progress.items()} == dict.fromkeys(erp_rows, "done")
    assert progress["public.supplier_bank_account"]["rows"] == erp_rows["public.supplier_bank_account"]
    assert progress["public.supplier"]["rows"] >= erp_rows["public.supplier"] - 1


def test_the_signal_table_is_created_published_and_kept_out_of_the_inbox(hub):
    stack, _ = hub
    assert rows(stack.erp_url, "SELECT to_regclass('public.mdm_signal') AS t")[0]["t"] is not None
    published = {r["tablename"] for r in rows(
        stack.erp_url, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'mdm_erp'")}
    assert "mdm_signal" in published
    # the resyncs above wrote their signals and windows' watermarks there
    assert rows(stack.erp_url, "SELECT count(*) AS n FROM mdm_signal")[0]["n"] >= 2
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE table_name = "
                               "'public.mdm_signal'")[0]["n"] == 0
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM snapshot_progress WHERE table_name "
                               "= 'public.mdm_signal'")[0]["n"] == 0


def test_resync_of_an_unknown_entity_fails_naming_the_entities(hub):
    stack, project = hub
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "resync", "suplier",
                           "--project", str(project)], env=stack.env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "no entity 'suplier'" in done.stderr and "supplier" in done.stderr


def test_a_request_handed_to_an_engine_that_stopped_is_sent_again_at_the_next_start(hub):
    stack, project = hub
    stack.stop_process("hub")
    # as if the engine had taken the signal and died before starting the snapshot
    [request] = rows(stack.hub_url, """
        INSERT INTO snapshot_request (source, reason, entity, keys, tables, conditions, status,
                                      sent_at)
        VALUES ('erp', 'resync', 'customer', '["C0002"]', ARRAY['public.customer'],
                '{"public.customer": "CAST(\\"code\\" AS text) IN (''C0002'')"}', 'sent',
                clock_timestamp()) RETURNING id""")
    before = snapshot_reads(stack.hub_url)
    stack.start_hub()
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM snapshot_request WHERE "
                                                  "id = %s", (request["id"],))[0]["status"] == "done",
                      300)
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    assert _read_again(before, snapshot_reads(stack.hub_url)) == {"public.customer": 1}


def test_a_request_the_running_engine_never_started_is_sent_again(hub):
    stack, _ = hub
    # an initial snapshot's progress an earlier engine left open holds nothing up
    execute(stack.hub_url, "INSERT INTO snapshot_progress (source, table_name, kind, state, "
                           "started_at, updated_at) VALUES ('erp', 'public.left_open', "
                           "'initial', 'running', clock_timestamp() - interval '10 minutes', "
                           "clock_timestamp() - interval '10 minutes')")
    # as if Debezium had restarted its task inside the engine and lost the queued signal
    [request] = rows(stack.hub_url, """
        INSERT INTO snapshot_request (source, reason, entity, keys, tables, conditions, status,
                                      sent_at)
        VALUES ('erp', 'resync', 'customer', '["C0003"]', ARRAY['public.customer'],
                '{"public.customer": "CAST(\\"code\\" AS text) IN (''C0003'')"}', 'sent',
                clock_timestamp() - interval '10 minutes') RETURNING id""")
    before = snapshot_reads(stack.hub_url)
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM snapshot_request WHERE "
                                                  "id = %s", (request["id"],))[0]["status"] == "done",
                      300)
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    assert _read_again(before, snapshot_reads(stack.hub_url)) == {"public.customer": 1}
    assert "not started by the engine" in _request(stack.hub_url, request["id"])["error"]
    execute(stack.hub_url, "DELETE FROM snapshot_progress WHERE table_name = 'public.left_open'")


# -- a snapshot query that fails: the request is sent again, and given up after its attempts --
GATE_SQL = """
    CREATE TABLE IF NOT EXISTS mdm_test_gate (name text PRIMARY KEY, closed boolean NOT NULL);
    CREATE OR REPLACE FUNCTION mdm_test_gate(gate text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM mdm_test_gate g WHERE g.name = gate AND g.closed) THEN
            RAISE EXCEPTION 'test gate % is closed', gate;
        END IF;
        RETURN true;
    END $$"""


def _gated_request(stack: DemoStack, gate: str, code: str) -> int:
    """A resync of one customer whose snapshot query fails while `gate` is closed (its
    condition calls a function on the ERP that raises): Debezium skips the table with
    SQL_EXCEPTION, exactly as when its connection drops."""
    execute(stack.erp_url, GATE_SQL, f"INSERT INTO mdm_test_gate VALUES ('{gate}', true) "
                                     "ON CONFLICT (name) DO UPDATE SET closed = true")
    conditions = {"public.customer": f"mdm_test_gate('{gate}') AND CAST(\"code\" AS text) "
                                     f"IN ('{code}')"}
    [request] = rows(stack.hub_url, """
        INSERT INTO snapshot_request (source, reason, entity, keys, tables, conditions)
        VALUES ('erp', 'resync', 'customer', %s, ARRAY['public.customer'], %s) RETURNING id""",
                     (Jsonb([code]), Jsonb(conditions)))
    return int(request["id"])


def _request(hub_url: str, request_id: int) -> dict[str, Any]:
    return rows(hub_url, "SELECT * FROM snapshot_request WHERE id = %s", (request_id,))[0]


def test_a_request_whose_snapshot_query_failed_is_sent_again_and_completes(hub):
    stack, _ = hub
    before = snapshot_reads(stack.hub_url)
    request = _gated_request(stack, "once", "C0005")
    assert eventually(lambda: "SQL_EXCEPTION" in (_request(stack.hub_url, request)["error"]
                                                  or ""), 300), _request(stack.hub_url, request)
    execute(stack.erp_url, "UPDATE mdm_test_gate SET closed = false WHERE name = 'once'")
    assert eventually(lambda: _request(stack.hub_url, request)["status"] in FINISHED, 300)
    done = _request(stack.hub_url, request)
    assert done["status"] == "done", done
    assert "public.customer skipped by Debezium (SQL_EXCEPTION)" in done["error"]
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    assert _read_again(before, snapshot_reads(stack.hub_url)) == {"public.customer": 1}


def test_a_request_that_keeps_failing_ends_failed_and_the_next_one_completes(hub):
    stack, project = hub
    stuck = _gated_request(stack, "always", "C0006")
    # queued behind it: it goes on once the stuck one has given up
    out = resync(stack, project, "customer", "C0007", "--wait")
    assert re.search(r"resync #\d+ done: rows re-read public.customer 1", out), out
    failed = _request(stack.hub_url, stuck)
    assert failed["status"] == "failed", failed
    assert failed["error"].startswith(f"not completed in {ATTEMPTS} attempts (")
    assert "public.customer skipped by Debezium (SQL_EXCEPTION)" in failed["error"]
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "mdm.cli.main", "status", "--json", "--project", str(project)],
        env=stack.env(), capture_output=True, text=True, timeout=120, check=True).stdout)
    [shown] = [r for r in status["snapshot_requests"] if r["id"] == stuck]
    assert shown["status"] == "failed" and shown["error"] == failed["error"]


# -- rows deleted at the source while the hub did not see it -----------------------------------
def _gap_deletes(stack: DemoStack, *statements: str) -> None:
    """Run `statements` on the ERP so that capture never sees them: the hub is down and the
    replication slot is moved past them (as when a slot is dropped and made again)."""
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    stack.stop_process("hub")
    execute(stack.erp_url, *statements)
    execute(stack.erp_url, "SELECT pg_replication_slot_advance('mdm_erp', pg_current_wal_lsn())")
    stack.start_hub()
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)


def _golden_supplier(hub_url: str, code: str) -> dict[str, Any]:
    return rows(hub_url, "SELECT g.status, g.attributes, v.cause_op, v.cause_table FROM "
                         "golden_record g JOIN golden_version v ON v.golden_id = g.id AND "
                         "v.version = g.version WHERE g.entity = 'supplier' AND "
                         "g.business_key = %s", (code,))[0]


def test_an_entity_resync_retires_records_whose_rows_were_deleted_unseen(hub):
    stack, project = hub
    bank = "(SELECT min(b.id) FROM supplier_bank_account b WHERE b.supplier_id = s.id " \
           "AND b.active)"
    # one no material names (its delete would change them too), one that keeps its record
    [gone, kept] = [rows(stack.erp_url, f"""
        SELECT s.code, {bank} AS bank FROM supplier s WHERE s.active AND {bank} IS NOT NULL
          AND {condition} ORDER BY s.code LIMIT 1""")[0] for condition in (
        "NOT EXISTS (SELECT 1 FROM material m WHERE m.default_supplier_id = s.id "
        "OR m.default_supplier_code = s.code)",
        "EXISTS (SELECT 1 FROM material m WHERE m.default_supplier_id = s.id)")]
    _gap_deletes(stack, f"DELETE FROM supplier WHERE code = '{gone['code']}'",  # cascades
                 f"DELETE FROM supplier_bank_account WHERE id = {kept['bank']}")
    assert _golden_supplier(stack.hub_url, gone["code"])["status"] == "active"  # unseen so far
    versions = _versions(stack.hub_url)

    out = resync(stack, project, "supplier", "--wait")
    assert re.search(r"resync #\d+ done", out), out
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    record = _golden_supplier(stack.hub_url, gone["code"])
    assert (record["status"], record["cause_op"], record["cause_table"]) == (
        "retired", "d", "public.supplier")  # as its captured delete would have
    changed = {k for k, v in _versions(stack.hub_url).items() if versions.get(k) != v}
    assert changed == {("supplier", gone["code"]), ("supplier", kept["code"])}
    # the other supplier lost only its deleted bank account; the targets follow the ERP
    assert convergence_problems(load_project(project), stack.erp_url, stack.hub_url,
                                target_databases(stack)) == []
