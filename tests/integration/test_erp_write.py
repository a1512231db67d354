"""Change requests written into the ERP (`write_method: sql` in cdc/erp.yaml): a steward accepts
OA's hand-edited value; the hub updates the ERP's row in one transaction, capture brings that
commit back, and the new golden version cites the very transaction the request records. WMS
receives the accepted value; OA's copy no longer diverges."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import execute, rows


def _project(root: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    erp = root / "cdc/erp.yaml"
    text = erp.read_text(encoding="utf-8")
    assert "\nwrite_method: none\n" in text
    erp.write_text(text.replace("\nwrite_method: none\n", "\nwrite_method: sql\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def writing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = _project(tmp_path_factory.mktemp("project"))
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project) as s:
        yield s


def _divergence(stack: DemoStack, code: str, name: str) -> dict:
    execute(stack.pg.url("oa"), f"UPDATE oa_vendor SET vendor_name = '{name}' WHERE vendor_code = '{code}'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    [task] = rows(stack.hub_url, "SELECT * FROM task WHERE type = 'divergence' AND status = 'open' "
                                 "AND business_key = %s AND system = 'oa'", (code,))
    return task


def test_an_accepted_change_request_is_written_to_the_erp_and_comes_back_as_its_commit(writing):
    task = _divergence(writing, "S0005", "OA里改对的供应商名")
    steward = writing.client("steward.li", "steward")
    reply = steward.post(f"/api/v1/tasks/{task['id']}/resolve",
                         json={"action": "change_request", "reason": "OA 的名称是工商登记名"})
    assert reply.status_code == 200, reply.text
    [request] = reply.json()["change_requests"]
    assert request["status"] == "applied" and request["error"] is None
    assert request["attribute"] == "name"
    tx_id = request["erp_tx_id"]
    assert rows(writing.erp_url, "SELECT name FROM supplier WHERE code = 'S0005'")[0]["name"] == "OA里改对的供应商名"
    wait_idle(writing.erp_url, writing.hub_url)
    [latest] = steward.get("/api/v1/records/supplier/S0005/history", params={"limit": 1}).json()
    assert latest["attributes"]["name"] == "OA里改对的供应商名"
    assert (latest["cause"]["kind"], latest["cause"]["tx_id"]) == ("change_event", tx_id)
    wms = rows(writing.pg.url("wms"), "SELECT supplier_name FROM wms_supplier WHERE supplier_no = 'S0005'")
    assert wms == [{"supplier_name": "OA里改对的供应商名"}]
    assert rows(writing.hub_url, "SELECT id FROM task WHERE type = 'divergence' AND status = 'open' "
                                 "AND business_key = 'S0005'") == []
    [entry] = rows(writing.hub_url, "SELECT actor, reason FROM audit_log WHERE action = 'change_request_applied' "
                                    "AND subject = 'supplier S0005'")
    assert entry["actor"] == "steward.li" and str(tx_id) in entry["reason"]
    exported = steward.get("/api/v1/change-requests", params={"status": "applied"}).json()
    assert [(r["business_key"], r["erp_tx_id"]) for r in exported] == [("S0005", tx_id)]
    # the CLI exports the same for the ERP team, through the hub's API as an auditor
    csv_path = writing.state_dir / "applied.csv"
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "tasks", "change-requests",
                           "--status", "applied", "--csv", str(csv_path)], capture_output=True, text=True,
                          env={**writing.env(), "MDM_API_URL": writing.api_url,
                               "MDM_TOKEN": writing.token("auditor.erp", "auditor")}, timeout=60)
    assert done.returncode == 0, done.stderr
    [header, row] = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert dict(zip(header, row))["erp_tx_id"] == str(tx_id)
    assert dict(zip(header, row))["requested_value"] == "OA里改对的供应商名"


def test_a_request_the_erp_refuses_stays_open_with_its_reason(writing):
    task = _divergence(writing, "S0006", "ERP不接受的名字")
    # the ERP refuses the update (a check constraint its own team added); nothing else changes
    execute(writing.erp_url, "ALTER TABLE supplier ADD CONSTRAINT no_refused_names "
                             "CHECK (name <> 'ERP不接受的名字') NOT VALID")
    try:
        reply = writing.client("steward.li", "steward").post(
            f"/api/v1/tasks/{task['id']}/resolve", json={"action": "change_request"})
    finally:
        execute(writing.erp_url, "ALTER TABLE supplier DROP CONSTRAINT no_refused_names")
    assert reply.status_code == 200, reply.text
    [request] = reply.json()["change_requests"]
    assert request["status"] == "open" and "no_refused_names" in request["error"]
    assert rows(writing.erp_url, "SELECT name FROM supplier WHERE code = 'S0006'")[0]["name"] != "ERP不接受的名字"
    [kept] = rows(writing.hub_url, "SELECT status, error FROM change_request WHERE business_key = 'S0006'")
    assert kept["status"] == "open" and "no_refused_names" in kept["error"]
