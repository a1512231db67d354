"""rules/*.yaml and observed sources are validated on load (and, for Great Expectations'
kwargs, by `mdm check`): a bad file names the file, the key and what was expected."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.errors import ConfigError
from tests.helpers import edit_file


def _error(project: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_project(project)
    return str(err.value)


def test_demo_rules_load_with_every_rule_kind(project: Path):
    loaded = load_project(project)
    assert set(loaded.rules) == {"supplier", "customer", "material", "employee", "department"}
    kinds = {c.check for r in loaded.rules.values() for c in r.checks}
    assert kinds == {"uscc_check_digit", "no_cycle", "reference_active"}
    assert {d.target for d in loaded.rules["supplier"].divergence} == {"oa", "wms"}
    assert loaded.sources["oa"].observes == "oa" and loaded.captured_tables("oa")


def test_unknown_expectation_type_is_named_with_a_suggestion(project: Path):
    edit_file(project / "rules/material.yaml", "expect_column_values_to_be_in_set",
          "expect_column_values_to_be_in_sett")
    message = _error(project)
    assert "rules/material.yaml" in message and "expectations.1.expectation_type" in message
    assert "did you mean 'expect_column_values_to_be_in_set'" in message


def test_expectation_on_unknown_attribute_is_an_error(project: Path):
    edit_file(project / "rules/material.yaml", "kwargs: {column: uom,", "kwargs: {column: unit,")
    message = _error(project)
    assert "rules/material.yaml" in message and "column 'unit' is not an attribute" in message


def test_check_on_unknown_child_and_entity_reference(project: Path):
    edit_file(project / "rules/supplier.yaml", "    child: tax_ids\n    attribute: id_value",
          "    child: tax_numbers\n    attribute: id_value")
    assert "checks.0.child: 'tax_numbers' is not a child list of supplier" in _error(project)


def test_reference_to_unknown_entity(project: Path):
    edit_file(project / "rules/material.yaml", "references: supplier", "references: vendor")
    assert "checks.0.references: 'vendor' is not an entity" in _error(project)


def test_divergence_field_must_be_in_the_target_mapping(project: Path):
    edit_file(project / "rules/supplier.yaml", "fields: [vendor_name,", "fields: [vendor_nam,")
    message = _error(project)
    assert "divergence.0.fields: 'vendor_nam' is not a field of supplier's mapping to oa" in message


def test_yaml_boolean_key_gets_a_hint(project: Path):
    edit_file(project / "rules/supplier.yaml", "    child: tax_ids\n    kwargs:", "    on: tax_ids\n    kwargs:")
    message = _error(project)
    assert "rules/supplier.yaml" in message and "YAML takes on/off/yes/no" in message


def test_observed_source_must_name_a_target(project: Path):
    edit_file(project / "cdc/oa.yaml", "observes: oa", "observes: crm")
    message = _error(project)
    assert "cdc/oa.yaml" in message and "observes: 'crm' is not a target" in message


def test_bad_expectation_kwargs_fail_mdm_check_naming_file_and_key(project: Path):
    edit_file(project / "rules/material.yaml", "kwargs: {column: standard_price, min_value: 0,",
          "kwargs: {column: standard_price, minimum: 0,")
    load_project(project)  # structure is fine; the kwargs are Great Expectations' business
    env = dict(os.environ, MDM_PROJECT_DIR=str(project))
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "check"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "rules/material.yaml" in done.stderr and "expectations.2" in done.stderr
    assert "minimum" in done.stderr and "Traceback" not in done.stderr


def test_write_method_belongs_to_a_system_of_record(project: Path):
    for entity in (project / "golden_records").glob("*.yaml"):  # now WMS holds copies only
        if "\nsource: wms\n" in entity.read_text(encoding="utf-8"):
            entity.unlink()
    with (project / "cdc/wms.yaml").open("a", encoding="utf-8") as f:
        f.write("write_method: sql\n")
    message = _error(project)
    assert "cdc/wms.yaml" in message and "written to a system of record only" in message


def test_unknown_write_method_names_the_file_key_and_choices(project: Path):
    edit_file(project / "cdc/erp.yaml", "write_method: none", "write_method: rest")
    message = _error(project)
    assert "cdc/erp.yaml" in message and "write_method" in message and "'none' or 'sql'" in message


def test_a_key_written_twice_names_the_file_line_and_key(project: Path):
    with (project / "cdc/erp.yaml").open("a", encoding="utf-8") as f:
        f.write("write_method: sql\n")  # the file already says write_method: none
    message = _error(project)
    assert "cdc/erp.yaml" in message and "'write_method' appears twice" in message and "line " in message
