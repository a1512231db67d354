"""Bad input gets a clear error and loses nothing: a bad project file stops `mdm check` and
start-up naming file and key; an unmappable row is kept as failed, the rest flow on."""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm.config.loader import load_project
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import execute, rows


def _copy_project(dest: Path) -> Path:
    for folder in ("cdc", "golden_records", "targets"):
        shutil.copytree(REPO_ROOT / folder, dest / folder)
    return dest


def _mdm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", *args], capture_output=True,
                          text=True, env=dict(os.environ, **(env or {})), timeout=120)


def test_invalid_project_file_fails_check_and_startup_naming_file_and_key(tmp_path: Path):
    project = _copy_project(tmp_path)
    path = project / "golden_records" / "employee.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("hire_date: {type: date}", "hire_date: {type: day}"),
                    encoding="utf-8")
    check = _mdm("check", "--project", str(project))
    assert check.returncode == 1
    assert "golden_records/employee.yaml" in check.stderr and "attributes.hire_date.type" in check.stderr
    assert "Traceback" not in check.stderr
    up = _mdm("up", "--project", str(project), env={"MDM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"})
    assert up.returncode == 1
    assert "golden_records/employee.yaml" in up.stderr and "attributes.hire_date.type" in up.stderr


@pytest.fixture(scope="module")
def bad_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """A stack whose project declares customer.phone an integer: ERP phones such as
    '021-5555 1234' cannot be mapped."""
    project = _copy_project(tmp_path_factory.mktemp("project"))
    path = project / "golden_records" / "customer.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("phone: {type: string}", "phone: {type: integer}"),
                    encoding="utf-8")
    with running_stack(tmp_path_factory.mktemp("stack"), project) as stack:
        yield stack


def test_unmappable_rows_are_kept_failed_with_reason_and_others_flow(bad_stack: DemoStack):
    execute(bad_stack.erp_url,
            "INSERT INTO customer (code, name, phone) VALUES ('CBAD', '坏数据客户', '021-5555 1234')",
            "INSERT INTO customer (code, name, phone) VALUES ('CGOOD', '好数据客户', '13800138000')",
            "UPDATE supplier SET name = '后续供应商更名' WHERE code = 'S0001'")
    wait_idle(bad_stack.erp_url, bad_stack.hub_url)
    failed = rows(bad_stack.hub_url, "SELECT * FROM inbox WHERE status = 'failed' AND table_name = 'public.customer'")
    bad = [r for r in failed if (r["after"] or {}).get("code") == "CBAD"]
    assert len(bad) == 1
    assert "column phone (integer)" in bad[0]["error"] and "021-5555 1234" in bad[0]["error"]
    good = rows(bad_stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'customer' AND business_key = 'CGOOD'")
    assert len(good) == 1 and good[0]["attributes"]["phone"] == 13800138000
    supplier = rows(bad_stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'supplier' AND business_key = 'S0001'")
    assert supplier[0]["attributes"]["name"] == "后续供应商更名"
    # nothing from the ERP is left waiting behind the failed row (OA's and WMS's own databases
    # are captured too: their echoes of the hub's pushes may still be on their way)
    assert rows(bad_stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE status = 'pending' "
                                   "AND source = 'erp'")[0]["n"] == 0


def test_status_lists_failed_rows(bad_stack: DemoStack):
    status = _mdm("status", "--project", str(bad_stack.project_dir),
                  env={"MDM_DATABASE_URL": bad_stack.hub_url, "COLUMNS": "250"})
    assert status.returncode == 0, status.stderr
    assert "failed change events" in status.stdout
    assert "public.customer" in status.stdout and "column phone (integer)" in status.stdout
    assert "failed=" in status.stdout


def test_records_shows_golden_record_with_xrefs_and_version(bad_stack: DemoStack):
    shown = _mdm("records", "supplier", "S0001", env={  # through the hub's API, as an auditor
        "MDM_API_URL": bad_stack.api_url, "MDM_TOKEN": bad_stack.token("auditor.kim", "auditor"),
        "COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    assert "supplier S0001" in shown.stdout and "erp=" in shown.stdout
    assert "oa=" in shown.stdout and "wms=" in shown.stdout and "version" in shown.stdout
    assert load_project(bad_stack.project_dir).entities["customer"].attributes["phone"].type == "integer"


def test_unparseable_debezium_record_is_kept_with_its_reason(bad_stack: DemoStack):
    import psycopg

    from mdm.capture.inbox import append_events
    from mdm.capture.models import PoisonRecord, parse_envelope

    poison = parse_envelope("erp", "erp.public.customer", '{"id": 1}', '{"op": "u", "source": ')
    assert isinstance(poison, PoisonRecord)
    with psycopg.connect(bad_stack.hub_url) as conn:
        append_events(conn, "erp", [], [poison])
    kept = rows(bad_stack.hub_url, "SELECT * FROM inbox WHERE status = 'failed' AND raw IS NOT NULL")
    assert len(kept) == 1
    assert kept[0]["raw"] == '{"op": "u", "source": ' and "unparseable Debezium record" in kept[0]["error"]
    assert kept[0]["table_name"] == "erp.public.customer"


# -- property: the change-request CSV gives back every value as it was ---------------------------
# Text PostgreSQL can store (no NUL, no lone surrogate), biased towards what breaks CSV and
# spreadsheets: separators, quotes, line breaks, formula starts, the text-prefix apostrophe.
_csv_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.sampled_from(["", ",", '"', '""', "a,b", 'say "hi"', "line\nbreak", "cr\rlf\r\n", "=1+1",
                     "+86 21", "-5.00", "-x", "@SUM(A1)", "\tTab", "\rCR", "'quoted", "'=1+1",
                     "＝HYPERLINK()", "供应商，名称", " padded ", "\ufeffBOM"]))


def _spreadsheet_reads(cell: str) -> str:
    """What Excel, LibreOffice and Sheets show for a cell: a leading ' is the text prefix."""
    return cell[1:] if cell.startswith("'") else cell


@given(values=st.lists(st.tuples(_csv_text, _csv_text, _csv_text, _csv_text), min_size=1,
                       max_size=4))
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def _round_trip_change_requests(stack: DemoStack, token: str, values: list) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(stack.hub_url) as conn:
        ids = [conn.execute(
            "INSERT INTO change_request (task_id, entity, business_key, system, field, "
            "golden_value, requested_value, requested_by, reason) "
            "VALUES (0, 'customer', %s, 'oa', 'name', %s, %s, 'csv.property', %s) RETURNING id",
            (key, Jsonb(golden), Jsonb(requested), reason)).fetchone()[0]
            for key, golden, requested, reason in values]
        conn.commit()
    reply = httpx.get(f"{stack.api_url}/api/v1/change-requests.csv", params={"status": "all"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 200, reply.text
    text = reply.content.decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(text[1:], newline="")))
    by_id = {row["id"]: row for row in table}
    for row_id, (key, golden, requested, reason) in zip(ids, values, strict=True):
        row = by_id[str(row_id)]
        got = {c: _spreadsheet_reads(row[c]) for c in
               ("business_key", "golden_value", "requested_value", "reason")}
        assert got == {"business_key": key, "golden_value": golden, "requested_value": requested,
                       "reason": reason}, row


def test_every_value_in_the_change_request_csv_comes_back_intact(bad_stack: DemoStack):
    _round_trip_change_requests(bad_stack, bad_stack.token("csv.reader", "auditor"))
