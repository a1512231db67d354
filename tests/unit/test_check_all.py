"""Loading reports every problem of every file at once (not the first bad file), each naming
the file and the key, plus cross-file problems; `mdm check` prints them grouped by file."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.config.loader import load_project, read_project
from mdm.errors import ConfigError
from tests.helpers import edit_file


def _entries(project: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load_project(project)
    return err.value.entries


def _break_three_files(project: Path) -> None:
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slott: mdm_erp")
    edit_file(project / "golden_records/material.yaml", "uom: {type: string", "uom: {type: strng")
    edit_file(project / "targets/oa_db.yaml", "timeout_s: 10", "timeout_s: -1")


def test_three_bad_files_are_reported_together_each_naming_file_and_key(project: Path):
    _break_three_files(project)
    entries = _entries(project)
    by_file = {file: [p for f, p in entries if f == file] for file, _ in entries}
    assert set(by_file) == {"cdc/erp.yaml", "golden_records/material.yaml", "targets/oa_db.yaml"}
    assert any(p.startswith("slott: unknown key") for p in by_file["cdc/erp.yaml"])
    assert any(p.startswith("attributes.uom.type:") and "strng" in p
               for p in by_file["golden_records/material.yaml"])
    assert any(p.startswith("timeout_s:") for p in by_file["targets/oa_db.yaml"])


def test_the_error_message_lists_every_file_and_keeps_path_and_problems(project: Path):
    _break_three_files(project)
    with pytest.raises(ConfigError) as err:
        load_project(project)
    message = str(err.value)
    assert "3 problems in 3 files" in message
    for line in ("cdc/erp.yaml: slott:", "golden_records/material.yaml: attributes.uom.type:",
                 "targets/oa_db.yaml: timeout_s:"):
        assert line in message
    assert err.value.path == "cdc/erp.yaml"  # the first bad file, as callers read it
    assert all(p in [q for f, q in err.value.entries if f == err.value.path]
               for p in err.value.problems)


def test_cross_file_problems_are_reported_together(project: Path):
    edit_file(project / "golden_records/customer.yaml", "source: erp", "source: erp9")
    edit_file(project / "targets/oa_db.yaml", "  employee:\n", "  employe:\n")
    edit_file(project / "rules/department.yaml", "entity: department", "entity: departmnt")
    entries = _entries(project)
    assert ("golden_records/customer.yaml",
            "source: 'erp9' is not a source in cdc/ (known: erp, oa, wms)") in entries
    assert any(f == "targets/oa_db.yaml" and p.startswith("entities.employe: not an entity")
               for f, p in entries)
    assert any(f == "rules/department.yaml" and p.startswith("entity: 'departmnt' is not an entity")
               for f, p in entries)


def test_a_file_that_cannot_be_read_is_not_reported_again_where_others_name_it(project: Path):
    (project / "cdc/erp.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    (project / "golden_records/supplier.yaml").write_text("entity: supplier\n", encoding="utf-8")
    entries = _entries(project)
    assert {f for f, _ in entries} == {"cdc/erp.yaml", "golden_records/supplier.yaml"}
    assert not any("is not a source" in p or "is not an entity" in p for _, p in entries)


def test_a_name_declared_twice_names_both_files(project: Path):
    text = (project / "targets/wms.yaml").read_text(encoding="utf-8")
    (project / "targets/wms_copy.yaml").write_text(text, encoding="utf-8")
    assert ("targets/wms_copy.yaml",
            "name: 'wms' is declared in two files (targets/wms.yaml and this one)") in _entries(project)


def test_problems_name_the_file_that_declares_the_entity(project: Path):
    (project / "golden_records/customer.yaml").rename(project / "golden_records/clients.yaml")
    edit_file(project / "golden_records/clients.yaml", "source: erp", "source: nowhere")
    assert any(f == "golden_records/clients.yaml" and p.startswith("source: 'nowhere'")
               for f, p in _entries(project))


def test_order_by_must_name_an_attribute_of_the_child(project: Path):
    edit_file(project / "golden_records/supplier.yaml", "order_by: account_no", "order_by: acct_no")
    assert any(f == "golden_records/supplier.yaml"
               and p.startswith("children.bank_accounts.order_by: 'acct_no' is not an attribute")
               for f, p in _entries(project))


def test_a_model_validator_message_names_its_key(project: Path):
    edit_file(project / "golden_records/supplier.yaml", "vendor_name: name", "vendor_name: nmae")
    assert ("golden_records/supplier.yaml",
            "targets.oa.fields.vendor_name: 'nmae' is not an attribute or child of supplier"
            ) in _entries(project)


def test_a_lone_surrogate_escape_is_a_problem_naming_the_key(project: Path):
    edit_file(project / "golden_records/material.yaml", "item_code: code", 'item_code: "\\ud800"')
    assert any(f == "golden_records/material.yaml"
               and p.startswith("targets.wms.fields.item_code: a \\ud800-style escape")
               for f, p in _entries(project))


def test_read_project_returns_what_loaded_beside_the_problems(project: Path):
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slott: mdm_erp")
    loaded, problems = read_project(project)
    assert [f for f, _ in problems] == ["cdc/erp.yaml"]
    assert "erp" not in loaded.sources and "supplier" in loaded.entities


def test_mdm_check_prints_every_problem_grouped_by_file_and_exits_1(project: Path):
    from mdm.cli.main import _register, app

    _break_three_files(project)
    _register()
    result = CliRunner().invoke(app, ["check", "-p", str(project)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    for file, key in (("cdc/erp.yaml", "slott:"), ("golden_records/material.yaml",
                                                   "attributes.uom.type:"),
                      ("targets/oa_db.yaml", "timeout_s:")):
        at = lines.index(file)
        assert lines[at + 1].strip().startswith(key), lines[at:at + 2]
    assert "3 problem(s) in 3 file(s)" in result.output


def test_mdm_check_on_a_good_project_prints_the_summary(project: Path):
    from mdm.cli.main import _register, app

    _register()
    result = CliRunner().invoke(app, ["check", "-p", str(project)])
    assert result.exit_code == 0, result.output
    loaded = load_project(project)
    assert f"{len(loaded.entities)} entit(ies)" in result.output
    assert f"{len(loaded.flows)} flow(s)" in result.output
    assert "supplier: public.supplier + bank_accounts" in result.output
