"""Project changes on a running hub: an entity and a child list added to the project load the
existing rows of just their tables (a Debezium incremental snapshot, read-only: nothing is
written in the ERP), and no other table is snapshotted again; `mdm status` and /metrics show
each table's snapshot. Real PostgreSQL, real Debezium, the demo OA/WMS."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import convergence_problems, edit_file, eventually, execute, rows, target_databases

NEW_TABLES = ("public.supplier_contact", "public.warehouse")
WAREHOUSE = """\
entity: warehouse
description: Warehouses, added to the project while the hub runs.
source: erp
table: public.warehouse
primary_key: id
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
  city: {type: string}
"""
CONTACTS = """children:
  contacts:
    table: public.supplier_contact
    parent_column: supplier_id
    attributes:
      contact_name: {type: string}
      phone: {type: string}
    order_by: contact_name
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, Path]]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project) as stack:
        yield stack, project


def snapshot_reads(hub_url: str) -> dict[str, int]:
    """Snapshot reads (op 'r') in the inbox per ERP table."""
    return {r["table_name"]: r["n"] for r in rows(
        hub_url, "SELECT table_name, count(*) AS n FROM inbox WHERE source = 'erp' AND op = 'r' "
                 "GROUP BY table_name")}


def finished_request(hub_url: str, reason: str, timeout: float = 300) -> dict[str, Any]:
    def finished() -> bool:
        return bool(rows(hub_url, "SELECT 1 FROM snapshot_request WHERE reason = %s AND status "
                                  "IN ('done', 'failed')", (reason,)))

    assert eventually(finished, timeout), rows(hub_url, "SELECT * FROM snapshot_request")
    [request] = rows(hub_url, "SELECT * FROM snapshot_request WHERE reason = %s", (reason,))
    return request


def _add_tables_to_the_erp(stack: DemoStack) -> None:
    """Tables the hub does not capture yet, with rows: written while it runs, never streamed."""
    execute(stack.erp_url,
            "CREATE TABLE warehouse (id serial PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, "
            "name text, city text)",
            "INSERT INTO warehouse (code, name, city) SELECT 'WH' || lpad(g::text, 2, '0'), "
            "'仓库 ' || g, CASE WHEN g % 2 = 0 THEN '苏州' ELSE '上海' END "
            "FROM generate_series(1, 12) g",
            "CREATE TABLE supplier_contact (id serial PRIMARY KEY, supplier_id integer NOT NULL "
            "REFERENCES supplier(id), contact_name text, phone text)",
            "INSERT INTO supplier_contact (supplier_id, contact_name, phone) "
            "SELECT s.id, n || '号联系人', '1380000' || lpad((s.id * 10 + n)::text, 4, '0') "
            "FROM (SELECT id FROM supplier ORDER BY id LIMIT 5) s, generate_series(1, 2) n")


def test_an_entity_and_a_child_list_added_to_a_running_hub_load_only_their_tables(hub):
    stack, project = hub
    _add_tables_to_the_erp(stack)
    before = snapshot_reads(stack.hub_url)
    assert before["public.supplier"] == 25 and not set(NEW_TABLES) & set(before)
    versions_before = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"]

    (project / "golden_records/warehouse.yaml").write_text(WAREHOUSE, encoding="utf-8")
    edit_file(project / "golden_records/supplier.yaml", "children:\n", CONTACTS)
    stack.stop_process("hub")
    stack.start_hub()
    request = finished_request(stack.hub_url, "new_tables")
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)

    assert request["status"] == "done" and request["source"] == "erp"
    assert request["tables"] == list(NEW_TABLES)  # child lists before main tables
    after = snapshot_reads(stack.hub_url)
    assert {t: n for t, n in after.items() if t not in NEW_TABLES} == before  # nothing re-read
    assert after["public.warehouse"] == 12 and after["public.supplier_contact"] == 10
    warehouses = rows(stack.hub_url, "SELECT business_key, attributes FROM golden_record "
                                     "WHERE entity = 'warehouse' ORDER BY business_key")
    assert len(warehouses) == 12
    assert warehouses[1]["attributes"] == {"code": "WH02", "name": "仓库 2", "city": "苏州"}
    with_contacts = rows(stack.hub_url, "SELECT attributes FROM golden_record WHERE entity = "
                                        "'supplier' AND jsonb_array_length(attributes->'contacts') > 0")
    assert len(with_contacts) == 5
    assert all(len(r["attributes"]["contacts"]) == 2 for r in with_contacts)
    # the five suppliers with contacts got a version; no other record did
    versions = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"]
    assert versions == versions_before + 12 + 5
    # Only the new list's table was read: a supplier without contacts keeps its version, which
    # has no `contacts` yet (`mdm resync supplier` would give each an empty list).
    problems = convergence_problems(load_project(project), stack.erp_url, stack.hub_url,
                                    target_databases(stack))
    assert [p for p in problems if "{'contacts': ([], None)}" not in p] == []
    assert len(problems) == 20
    published = {r["tablename"] for r in rows(
        stack.erp_url, "SELECT tablename FROM pg_publication_tables WHERE pubname = 'mdm_erp'")}
    assert {"warehouse", "supplier_contact"} <= published


def test_a_restart_without_project_changes_snapshots_nothing(hub):
    stack, _ = hub
    before = snapshot_reads(stack.hub_url)
    requests = rows(stack.hub_url, "SELECT count(*) AS n FROM snapshot_request")[0]["n"]
    stack.stop_process("hub")
    stack.start_hub()
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    assert snapshot_reads(stack.hub_url) == before
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM snapshot_request")[0]["n"] == requests


def _status_json(stack: DemoStack, project: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "mdm.cli.main", "status", "--json",
                          "--project", str(project)], env=stack.env(), capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out)


def test_status_shows_each_tables_initial_and_incremental_snapshot(hub):
    stack, project = hub
    status = _status_json(stack, project)
    snapshots = {(s["source"], s["table"], s["kind"]): s for s in status["snapshots"]}
    supplier = snapshots[("erp", "public.supplier", "initial")]
    assert supplier["state"] == "done" and supplier["rows"] == 25
    warehouse = snapshots[("erp", "public.warehouse", "incremental")]
    assert warehouse["state"] == "done" and warehouse["rows"] == 12
    assert warehouse["request_id"] is not None and warehouse["finished_at"] is not None
    assert snapshots[("erp", "public.supplier_contact", "incremental")]["rows"] == 10
    assert ("erp", "public.supplier", "incremental") not in snapshots
    assert snapshots[("oa", "public.oa_vendor", "initial")]["state"] == "done"
    [request] = [r for r in status["snapshot_requests"] if r["reason"] == "new_tables"]
    assert request["status"] == "done" and request["tables"] == list(NEW_TABLES)

    printed = subprocess.run([sys.executable, "-m", "mdm.cli.main", "status", "--project",
                              str(project)], env={**stack.env(), "COLUMNS": "200"},
                             capture_output=True, text=True, timeout=120, check=True).stdout
    line = next(text for text in printed.splitlines() if "public.warehouse" in text)
    assert "incremental" in line and "done" in line and "12" in line

    metrics = stack.client().get("/metrics").text
    assert ('mdm_snapshot_rows{kind="incremental",source="erp",table="public.warehouse"} 12.0'
            in metrics)
    assert ('mdm_snapshot_in_progress{kind="incremental",source="erp",table="public.warehouse"} '
            '0.0' in metrics)


def test_resync_of_a_record_on_a_read_only_hub_writes_nothing_in_the_erp(hub):
    stack, project = hub
    before = snapshot_reads(stack.hub_url)
    versions = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"]
    out = subprocess.run([sys.executable, "-m", "mdm.cli.main", "resync", "warehouse", "WH03",
                          "--wait", "--project", str(project)], env=stack.env(),
                         capture_output=True, text=True, timeout=400, check=True).stdout
    assert "done: rows re-read public.warehouse 1" in out
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    after = snapshot_reads(stack.hub_url)
    assert {t: after[t] - n for t, n in before.items() if after[t] != n} == {"public.warehouse": 1}
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"] == versions
    erp_tables = {r["tablename"] for r in rows(
        stack.erp_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert not {t for t in erp_tables if "signal" in t}


def test_resync_after_a_new_child_list_gives_every_record_the_list(hub):
    stack, project = hub
    without = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_record WHERE entity = "
                                  "'supplier' AND NOT attributes ? 'contacts'")[0]["n"]
    assert without == 20
    subprocess.run([sys.executable, "-m", "mdm.cli.main", "resync", "supplier", "--wait",
                    "--project", str(project)], env=stack.env(), capture_output=True,
                   text=True, timeout=400, check=True)
    wait_idle(stack.erp_url, stack.hub_url, timeout=180)
    assert convergence_problems(load_project(project), stack.erp_url, stack.hub_url,
                                target_databases(stack)) == []
