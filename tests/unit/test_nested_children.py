"""Nested child lists (a template's variants, each with its cost prices): the project file's
checks name the file and the nested key; the mapping finds a nested row's record through its
parent row; assembly nests each row's own lists, ordered, without deleted or retired rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.live_check import Catalog, Column, Table, compare
from mdm.config.loader import load_project
from mdm.config.models import EntitySpec
from mdm.errors import ConfigError
from mdm.golden.assemble import assemble_record
from mdm.golden.mapper import RowImage, object_of, table_mappings
from tests.nested_template import TEMPLATE as NESTED

TEMPLATE = NESTED + "        retired_when: {column: active, equals: false}\n"  # on prices


def _project(tmp_path: Path, template: str = TEMPLATE) -> Path:
    (tmp_path / "cdc").mkdir()
    (tmp_path / "cdc/erp.yaml").write_text("name: erp\nurl: postgresql://u@h/db\n")
    (tmp_path / "golden_records").mkdir()
    (tmp_path / "golden_records/template.yaml").write_text(template)
    return tmp_path


def _entries(root: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load_project(root)
    return err.value.entries


def test_a_nested_child_list_loads_and_its_table_is_captured(tmp_path: Path):
    project = load_project(_project(tmp_path))
    spec = project.entities["template"]
    assert [(c.path, c.parent_table, c.parent_primary_key) for c in spec.child_tables] == [
        (("variants",), "public.t_template", "id"),
        (("variants", "prices"), "public.t_variant", "id")]
    assert spec.child_tables[1].key == "children.variants.children.prices"
    assert set(project.captured_tables("erp")) == {
        "public.t_template", "public.t_variant", "public.t_cost_price"}
    assert spec.tables == ["public.t_template", "public.t_variant", "public.t_cost_price"]


def test_a_nested_order_by_that_is_no_attribute_names_the_nested_key(tmp_path: Path):
    root = _project(tmp_path, TEMPLATE.replace("order_by: valid_from", "order_by: valid_form"))
    assert any(f == "golden_records/template.yaml" and p.startswith(
        "children.variants.children.prices.order_by: 'valid_form' is not an attribute of prices")
        for f, p in _entries(root))


def test_a_nested_list_named_like_an_attribute_of_its_parent_row_is_refused(tmp_path: Path):
    root = _project(tmp_path, TEMPLATE.replace("      prices:\n", "      sku:\n"))
    assert any(f == "golden_records/template.yaml" and p.startswith("children.variants: ")
               and "children and attributes share names: ['sku']" in p
               for f, p in _entries(root))


def test_a_table_used_by_two_lists_of_one_entity_is_refused(tmp_path: Path):
    root = _project(tmp_path, TEMPLATE.replace("public.t_cost_price", "public.t_variant"))
    assert ("golden_records/template.yaml",
            "children.variants.children.prices.table: public.t_variant is already the table of "
            "children.variants; a table holds one list") in _entries(root)


def test_an_unknown_key_inside_a_nested_list_names_its_path(tmp_path: Path):
    root = _project(tmp_path, TEMPLATE.replace("parent_column: variant_id",
                                               "parent_colum: variant_id"))
    entries = _entries(root)
    assert ("golden_records/template.yaml",
            "children.variants.children.prices.parent_colum: unknown key (not allowed here)"
            ) in entries
    assert ("golden_records/template.yaml",
            "children.variants.children.prices.parent_column: required key is missing"
            ) in entries


# -- mapping and assembly -----------------------------------------------------------------------
def _spec(tmp_path: Path) -> EntitySpec:
    return load_project(_project(tmp_path)).entities["template"]


def _row(parent: str | None, deleted: bool = False, retired: bool = False,
         **attrs: object) -> RowImage:
    return RowImage(attrs=dict(attrs), retired=retired, position="0", parent_key=parent,
                    deleted=deleted)


def test_a_nested_row_belongs_to_the_record_of_its_parent_row_two_hops_up(tmp_path: Path):
    mappings = table_mappings(load_project(_project(tmp_path)), "erp")
    rows = {("public.t_variant", "7"): _row("1", sku="A")}
    assert object_of(mappings, "public.t_template", "1", None, rows) == "1"
    assert object_of(mappings, "public.t_variant", "7", "1", rows) == "1"
    assert object_of(mappings, "public.t_cost_price", "70", "7", rows) == "1"
    # a price whose variant the hub has not seen yet belongs to no record for now
    assert object_of(mappings, "public.t_cost_price", "80", "8", rows) is None
    assert mappings["public.t_cost_price"].is_nested
    assert not mappings["public.t_variant"].is_nested


def test_assembly_nests_each_variants_prices_in_order_without_gone_rows(tmp_path: Path):
    spec = _spec(tmp_path)
    children = {
        ("public.t_variant", "1"): {"8": _row("1", sku="B"), "7": _row("1", sku="A"),
                                    "9": _row("1", deleted=True, sku="C")},
        ("public.t_cost_price", "7"): {"71": _row("7", valid_from="2026-02-01", price="2.00"),
                                       "70": _row("7", valid_from="2026-01-01", price="1.00"),
                                       "72": _row("7", retired=True, valid_from="2026-03-01",
                                                  price="3.00")},
        ("public.t_cost_price", "9"): {"90": _row("9", valid_from="2026-01-01", price="9.00")},
        ("public.t_variant", "2"): {"20": _row("2", sku="Z")},  # another template's
    }
    attributes, status = assemble_record(spec, _row(None, code="T1", name="扳手"), "1", children)
    assert status == "active"
    assert attributes == {"code": "T1", "name": "扳手", "variants": [
        {"sku": "A", "prices": [{"valid_from": "2026-01-01", "price": "1.00"},
                                {"valid_from": "2026-02-01", "price": "2.00"}]},
        {"sku": "B", "prices": []},
    ]}


# -- mdm check --live -------------------------------------------------------------------------
def _catalog(price_parent: str = "integer") -> dict[str, Catalog]:
    def table(name: str, columns: dict[str, tuple[str, str]]) -> Table:
        return Table(name, {c: Column(c, w, f, 2 if f == "numeric" else None)
                            for c, (w, f) in columns.items()})
    integer, text = ("integer", "integer"), ("text", "text")
    tables = {
        "public.t_template": table("public.t_template", {"id": integer, "code": text,
                                                         "name": text}),
        "public.t_variant": table("public.t_variant", {"id": integer, "template_id": integer,
                                                       "sku": text}),
        "public.t_cost_price": table("public.t_cost_price", {
            "id": integer, "variant_id": (price_parent, price_parent), "valid_from":
            ("date", "date"), "price": ("numeric(12,2)", "numeric"), "active":
            ("boolean", "boolean")}),
    }
    return {"source erp": Catalog("source erp", tables, {}, frozenset(tables))}


def test_live_check_types_a_nested_parent_column_against_the_parent_rows_key(tmp_path: Path):
    project = load_project(_project(tmp_path))
    assert [f for f in compare(project, _catalog()) if f.level == "error"] == []
    [found] = [f for f in compare(project, _catalog(price_parent="text")) if f.level == "error"]
    assert (found.file, found.key) == ("golden_records/template.yaml",
                                       "children.variants.children.prices.parent_column")
    assert "public.t_variant.id, the key it points to, is integer" in found.message

