"""flows/*.yaml: hops are data. A bad flow file is refused naming the file, the key and what
was expected; a good one gives the hop's condition, its command's payload and its link."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mdm.config.flow_payload import UnmappedValue, command_payload
from mdm.config.flows import FlowSpec, Transition
from mdm.config.loader import load_project
from mdm.errors import ConfigError
from mdm.flows.conditions import changed, fires

FLOW = Path("flows/purchase_approval.yaml")


def _entries(project: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load_project(project)
    return err.value.entries


def _edit(project: Path, change) -> None:
    data = yaml.safe_load((project / FLOW).read_text(encoding="utf-8"))
    change(data["hops"][0])
    (project / FLOW).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("text, start, end", [
    ("status: submitted → approved", ("submitted",), ("approved",)),
    ("status: submitted -> approved", ("submitted",), ("approved",)),
    ("status: draft | submitted → approved", ("draft", "submitted"), ("approved",)),
    ("status: approved", None, ("approved",)),
])
def test_a_transition_is_written_as_an_arrow(text: str, start, end):
    hop = {"name": "h", "from": "e", "when": text,
           "to": {"target": "t", "operation": "create", "path": "/x", "fields": {}}}
    when = FlowSpec.model_validate({"flow": "f", "hops": [hop]}).hops[0].when
    assert (when.attribute, when.from_, when.to) == ("status", start, end)


def test_a_transition_may_be_a_mapping():
    hop = {"name": "h", "from": "e", "when": {"status": {"from": "submitted", "to": "approved"}},
           "to": {"target": "t", "operation": "create", "path": "/x", "fields": {}}}
    when = FlowSpec.model_validate({"flow": "f", "hops": [hop]}).hops[0].when
    assert (when.from_, when.to) == (("submitted",), ("approved",))


def test_a_transition_without_a_state_to_move_to_is_refused():
    hop = {"name": "h", "from": "e", "when": "status: submitted →",
           "to": {"target": "t", "operation": "create", "path": "/x", "fields": {}}}
    with pytest.raises(ValidationError, match="no state to move to"):
        FlowSpec.model_validate({"flow": "f", "hops": [hop]})


def test_the_shipped_flow_loads(project: Path):
    loaded = load_project(project)
    [(flow, hop)] = loaded.hops_from("purchase_request")
    assert (flow, hop.name, hop.to.target, hop.to.operation) == (
        "purchase_approval", "create_po", "erp", "create")
    assert loaded.command_of("purchase_approval.create_po.back") == (hop, True)


@pytest.mark.parametrize("change, key, expected", [
    (lambda h: h.update({"from": "purchase_requestt"}), "hops.0.from",
     "'purchase_requestt' is not an entity in golden_records/"),
    (lambda h: h.update({"when": "state: submitted → approved"}), "hops.0.when",
     "'state' is not an attribute of purchase_request"),
    (lambda h: h["to"].update({"target": "oa_db"}), "hops.0.to.table",
     "required for create at a sql target"),
    (lambda h: h["to"]["fields"].update({"supplier": "vendor"}), "hops.0.to.fields.supplier",
     "'vendor' is not an attribute or child list of purchase_request"),
    (lambda h: h["to"]["children"]["lines"]["fields"].update({"qty": "qty"}),
     "hops.0.to.children.lines.fields.qty",
     "'qty' is not an attribute or child list of the rows of purchase_request.lines"),
    (lambda h: h["link"].update({"by": "origin"}), "hops.0.link.by",
     "'origin' is not an attribute of purchase_order"),
    (lambda h: h["back"]["fields"].update({"po_no": "number"}), "hops.0.back.fields.po_no",
     "'number' is not an attribute or child list of purchase_order"),
    (lambda h: h["back"].update({"target": "oaa"}), "hops.0.back.target",
     "'oaa' is not a target in targets/"),
])
def test_a_bad_hop_names_the_file_the_key_and_what_was_expected(project: Path, change, key,
                                                                 expected):
    _edit(project, change)
    problems = [p for f, p in _entries(project) if f == str(FLOW)]
    assert any(p.startswith(f"{key}: ") and expected in p for p in problems), problems


def test_back_without_link_is_refused(project: Path):
    _edit(project, lambda h: h.pop("link"))
    [(file, problem)] = _entries(project)
    assert (file, problem) == (str(FLOW), "hops.0.back: needs `link:` (which created document "
                                          "returns its fields)")


def test_a_command_payload_maps_header_lines_value_maps_and_constants(project: Path):
    hop = load_project(project).flows["purchase_approval"].hops[0]
    request = {"request_no": "PR-1", "vendor_code": "S0001", "requester": "E001",
               "approver": "王经理", "title": "螺丝", "status": "approved",
               "lines": [{"line_no": 1, "material_code": "M-1002", "quantity": "12.500",
                          "unit_price": "3.2000", "needed_by": "2026-12-20"}]}
    assert command_payload(hop.to, request) == {
        "request_no": "PR-1", "supplier_code": "S0001", "buyer": "E001", "approved_by": "王经理",
        "remark": "螺丝", "lines": [{"material_code": "M-1002", "quantity": "12.500",
                                    "unit_price": "3.2000", "needed_by": "2026-12-20"}]}
    assert hop.back is not None
    assert command_payload(hop.back, {"po_no": "4500000001", "status": "partial"}) == {
        "po_no": "4500000001", "po_status": "部分到货"}


def test_a_value_the_map_lacks_is_refused_naming_field_and_value(project: Path):
    back = load_project(project).flows["purchase_approval"].hops[0].back
    assert back is not None
    with pytest.raises(UnmappedValue, match=r"po_status: the value map of status has no entry "
                                            r"for 'on_hold'"):
        command_payload(back, {"po_no": "1", "status": "on_hold"})


def test_a_transition_fires_once_when_the_attribute_moves_to_its_state():
    when = Transition.model_validate({"attribute": "status", "from": ("submitted",),
                                      "to": ("approved",)})
    assert fires(when, {"status": "submitted"}, {"status": "approved"})
    assert not fires(when, {"status": "approved"}, {"status": "approved", "po_no": "1"})
    assert not fires(when, {"status": "draft"}, {"status": "approved"})
    assert not fires(when, {"status": "submitted"}, {"status": "rejected"})
    assert not fires(when, None, {"status": "approved"})  # a new record has no state to leave
    anywhere = Transition.model_validate({"attribute": "status", "to": ("approved",)})
    assert fires(anywhere, None, {"status": "approved"})
    assert fires(anywhere, {"status": "draft"}, {"status": "approved"})


def test_changed_compares_only_the_named_attributes():
    assert changed(None, {"a": 1}, {"a"})
    assert not changed({"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a"})
    assert changed({"a": 1}, {"a": 2}, {"a"})


def test_a_command_renders_references_and_keeps_only_the_rows_its_where_keeps():
    from mdm.config.flows import CommandMapping
    from mdm.model.references import ReferencedRecord, listed_slot

    mapping = CommandMapping.model_validate({
        "fields": {"supplier_no": "supplier.code", "lines": "lines"},
        "children": {"lines": {"fields": {"item_code": "material.code", "qty": "rejected_qty"},
                               "where": "rejected_qty > 0"}}})
    order = {"supplier": "7", "lines": [{"material": "3", "rejected_qty": "0.000"},
                                        {"material": "4", "rejected_qty": "2.500"}]}
    referenced = {"supplier": ReferencedRecord(70, {"code": "S0007"}, {}),
                  listed_slot(("lines",), "material", "4"): ReferencedRecord(
                      40, {"code": "M-1004"}, {})}
    assert command_payload(mapping, order, referenced) == {
        "supplier_no": "S0007", "lines": [{"item_code": "M-1004", "qty": "2.500"}]}


def test_a_guard_holds_when_any_row_matches():
    from mdm.config.flow_payload import guard_holds
    from mdm.config.flows import Guard

    guard = Guard.model_validate({"any": "lines", "where": "rejected_qty > 0"})
    assert guard_holds(guard, {"lines": [{"rejected_qty": "0"}, {"rejected_qty": "1.5"}]})
    assert not guard_holds(guard, {"lines": [{"rejected_qty": "0"}]})
    assert not guard_holds(guard, {"lines": []})
    assert guard_holds(None, {})


@pytest.mark.parametrize("change, key, expected", [
    (lambda h: h.update({"if": {"any": "rows", "where": "quantity > 0"}}), "hops.0.if.any",
     "'rows' is not a child list of purchase_request"),
    (lambda h: h.update({"if": {"any": "lines", "where": "qty > 0"}}), "hops.0.if.where",
     "qty: not attributes of the rows of purchase_request.lines"),
    (lambda h: h.update({"origin": {"entity": "purchase_order", "by": "po"}}), "hops.0.origin.by",
     "'po' is not an attribute of purchase_request"),
    (lambda h: h.update({"task": {"summary": "看 {request}", "team": "purchasing"}}),
     "hops.0.task.summary", "{request} is not an attribute of purchase_request"),
    (lambda h: h["to"]["fields"].update({"vendor": "vendor_code.code"}),
     "hops.0.to.fields.vendor", "vendor_code is not a reference attribute of purchase_request"),
])
def test_a_bad_guard_origin_task_or_reference_names_its_key(project: Path, change, key, expected):
    _edit(project, change)
    problems = [p for f, p in _entries(project) if f == str(FLOW)]
    assert any(p.startswith(f"{key}: ") and expected in p for p in problems), problems


def test_a_target_kind_that_cannot_create_is_refused(project: Path):
    (project / "targets/erp_mq.yaml").write_text(
        "name: erp_mq\nkind: amqp\nurl: amqp://guest:guest@127.0.0.1:5672/\n", encoding="utf-8")
    _edit(project, lambda h: h["to"].update({"target": "erp_mq"}))
    assert (str(FLOW), "hops.0.to.target: 'erp_mq' is a target of kind amqp, which cannot "
            "create documents (kinds that can: rest, sql)") in _entries(project)


def test_a_hop_id_parses_back_into_flow_hop_and_direction():
    from mdm.config.flows import hop_id, parse_hop_id
    assert parse_hop_id(hop_id("purchase_receipt", "stock_in")) == (
        "purchase_receipt", "stock_in", False)
    assert parse_hop_id(hop_id("purchase_receipt", "stock_in", back=True)) == (
        "purchase_receipt", "stock_in", True)
    for bad in ("purchase_receipt", "a.b.c", ".b", "a."):
        with pytest.raises(ValueError, match="not a hop id"):
            parse_hop_id(bad)


def test_created_documents_keep_their_keys_per_hop_apart_from_the_records_own():
    from mdm.config.flows import created_xref
    assert created_xref("erp", "purchase_receipt.stock_in") != created_xref(
        "erp", "purchase_receipt.purchase_return")
    assert created_xref("erp", "purchase_receipt.stock_in") != "erp"


def test_a_flow_link_naming_what_does_not_exist_is_refused_naming_the_key(tmp_path: Path):
    shutil.copytree("flows", tmp_path / "flows")
    for folder in ("cdc", "golden_records", "targets", "rules"):
        shutil.copytree(folder, tmp_path / folder)
    (tmp_path / "flows/links.yaml").write_text(
        "flow: links\nlinks:\n  - {name: payable, entity: payable, origin: {entity: stock_in, "
        "by: stock_no}}\n  - {name: ghost, entity: ghost, origin: {entity: stock_in, by: x}}\n",
        encoding="utf-8")
    entries = _entries(tmp_path)
    assert any(f.endswith("links.yaml") and "links.0.origin.by: 'stock_no' is not an "
               "attribute of payable" in p for f, p in entries), entries
    assert any("links.1.entity: 'ghost' is not an entity" in p for _, p in entries), entries


def test_a_flow_without_hops_or_links_is_refused():
    with pytest.raises(ValidationError, match="at least one hop"):
        FlowSpec.model_validate({"flow": "empty"})
    with pytest.raises(ValidationError, match="named 'a'"):
        FlowSpec.model_validate({"flow": "f", "hops": [
            {"name": "a", "from": "e", "when": "status: x", "task": {"summary": "s", "team": "t"}}],
            "links": [{"name": "a", "entity": "e", "origin": {"entity": "o", "by": "b"}}]})


def _row_hop(**change) -> dict:
    hop = {"name": "line_short", "from": "pick_task",
           "when": {"any": "lines", "where": "short_qty > 0", "key": "line_no"},
           "task": {"summary": "缺料 {lines.item_code}：拣货任务 {task_no}", "team": "production"}}
    hop.update(change)
    return hop


def test_a_row_transition_fires_for_a_row_that_newly_matches():
    from mdm.config.flows import RowTransition
    when = FlowSpec.model_validate({"flow": "f", "hops": [_row_hop()]}).hops[0].when
    assert isinstance(when, RowTransition) and when.key == "line_no"
    short = {"lines": [{"line_no": 1, "short_qty": "0"}, {"line_no": 2, "short_qty": "5"}]}
    assert fires(when, None, short)  # a new record with a short line
    assert not fires(when, short, short)  # the same rows read again
    reordered = {"lines": list(reversed(short["lines"]))}
    assert not fires(when, short, reordered)  # rows are known by their key, not position
    both = {"lines": [{"line_no": 1, "short_qty": "2"}, {"line_no": 2, "short_qty": "5"}]}
    assert fires(when, short, both)  # line 1 went above 0
    assert not fires(when, both, short)  # back to 0 is not the transition


def test_a_task_summary_names_the_rows_that_fired_it():
    from datetime import datetime, timezone

    from mdm.flows.tasks import hop_task
    from mdm.model.golden import Cause, NewVersion
    project = load_project(Path("."))
    hop = FlowSpec.model_validate({"flow": "f", "hops": [_row_hop()]}).hops[0]
    before = {"lines": [{"line_no": 1, "item_code": "M-1", "short_qty": "0"}]}
    after = {"task_no": "PT-1", "lines": [
        {"line_no": 1, "item_code": "M-1", "short_qty": "3"},
        {"line_no": 2, "item_code": "M-2", "short_qty": "1"},
        {"line_no": 3, "item_code": "M-3", "short_qty": "0"}]}
    v = NewVersion(7, 2, "pick_task", "PT-1", after, "active", datetime.now(timezone.utc),
                   Cause("change_event", "wms", None, None, "u", None, None, None, None))
    task = hop_task(project, "f", hop, v, before)
    assert task.summary == "缺料 M-1、M-2：拣货任务 PT-1"
    assert [r["line_no"] for r in task.detail["rows"]] == [1, 2]


@pytest.mark.parametrize("change, key", [
    ({"when": {"any": "liness", "where": "short_qty > 0"}}, "hops.0.when.any: 'liness'"),
    ({"when": {"any": "lines", "where": "shortage > 0"}}, "hops.0.when.where: shortage"),
    ({"when": {"any": "lines", "where": "short_qty > 0", "key": "no"}}, "hops.0.when.key: 'no'"),
    ({"task": {"summary": "{allocations.batch_no}", "team": "t"}},
     "hops.0.task.summary: {allocations.batch_no}: 'allocations' is not the child list"),
    ({"task": {"summary": "{lines.batch}", "team": "t"}},
     "hops.0.task.summary: {lines.batch}: 'batch' is not an attribute"),
])
def test_a_row_transition_naming_what_does_not_exist_is_refused(tmp_path: Path, change, key):
    for folder in ("cdc", "golden_records", "targets", "rules", "flows"):
        shutil.copytree(folder, tmp_path / folder)
    (tmp_path / "flows/rows.yaml").write_text(yaml.safe_dump(
        {"flow": "rows", "hops": [_row_hop(**change)]}, allow_unicode=True), encoding="utf-8")
    entries = _entries(tmp_path)
    assert any(f.endswith("rows.yaml") and key in p for f, p in entries), entries


def test_only_changed_fields_are_sent_and_never_none():
    from mdm.config.flow_payload import changed_fields
    assert changed_fields({"po_no": "45", "po_status": "已下达"}, {"po_no": "45",
                                                                 "po_status": "已创建"}) \
        == {"po_status": "已下达"}
    assert changed_fields({"po_no": "45"}, {}) == {"po_no": "45"}  # nothing known: all
    assert changed_fields({"po_no": "45"}, {"po_no": "45"}) == {"po_no": "45"}  # a repeat
