"""`mdm check --live` against the demo's real databases (embedded PostgreSQL: the demo ERP, OA
and WMS): the demo project passes; a broken copy is told which column is missing and which
type does not fit, naming the file and the key; a configured signal table is checked."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mdm.capture.introspect import read_catalog
from mdm.config.live_check import probes
from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.stack import DemoStack
from mdm.runtime.postgres import free_port
from mdm.runtime.settings import REPO_ROOT
from tests.helpers import edit_file, execute

SUPPLIER = "golden_records/supplier.yaml"


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    stack = DemoStack(tmp_path_factory.mktemp("check_live"))
    try:
        stack.start_databases(suppliers=3, materials=3, employees=3, customers=3)
        yield stack
    finally:
        stack.stop()
        stack.pg.remove()


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


def _env(stack: DemoStack) -> dict[str, str]:
    return {"MDM_ERP_URL": stack.erp_url, "MDM_OA_DB_URL": stack.pg.url("oa"),
            "MDM_WMS_DB_URL": stack.pg.url("wms")}


def _check_live(project: Path, env: dict[str, str]) -> Result:
    from mdm.cli.main import _register, app

    _register()
    return CliRunner().invoke(app, ["check", "--live", "-p", str(project)], env=env)


def test_the_demo_project_passes_the_live_check(databases: DemoStack, project: Path):
    result = _check_live(project, _env(databases))
    assert result.exit_code == 0, result.output
    loaded = load_project(project)
    sources = ", ".join(f"source {name} ({len(loaded.captured_tables(name))} table(s))"
                        for name in ("erp", "oa", "wms"))
    assert f"live: {sources}, target oa_db (1 table(s))" in result.output
    assert "ok the databases have every table and column" in result.output
    assert "error" not in result.output, result.output


def test_a_missing_column_and_a_wrong_type_are_named_with_file_and_key(databases: DemoStack,
                                                                       project: Path):
    edit_file(project / SUPPLIER, "phone: {type: string}", "phone: {type: string, column: phone_no}")
    edit_file(project / SUPPLIER, "short_name: {type: string}", "short_name: {type: integer}")
    result = _check_live(project, _env(databases))
    assert result.exit_code == 1, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    at = lines.index(SUPPLIER)
    errors = lines[at + 1:]
    assert any(line.startswith("error attributes.phone.column: column 'phone_no' does not "
                               "exist in public.supplier") for line in errors), result.output
    assert any(line.startswith("error attributes.short_name: type integer cannot be read from "
                               "column public.supplier.short_name, which is character "
                               "varying(60) (declare string)") for line in errors), result.output


def test_a_where_the_database_refuses_is_named_and_one_it_plans_passes(databases: DemoStack,
                                                                       project: Path):
    edit_file(project / SUPPLIER, "ignore_columns:", "where: \"name > 1\"\nignore_columns:")
    refused = _check_live(project, _env(databases))
    assert refused.exit_code == 1, refused.output
    assert ("error where: source erp's database refuses it on public.supplier: operator does "
            "not exist: character varying > integer") in refused.output
    edit_file(project / SUPPLIER, "where: \"name > 1\"", "where: \"category IS NOT NULL\"")
    planned = _check_live(project, _env(databases))
    assert planned.exit_code == 0, planned.output


def test_an_ignore_columns_typo_is_an_error_and_the_unignored_column_a_note(databases: DemoStack,
                                                                           project: Path):
    edit_file(project / SUPPLIER, "[created_at, updated_at, created_by]",
              "[created_at, updated_at, creatd_by]")
    result = _check_live(project, _env(databases))
    assert result.exit_code == 1, result.output
    assert "error ignore_columns.2: column 'creatd_by' is in none of public.supplier" in result.output
    assert ("note  table: columns of public.supplier neither mapped nor ignored: created_by"
            in result.output)


def test_a_database_out_of_reach_is_an_error_naming_its_file(databases: DemoStack, project: Path):
    env = {**_env(databases),
           "MDM_WMS_DB_URL": f"postgresql://mdm:s3cret-pw@127.0.0.1:{free_port()}/wms"}
    result = _check_live(project, env)
    assert result.exit_code == 1, result.output
    assert "cdc/wms.yaml" in result.output
    assert "error url: source wms: cannot read the database" in result.output
    assert "s3cret-pw" not in result.output


def test_the_catalog_reader_gives_types_scales_and_foreign_keys(databases: DemoStack,
                                                                project: Path, monkeypatch):
    for name, value in _env(databases).items():
        monkeypatch.setenv(name, value)
    erp = next(p for p in probes(load_project(project)) if p.database == "source erp")
    catalog = read_catalog(erp)
    supplier = catalog.tables["public.supplier"]
    assert (supplier.columns["credit_limit"].family, supplier.columns["credit_limit"].scale) == ("numeric", 2)
    assert supplier.columns["last_audit_at"].family == "timestamptz"
    assert supplier.columns["code"].type == "character varying(20)"
    assert catalog.server_version is not None and catalog.server_version >= 130000
    accounts = catalog.tables["public.supplier_bank_account"]
    assert [(k.columns, k.table, k.referenced) for k in accounts.foreign_keys] == [
        (("supplier_id",), "public.supplier", ("id",))]


def test_a_signal_table_is_checked_in_the_source_database(databases: DemoStack, project: Path):
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp",
              "slot: mdm_erp\nsignal_table: mdm_check_signal")
    env = _env(databases)
    try:
        missing = _check_live(project, env)
        assert missing.exit_code == 0, missing.output
        tables = len(load_project(project).captured_tables("erp")) + 1  # and the signal table
        assert f"source erp ({tables} table(s))" in missing.output
        assert ("note  signal_table: table public.mdm_check_signal does not exist in source erp's "
                "database yet: capture creates it at start") in missing.output
        execute(databases.erp_url, "CREATE TABLE mdm_check_signal (id integer PRIMARY KEY, "
                "type varchar(32), data text)")
        wrong = _check_live(project, env)
        assert wrong.exit_code == 1, wrong.output
        assert ("error signal_table: public.mdm_check_signal cannot hold Debezium's signals: its "
                "first three columns must be text for id, type and data") in wrong.output
        assert "it has id integer, type character varying(32), data text" in wrong.output
        execute(databases.erp_url, "DROP TABLE mdm_check_signal",  # as capture creates it
                "CREATE TABLE mdm_check_signal (id varchar(64) PRIMARY KEY, type varchar(32) "
                "NOT NULL, data text)")
        fitting = _check_live(project, env)
        assert fitting.exit_code == 0, fitting.output
        assert " signal_table: " not in fitting.output, fitting.output
    finally:
        execute(databases.erp_url, "DROP TABLE IF EXISTS mdm_check_signal")
