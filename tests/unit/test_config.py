"""Project files are validated on load; a bad file names the file, the key and what was expected."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.errors import ConfigError
from tests.helpers import edit_file


def test_demo_project_loads_with_supplier_children(project: Path):
    loaded = load_project(project)
    # at least these (the flows' documents grow beside them)
    assert {"supplier", "customer", "material", "employee", "department", "purchase_request",
            "purchase_order", "stock_level", "pre_receipt", "receipt", "stock_in",
            "purchase_return", "production_order", "picking_list", "pick_task", "stock_issue",
            "sales_order", "outbound_order", "sales_shipment", "ar_entry"} <= set(loaded.entities)
    assert set(loaded.entities["supplier"].children) == {"bank_accounts", "tax_ids"}
    assert "public.supplier_bank_account" in loaded.captured_tables("erp")


def test_wrong_attribute_type_names_file_key_and_expectation(project: Path):
    edit_file(project / "golden_records/material.yaml", "uom: {type: string", "uom: {type: strng")
    with pytest.raises(ConfigError) as err:
        load_project(project)
    message = str(err.value)
    assert "golden_records/material.yaml" in message
    assert "attributes.uom.type" in message
    assert "'string'" in message and "strng" in message


def test_unknown_key_is_an_error(project: Path):
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slott: mdm_erp")
    with pytest.raises(ConfigError, match=r"cdc/erp.yaml.*slott: unknown key"):
        load_project(project)


def test_target_field_mapped_to_unknown_attribute(project: Path):
    edit_file(project / "golden_records/supplier.yaml", "vendor_name: name", "vendor_name: nmae")
    with pytest.raises(ConfigError, match=r"supplier.yaml.*targets.oa.fields.vendor_name: 'nmae' is not an attribute"):
        load_project(project)


def test_unknown_target_and_broken_yaml(project: Path):
    edit_file(project / "golden_records/customer.yaml", "  wms:\n", "  erp2:\n")
    with pytest.raises(ConfigError, match=r"customer.yaml: targets.erp2: not a target"):
        load_project(project)
    (project / "golden_records/customer.yaml").write_text("entity: [unclosed\n")
    with pytest.raises(ConfigError, match=r"customer.yaml: line \d+, column \d+: not valid YAML"):
        load_project(project)


def test_missing_required_key(project: Path):
    edit_file(project / "golden_records/department.yaml", "business_key: code\n", "")
    with pytest.raises(ConfigError, match=r"department.yaml: business_key: required key is missing"):
        load_project(project)


def test_empty_primary_key_names_file_key_and_expectation(project: Path):
    path = project / "golden_records/department.yaml"
    path.write_text(path.read_text().replace("primary_key: id\n",
                                             "primary_key: []\n"))
    with pytest.raises(ConfigError, match=r"department.yaml: primary_key: .*one or more column"):
        load_project(project)


def test_init_scaffolds_a_project_that_checks(tmp_path: Path):
    from typer.testing import CliRunner

    from mdm.cli.main import _register, app

    _register()
    result = CliRunner().invoke(app, ["init", str(tmp_path / "acme")])
    assert result.exit_code == 0, result.output
    assert "mdm check" in result.output
    loaded = load_project(tmp_path / "acme")
    assert "supplier" in loaded.entities and "oa" in loaded.targets
    again = CliRunner().invoke(app, ["init", str(tmp_path / "acme")])
    assert again.exit_code != 0 and "not overwriting" in again.output


def test_a_refused_secret_or_url_password_is_not_echoed(project: Path):
    erp = project / "cdc/erp.yaml"
    erp.write_text(erp.read_text().replace("url: ${MDM_ERP_URL}",
                                           "url: [postgresql://mdm:hunter2@db/erp]"))
    with pytest.raises(ConfigError) as err:
        load_project(project)
    message = str(err.value)
    assert "cdc/erp.yaml" in message and "url:" in message
    assert "hunter2" not in message and "***@" in message


def test_a_refused_value_under_a_secret_key_is_not_shown():
    from mdm.config.yaml_files import _shown

    assert _shown(("fetch", "app_secret"), ["s3cr3t"]) == "a secret, not shown"
    assert _shown(("sqlserver", "password"), 12345) == "a secret, not shown"
    assert _shown(("max_batch_size",), "lots") == "'lots'"
