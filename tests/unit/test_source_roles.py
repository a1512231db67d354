"""A system of record per entity, not per database: one cdc/ source can be the system of record
of some entities (their `source:`) and hold observed copies (its `tables:`) at once, captured
through one slot. Old-style files with `authority:` still load with a note where it agrees, and
are refused, naming the file, the key and what to change, where it contradicts."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mdm.api.configuration import _source
from mdm.bench.runner import project_variant
from mdm.capture.service import capture_sources, primary_keys
from mdm.config.loader import load_project, read_project
from mdm.config.role_checks import AUTHORITY_NOTE
from mdm.errors import ConfigError
from mdm.runtime.settings import REPO_ROOT
from tests.helpers import edit_file

def _entries(project: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load_project(project)
    return err.value.entries


def _old_style(project: Path) -> None:
    edit_file(project / "cdc/erp.yaml", "connector: postgresql",
              "connector: postgresql\nauthority: system_of_record")
    edit_file(project / "cdc/oa.yaml", "observes: oa", "authority: observed\nobserves: oa")


# OA's other documents of record (flows 5 and 6: expense claims, payment requests) and the flows
# that name them: these tests work with purchase requests as OA's one entity of record.
OTHER_OA_DOCUMENTS = ("golden_records/expense_claim.yaml", "golden_records/payment_request.yaml",
                      "flows/expense_claim.yaml", "flows/purchase_payment.yaml")


def _copies_only(project: Path) -> None:
    """OA's database holds only observed copies: no entity of record there (nor its flow)."""
    for name in ("golden_records/purchase_request.yaml", "flows/purchase_approval.yaml",
                 *OTHER_OA_DOCUMENTS):
        (project / name).unlink(missing_ok=True)


def _of_record_in_oa(project: Path) -> None:
    """As shipped, with OA's purchase requests its one entity of record."""
    for name in OTHER_OA_DOCUMENTS:
        (project / name).unlink(missing_ok=True)
    for name in ("golden_records/purchase_request.yaml", "flows/purchase_approval.yaml"):
        shutil.copy(REPO_ROOT / name, project / name)


def test_old_style_cdc_files_still_load_with_a_deprecation_note(project: Path):
    _copies_only(project)
    new_style = load_project(project)
    _old_style(project)
    loaded = load_project(project)
    assert set(loaded.notes) == {("cdc/erp.yaml", AUTHORITY_NOTE), ("cdc/oa.yaml", AUTHORITY_NOTE)}
    assert AUTHORITY_NOTE == ("authority: is no longer needed: the role is decided per table; "
                              "remove it")
    for name in ("erp", "oa", "wms"):
        assert loaded.captured_tables(name) == new_style.captured_tables(name)
    assert new_style.notes == ()


def test_mdm_check_prints_the_deprecation_note_and_passes(project: Path):
    from mdm.cli.main import _register, app

    _copies_only(project)
    _old_style(project)
    _register()
    result = CliRunner().invoke(app, ["check", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert f"note  cdc/oa.yaml: {AUTHORITY_NOTE}" in result.output
    assert f"note  cdc/erp.yaml: {AUTHORITY_NOTE}" in result.output
    assert "note  cdc/wms.yaml" not in result.output  # it has no authority: key


def test_authority_observed_on_a_source_of_record_says_what_to_change(project: Path):
    _of_record_in_oa(project)
    edit_file(project / "cdc/oa.yaml", "observes: oa", "authority: observed\nobserves: oa")
    assert _entries(project) == [(
        "cdc/oa.yaml",
        "authority: 'observed' contradicts golden_records/purchase_request.yaml (source: oa), "
        "which take oa as their system of record: remove `authority:` from this file (the role "
        "is decided per table: its `tables:` stay observed copies), or name another source "
        "there")]


def test_authority_system_of_record_beside_observed_tables_says_to_remove_it(project: Path):
    edit_file(project / "cdc/oa.yaml", "observes: oa", "authority: system_of_record\nobserves: oa")
    assert _entries(project) == [(
        "cdc/oa.yaml",
        "authority: 'system_of_record' contradicts `tables:` (observed copies): the role is "
        "decided per table now; remove `authority:`")]


def test_authority_observed_without_observed_tables_says_what_to_add(project: Path):
    edit_file(project / "cdc/erp.yaml", "connector: postgresql",
              "connector: postgresql\nauthority: observed")
    [(file, problem)] = [e for e in _entries(project) if e[0] == "cdc/erp.yaml"]
    assert problem == ("authority: 'observed' but no observed tables: add `observes: <target>` "
                       "and `tables:`, or remove `authority:` (the role is decided per table)")


def test_observed_tables_and_their_target_come_together(project: Path):
    edit_file(project / "cdc/oa.yaml", "observes: oa\n", "")
    (project / "cdc/wms.yaml").write_text("name: wms\nobserves: wms\nurl: ${MDM_WMS_DB_URL}\n"
                                          "slot: mdm_wms\npublication: mdm_wms\n")
    entries = dict(_entries(project))
    assert entries["cdc/oa.yaml"] == ("observes: required with `tables:` (the target whose "
                                      "copies those tables hold)")
    assert entries["cdc/wms.yaml"] == ("tables: required with `observes:` (schema.table → the "
                                       "entity whose copy it holds)")


def test_one_database_of_record_and_of_copies_is_captured_through_one_source(project: Path):
    _of_record_in_oa(project)
    loaded = load_project(project)
    assert loaded.notes == ()
    assert loaded.entities_of_record("oa") == ["purchase_request"]
    assert loaded.captured_tables("oa") == [
        "public.oa_purchase_request_line", "public.oa_purchase_request",  # children first
        "public.oa_customer", "public.oa_dept", "public.oa_material", "public.oa_staff",
        "public.oa_vendor"]
    keys = primary_keys(loaded, "oa")
    assert keys["public.oa_purchase_request"] == "id" and keys["public.oa_vendor"] == "id"
    assert capture_sources(loaded) == ["erp", "oa", "wms"]  # systems of record first
    assert loaded.entity_for_table("oa", "public.oa_purchase_request") is not None
    assert loaded.entity_for_table("oa", "public.oa_vendor") is None  # a copy, not of record


def test_a_table_both_of_record_and_observed_is_refused(project: Path):
    _of_record_in_oa(project)
    edit_file(project / "golden_records/purchase_request.yaml", "table: public.oa_purchase_request",
              "table: public.oa_vendor")
    assert (
        "cdc/oa.yaml",
        "tables.public.oa_vendor: is also a table of record of purchase_request "
        "(golden_records/purchase_request.yaml, source: oa); a table is either of record or "
        "an observed copy") in _entries(project)


def test_write_method_needs_an_entity_of_record_and_then_holds_beside_copies(project: Path):
    _copies_only(project)
    with (project / "cdc/oa.yaml").open("a", encoding="utf-8") as f:
        f.write("write_method: sql\n")
    assert _entries(project) == [(
        "cdc/oa.yaml",
        "write_method: change requests are written to a system of record only, and no entity "
        "in golden_records/ has source: oa; remove write_method (or set it to none)")]
    _of_record_in_oa(project)
    assert load_project(project).sources["oa"].write_method == "sql"


def test_a_contradiction_is_reported_beside_the_other_problems(project: Path):
    _of_record_in_oa(project)
    edit_file(project / "cdc/oa.yaml", "observes: oa", "authority: observed\nobserves: oa")
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slott: mdm_erp")
    loaded, problems = read_project(project)
    assert {f for f, _ in problems} == {"cdc/erp.yaml", "cdc/oa.yaml"}
    assert loaded.notes == ()  # a contradicting authority: is a problem, not a note


def test_the_configuration_view_shows_entities_of_record_and_observed_tables(project: Path):
    _of_record_in_oa(project)
    loaded = load_project(project)
    oa = _source(loaded.sources["oa"], loaded, None)
    assert "authority" not in oa
    assert oa["system_of_record_of"] == ["purchase_request"] and oa["observes"] == "oa"
    assert oa["observed_tables"]["public.oa_vendor"] == "supplier"
    assert oa["tables"] == 7
    erp = _source(loaded.sources["erp"], loaded, None)
    assert "supplier" in erp["system_of_record_of"] and erp["observed_tables"] == {}


def test_the_bench_variant_drops_observed_tables_but_keeps_tables_of_record(project: Path,
                                                                            tmp_path: Path):
    _of_record_in_oa(project)
    variant = project_variant(project, tmp_path / "variant", rules=False)
    # the WMS is the system of record of its stock levels (golden_records/stock_level.yaml)
    assert sorted(p.name for p in (variant / "cdc").iterdir()) == ["erp.yaml", "oa.yaml", "wms.yaml"]
    oa = yaml.safe_load((variant / "cdc/oa.yaml").read_text(encoding="utf-8"))
    assert "tables" not in oa and "observes" not in oa and oa["slot"] == "mdm_oa"
    wms = yaml.safe_load((variant / "cdc/wms.yaml").read_text(encoding="utf-8"))
    assert "tables" not in wms and "observes" not in wms and wms["slot"] == "mdm_wms"
