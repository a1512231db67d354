"""References without a database: reading reference values from a row (integer ids, composite
keys, 'model,id' strings), rendering `ref.attribute` / `ref.xref` target fields, what a delivery
waits for, and the project-file errors (file, key, what was expected)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mdm.config.live_check import Catalog, Column, ForeignKey, Table, compare
from mdm.config.loader import load_project
from mdm.config.references import Reference, Wait, is_awaited_elsewhere, waits_of
from mdm.errors import ConfigError, MappingError
from mdm.golden.mapper import RowImage, map_row, table_mappings
from mdm.golden.references import (
    ReferenceValueError,
    parse_model_reference,
    referenced_key,
)
from mdm.model.deliveries import build_payload
from mdm.model.references import FieldPath, FieldPathError, ReferencedRecord, field_path
from tests.helpers import edit_file

SHIPMENT = Reference(entity="shipment", format="model,id", model="stock.shipment.in")


# -- values of a row ----------------------------------------------------------------------------
@pytest.mark.parametrize(("reference", "values", "key"), [
    (Reference(entity="department"), [7], "7"),
    (Reference(entity="department"), ["D-7"], "D-7"),
    (Reference(entity="department"), [7.0], "7"),
    (Reference(entity="department"), [None], None),
    (Reference(entity="bin", columns=["wh", "code"]), ["WH1", "B-07"], "WH1|B-07"),
    (Reference(entity="bin", columns=["wh", "code"]), ["WH1", None], None),  # MATCH SIMPLE
    (SHIPMENT, ["stock.shipment.in,1"], "1"),
    (SHIPMENT, ["stock.shipment.in, 42"], "42"),
    (SHIPMENT, ["stock.shipment.out,1"], None),  # another model: no reference to shipment
    (SHIPMENT, ["stock.shipment.in,-1"], None),  # Tryton: a model chosen without a record
    (SHIPMENT, ["stock.shipment.in,"], None),
    (SHIPMENT, [None], None),
    (SHIPMENT, [""], None),
])
def test_reference_values_give_the_referenced_records_source_key(reference, values, key):
    assert referenced_key(reference, values) == key


@pytest.mark.parametrize(("reference", "value"), [
    (Reference(entity="department"), True),
    (Reference(entity="department"), [1, 2]),
    (Reference(entity="department"), 7.5),
    (SHIPMENT, "stock.shipment.in"),
    (SHIPMENT, ",1"),
    (SHIPMENT, "stock.shipment.in,1,2"),
    (SHIPMENT, 17),
])
def test_a_value_that_is_no_key_is_refused_saying_what_was_expected(reference, value):
    with pytest.raises(ReferenceValueError, match="expected"):
        referenced_key(reference, [value])


def test_model_references_split_on_the_first_comma():
    assert parse_model_reference("stock.shipment.in,1") == ("stock.shipment.in", "1")
    assert parse_model_reference("sale.line,-1") == ("sale.line", None)


def test_a_row_maps_its_references_to_source_keys(project: Path):
    mappings = table_mappings(load_project(project), "erp")
    employee = {"id": 5, "code": "E5", "name": "王五", "department_id": 3, "active": True}
    image = map_row(mappings["public.employee"], "public.employee", "5", employee, None, "1")
    assert image.attrs["department"] == "3"
    moved = map_row(mappings["public.employee"], "public.employee", "5",
                    {**employee, "department_id": None}, image, "2")
    assert moved.attrs["department"] is None


def test_an_unchanged_toast_reference_keeps_the_mirrored_key_or_fails_without_one(project: Path):
    mapping = table_mappings(load_project(project), "erp")["public.employee"]
    row = {"id": 5, "code": "E5", "name": "王五", "department_id": "__debezium_unavailable_value"}
    before = RowImage(attrs={"department": "3"}, retired=False, position="1")
    assert map_row(mapping, "public.employee", "5", row, before, "2").attrs["department"] == "3"
    with pytest.raises(MappingError, match="department_id is an unchanged TOAST value"):
        map_row(mapping, "public.employee", "5", row, None, "2")


def test_a_reference_value_that_is_no_key_keeps_the_row_failed_naming_the_column(project: Path):
    mapping = table_mappings(load_project(project), "erp")["public.employee"]
    row = {"id": 5, "code": "E5", "name": "王五", "department_id": True}
    with pytest.raises(MappingError, match=r"column department_id \(references department\)"):
        map_row(mapping, "public.employee", "5", row, None, "1")


def test_a_child_row_finds_its_parent_by_a_model_id_string():
    from mdm.config.loader import Project
    from mdm.config.models import EntitySpec

    spec = EntitySpec.model_validate({
        "entity": "sale", "table": "sale_sale", "business_key": "number",
        "attributes": {"number": {}}, "children": {"lines": {
            "table": "sale_line", "parent_column": "origin",
            "parent": {"format": "model,id", "model": "sale.sale"},
            "attributes": {"product": {}}}}})
    mapping = table_mappings(Project(Path("."), entities={"sale": spec}), "erp")["public.sale_line"]
    mine = map_row(mapping, "public.sale_line", "1", {"origin": "sale.sale,12", "product": "x"},
                   None, "1")
    assert (mine.parent_key, mine.deleted) == ("12", False)
    other = map_row(mapping, "public.sale_line", "2", {"origin": "purchase.purchase,12"}, None, "1")
    assert other.deleted  # another model's line: no row of this list
    with pytest.raises(MappingError, match="parent column origin: expected 'model,id'"):
        map_row(mapping, "public.sale_line", "3", {"origin": "12"}, None, "1")


# -- rendering ----------------------------------------------------------------------------------
def test_field_paths_parse_attribute_reference_and_xref():
    assert field_path("code") == FieldPath("code")
    assert field_path("department.code") == FieldPath("department", referenced="code")
    assert field_path("department.xref") == FieldPath("department", xref=True)
    assert field_path("department.xref.oa") == FieldPath("department", xref=True,
                                                         xref_target="oa")
    for bad in ("department.", "a.b.c", ".code", "a.xref.oa.x"):
        with pytest.raises(FieldPathError, match="expected|three parts"):
            field_path(bad)


class _Mapping:
    fields = {"staff_no": "code", "dept_code": "department.code", "dept_id": "department.xref",
              "oa_dept": "department.xref.oa", "erp_dept": "department"}
    active_field = "enabled"
    children: dict[str, object] = {}


def test_a_payload_renders_the_referenced_records_code_and_keys():
    department = ReferencedRecord(17, {"code": "D01", "name": "财务部"}, {"oa": "4", "wms": "9"})
    payload = build_payload(_Mapping(), {"code": "E1", "department": "3"}, "active",
                            {"department": department}, "wms")
    assert payload == {"staff_no": "E1", "dept_code": "D01", "dept_id": "9", "oa_dept": "4",
                       "erp_dept": "3", "enabled": True}
    unknown = build_payload(_Mapping(), {"code": "E1", "department": "3"}, "active", {}, "wms")
    assert (unknown["dept_code"], unknown["dept_id"], unknown["erp_dept"]) == (None, None, "3")


def test_demo_deliveries_wait_for_the_referenced_record_where_it_is_shown(project: Path):
    entities = load_project(project).entities
    assert waits_of(entities, "employee", "oa") == (Wait("department", "department", "oa"),)
    assert waits_of(entities, "employee", "oa_db") == (Wait("department", "department", "oa"),)
    assert waits_of(entities, "employee", "wms") == ()  # WMS operators show no department
    assert waits_of(entities, "material", "wms") == (Wait("default_supplier", "supplier", "wms"),)
    assert is_awaited_elsewhere(entities, "oa") and not is_awaited_elsewhere(entities, "wms")


# -- project files ------------------------------------------------------------------------------
EMPLOYEE = "golden_records/employee.yaml"
DEPARTMENT_REF = "  department: {references: department, column: department_id,"


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    (EMPLOYEE, DEPARTMENT_REF, "  department: {references: departmnt, column: department_id,",
     r"golden_records/employee.yaml: attributes.department.references.entity: 'departmnt' is "
     r"not an entity in golden_records/ \(known: (\w+, )*customer, department"),
    (EMPLOYEE, DEPARTMENT_REF, DEPARTMENT_REF + " type: integer,",
     r"golden_records/employee.yaml: attributes.department.type: a reference's value is the "
     r"key of the record it points to; leave type out"),
    (EMPLOYEE, DEPARTMENT_REF,
     "  department: {references: {entity: department, format: 'model,id'}, column: x,",
     r"attributes.department.references.model: required with format 'model,id'"),
    (EMPLOYEE, DEPARTMENT_REF,
     "  department: {references: {entity: department, columns: [a, b]},",
     r"attributes.department.references.columns: 2 columns for the 1 key column\(s\) of "
     r"department \(id\)"),
    (EMPLOYEE, "dept_code: department.code", "dept_code: department.cod",
     r"golden_records/employee.yaml: targets.oa.fields.dept_code: 'department.cod': cod is "
     r"not an attribute of department \(known: code, manager_code, name, parent_id\)"),
    (EMPLOYEE, "dept_code: department.code", "dept_code: title.code",
     r"targets.oa.fields.dept_code: 'title.code': title is not a reference attribute of "
     r"employee \(give it `references: <entity>`; reference attributes: department\)"),
    (EMPLOYEE, "dept_code: department.code", "dept_code: department.code.x",
     r"targets.oa.fields.dept_code: 'department.code.x': only reference.xref.<target>"),
    ("targets/oa_db.yaml", "dept_id: department.xref.oa", "dept_id: department.xref",
     r"targets/oa_db.yaml: entities.employee.fields.dept_id: 'department.xref': department is "
     r"not written to oa_db, so it has no key there"),
    ("targets/oa_db.yaml", "dept_id: department.xref.oa", "dept_id: department.xref.crm",
     r"entities.employee.fields.dept_id: 'department.xref.crm': 'crm' is not a target"),
    (EMPLOYEE, "ignore_columns:", "unknown_reference_task_after: soon\nignore_columns:",
     r"golden_records/employee.yaml: unknown_reference_task_after: expected a duration such "
     r"as 90s, 10m, 2h or 1d \(got 'soon'\)"),
])
def test_reference_mistakes_name_file_key_and_expectation(project: Path, file, old, new,
                                                          expected):
    edit_file(project / file, old, new)
    with pytest.raises(ConfigError, match=expected):
        load_project(project)


def test_a_divergence_rule_on_a_field_rendered_from_a_reference_is_refused(project: Path):
    edit_file(project / "rules/employee.yaml", "fields: [staff_name, title, mobile, email]",
              "fields: [staff_name, dept_code]")
    with pytest.raises(ConfigError, match=r"rules/employee.yaml: divergence.0.fields: 'dept_code'"
                       r" is rendered from a referenced record \(department.code\)"):
        load_project(project)


def test_a_reference_across_sources_is_refused(project: Path):
    edit_file(project / "golden_records/department.yaml", "source: erp", "source: oa")
    with pytest.raises(ConfigError, match=r"golden_records/employee.yaml: attributes.department."
                       r"references.entity: department's system of record is source 'oa', "
                       r"employee's is 'erp'"):
        load_project(project)


def test_a_composite_key_needs_columns_and_waits_are_durations(project: Path):
    edit_file(project / "golden_records/department.yaml", "primary_key: id",
              "primary_key: [id, code]")
    with pytest.raises(ConfigError, match=r"attributes.department.references: department has "
                       r"a composite primary_key \(id, code\): write references: "):
        load_project(project)
    edit_file(project / EMPLOYEE, "ignore_columns:", "unknown_reference_task_after: 90s\n"
              "ignore_columns:")
    edit_file(project / EMPLOYEE, DEPARTMENT_REF, "  department: {references: {entity: "
              "department, columns: [department_id, dept_code]},")
    loaded = load_project(project)
    assert loaded.entities["employee"].unknown_reference_task_after == timedelta(seconds=90)
    assert loaded.entities["department"].key_columns == ["id", "code"]


def test_referenced_entities_come_first_in_the_snapshot_order(project: Path):
    order = load_project(project).entity_order()
    assert order.index("department") < order.index("employee")
    assert order.index("supplier") < order.index("material")


# -- mdm check --live ---------------------------------------------------------------------------
def _erp_catalog(foreign_keys: tuple[ForeignKey, ...], department_id: str = "integer") -> Catalog:
    text, integer = ("character varying(20)", "text"), ("integer", "integer")
    columns = {"id": integer, "code": text, "name": text, "gender": text, "title": text,
               "mobile": text, "email": text, "hire_date": ("date", "date"),
               "monthly_salary": ("numeric(12,2)", "numeric"), "active": ("boolean", "boolean"),
               "department_id": (department_id, "integer" if department_id == "integer" else
                                 "text")}
    employee = Table("public.employee", {n: Column(n, t, f) for n, (t, f) in columns.items()},
                     foreign_keys)
    department = Table("public.department", {"id": Column("id", "integer", "integer")})
    return Catalog("source erp", {"public.employee": employee, "public.department": department})


def test_live_check_notes_a_reference_without_foreign_key_and_a_key_of_another_type(
        project: Path):
    loaded = load_project(project)
    key = ForeignKey(("department_id",), "public.department", ("id",))

    def findings(catalog: Catalog) -> list[str]:
        return [f"{f.level} {f.key}: {f.message}" for f in compare(loaded, {"source erp": catalog})
                if f.file == EMPLOYEE and "department" in f.key]

    assert findings(_erp_catalog((key,))) == []
    assert findings(_erp_catalog(())) == [
        "note attributes.department.references: no foreign key public.employee (department_id)"
        " → public.department (id) in the database: the hub follows the reference anyway and "
        "holds a row naming a department it does not know"]
    [wrong] = [f for f in findings(_erp_catalog((), "character varying(20)")) if "error" in f]
    assert wrong.startswith("error attributes.department.column: column public.employee."
                            "department_id is character varying(20), but public.department.id,"
                            " the key it points to, is integer")
