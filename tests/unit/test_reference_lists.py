"""References inside child lists (no I/O): a list mapping's rows render their references from
the records given under their slot, waits_of names the lines' references, a mapping naming
what a list's rows lack is refused, a composite-key entity's child list names its parent
with one column per key column, and a material's changed code re-sends the orders whose lines
show it, only where they show it; a divergence rule on a list whose rows render a reference
is refused."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mdm.config.models import EntitySpec
from mdm.config.project_checks import Findings
from mdm.config.reference_checks import check_divergence_fields
from mdm.config.references import Wait, rendered_references, waits_of
from mdm.model.deliveries import build_payload
from mdm.model.references import ReferencedRecord, listed_slot
from mdm.config.rules import RuleFile
from mdm.pipeline.references import _shown_by_referrers
from mdm.store.repositories.outbox import Rerender

ORDER = """entity: purchase_order
table: po
business_key: number
attributes:
  number: {type: string}
children:
  lines:
    table: po_line
    parent_column: po_id
    attributes:
      qty: {type: decimal}
      material: {references: material, column: material_id}
targets:
  wms:
    table: wms_po
    key: po_no
    fields: {po_no: number, lines: lines}
    children:
      lines: {fields: {material_code: material.code, material_id: material.xref, qty: qty}}
"""
MATERIAL = """entity: material
table: material
business_key: code
attributes: {code: {type: string}}
targets: {wms: {table: wms_item, key: code}}
"""


def _spec(text: str, **changes: Any) -> EntitySpec:
    data = yaml.safe_load(text)
    data.update(changes)
    return EntitySpec.model_validate(data)


def test_a_lines_reference_is_rendered_from_the_record_given_under_its_slot():
    spec = _spec(ORDER)
    lines = [{"qty": 2, "material": "7"}, {"qty": 1, "material": "8"},
             {"qty": 3, "material": None}]
    attributes = {"number": "PO1", "lines": lines}
    m7 = ReferencedRecord(70, {"code": "M07"}, {"wms": "w7"})
    payload = build_payload(spec.targets["wms"], attributes, "active",
                            {listed_slot(("lines",), "material", "7"): m7}, "wms")
    assert payload == {"po_no": "PO1", "lines": [
        {"material_code": "M07", "material_id": "w7", "qty": 2},
        {"material_code": None, "material_id": None, "qty": 1},  # its record not given
        {"material_code": None, "material_id": None, "qty": 3}]}
    [rendered] = rendered_references(spec, "wms")
    assert list(rendered.slots(attributes)) == [("lines.material=7", "7"),
                                                ("lines.material=8", "8")]


def test_an_order_waits_for_each_lines_material_at_the_target():
    entities = {"purchase_order": _spec(ORDER), "material": _spec(MATERIAL)}
    [wait] = waits_of(entities, "purchase_order", "wms")
    assert wait == Wait("material", "material", "wms", ("lines",))
    assert wait.keys_in({"lines": [{"material": "8"}, {"material": "7"}, {"material": "8"},
                                   {"material": None}]}) == ["7", "8"]


@pytest.mark.parametrize(("children", "message"), [
    ({"lines": {"fields": {"x": "nope"}}}, "children.lines.fields.x: 'nope' is not an attribute"),
    ({"lines": {"fields": {"x": "qty.code"}}}, "qty is not a reference attribute"),
    ({"heads": {"fields": {"x": "qty"}}}, "children.heads: not a child list of purchase_order"),
])
def test_a_list_mapping_naming_what_the_rows_lack_is_refused(children: dict[str, Any],
                                                              message: str):
    data = yaml.safe_load(ORDER)
    data["targets"]["wms"]["children"] = children
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        EntitySpec.model_validate(data)


def test_a_composite_key_entitys_list_names_its_parent_with_each_key_column():
    data = yaml.safe_load(ORDER)
    data.update(primary_key=["wh", "code"], targets={})
    data["children"]["lines"]["parent_column"] = ["po_wh", "po_code"]
    [child] = EntitySpec.model_validate(data).child_tables
    assert (child.spec.parent_columns, child.parent_keys) == (["po_wh", "po_code"], ("wh", "code"))
    data["children"]["lines"]["parent_column"] = "po_id"
    with pytest.raises(ValidationError, match=r"1 column\(s\) for the 2 key column\(s\)"):
        EntitySpec.model_validate(data)


def test_a_materials_code_is_shown_by_the_orders_lines_only_where_their_mapping_renders_it():
    data = yaml.safe_load(ORDER)
    data["targets"]["oa"] = {"table": "oa_po", "key": "po_no",  # the lines as the hub holds them
                             "fields": {"po_no": "number", "lines": "lines"}}
    entities = {"purchase_order": EntitySpec.model_validate(data), "material": _spec(MATERIAL)}
    [shown] = _shown_by_referrers(entities)["material"]
    assert (shown.entity, shown.attribute, shown.target, shown.shown, shown.waits,
            shown.path) == ("purchase_order", "material", "wms", frozenset({"code"}), True,
                            ("lines",))


def test_a_rerender_finds_its_referrers_by_what_their_attributes_contain():
    in_lines = Rerender("purchase_order", "material", "7", "wms", 70, 2, "wms", ("lines",))
    assert in_lines.pattern == {"lines": [{"material": "7"}]}
    nested = Rerender("template", "currency", "CNY", "wms", 9, 3, None, ("variants", "prices"))
    assert nested.pattern == {"variants": [{"prices": [{"currency": "CNY"}]}]}
    own = Rerender("employee", "department", "5", "oa", 50, 4, "oa")
    assert own.pattern == {"department": "5"}


def test_a_divergence_rule_on_a_list_whose_rows_render_a_reference_is_refused():
    data = yaml.safe_load(ORDER)
    data["targets"]["oa"] = {"table": "oa_po", "key": "po_no",  # the lines as the hub holds them
                             "fields": {"po_no": "number", "lines": "lines"}}
    entities = {"purchase_order": EntitySpec.model_validate(data), "material": _spec(MATERIAL)}
    rules = RuleFile.model_validate({"entity": "purchase_order", "divergence": [
        {"target": "wms", "fields": ["po_no", "lines"]}, {"target": "oa", "fields": ["lines"]}]})
    found = Findings()
    check_divergence_fields({"purchase_order": rules}, entities, found)
    assert found.problems == [(
        "rules/purchase_order.yaml", "divergence.0.fields: 'lines' is rendered from a "
        "referenced record (its rows' material_code: material.code in the mapping's "
        "children.lines); divergence compares the record's own fields only: leave it out of "
        "fields")]  # the oa copy's lines carry the hub's own rows: compared as they are
