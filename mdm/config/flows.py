"""Pydantic schemas of flows/*.yaml: documents that travel across systems, hop by hop.

A hop says: when a version of entity `from` (made by its system of record) meets `when` — a
state transition such as `status: submitted → approved` — perform `to.operation` on target
`to.target` with this mapping, exactly once per source document; the created document
(`link`) points back at its origin, and `back` says which of its fields return there.

    flow: purchase_approval
    hops:
      - name: create_po
        from: purchase_request
        when: "status: submitted → approved"
        to: {target: erp, operation: create, path: /api/purchase-orders,
             fields: {request_no: request_no, supplier_code: vendor_code, lines: lines},
             children: {lines: {fields: {material_code: material_code, quantity: quantity}}}}
        link: {entity: purchase_order, by: request_no}
        back: {target: oa, path: /api/purchase-requests,
               fields: {po_no: po_no, po_status: {from: status, map: {released: 已下达供应商}}}}

Cross-file checks (entities, attributes, targets): flow_checks.py.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from mdm.config.models import Where
from mdm.config.row_filter import RowFilter, parse_where
from mdm.config.references import Rendered
from mdm.config.row_match import matches
from mdm.config.targets import Identifier, Spec
from mdm.model.references import ReferencedRecord, field_path, listed_slot, render_field

if TYPE_CHECKING:
    from mdm.config.models import EntitySpec

ARROW = re.compile(r"\s*(?:→|->)\s*")


class ValueMap(Spec):
    """A field whose value is translated: `{from: status, map: {released: 已下达供应商}}`
    (expense type → ERP account). A value the map lacks takes `default`; without one the
    command is refused with the value named (a task), never sent with a guess."""

    from_: str = Field(alias="from", description="The attribute whose value is translated.")
    map: dict[str, Any] = Field(description="source value (as text) → the value written.")
    default: Any = Field(None, description="The value for one the map lacks (none: refused).")

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class Constant(Spec):
    """A field with a fixed value: `{value: CNY}`."""

    value: Any


FieldSource = str | ValueMap | Constant


def _field_source(value: Any) -> Any:
    if isinstance(value, dict) and "value" in value and len(value) == 1:
        return Constant(value=value["value"])
    return value


Field_ = Annotated[FieldSource, BeforeValidator(_field_source)]


class CommandList(Spec):
    """How the rows of one child list are written inside the list's field (a request's lines
    as the ERP's order lines)."""

    fields: dict[str, Field_] = Field(description="item field: an attribute of the rows, a "
                                      "row's reference rendered (`material.code`), a value "
                                      "map or a constant.")
    where: Where = Field(None, description="Only the rows this condition keeps (SQL over the "
                         "rows' attributes: `rejected_qty > 0`).")
    table: str | None = Field(None, description="sql: the table the rows are inserted into, "
                              "in the header's transaction.")
    parent_column: str | None = Field(None, description="sql: the rows' column that takes the "
                                      "header row's primary key.")

    @property
    def row_filter(self) -> RowFilter | None:
        return None if self.where is None else parse_where(self.where)


class CommandMapping(Spec):
    """What a hop writes: the header's fields and each child list's rows."""

    fields: dict[str, Field_] = Field(description="target field: attribute of the version "
                                      "(or a child list's name), a value map or a constant.")
    children: dict[Identifier, CommandList] = Field(
        default_factory=dict, description="child list name → how its rows are written inside "
        "the field that maps the list.")

    @property
    def active_field(self) -> None:  # the FieldMapping shape: a command sends no active flag
        return None


class HopTo(CommandMapping):
    """The operation on the target system."""

    target: Identifier = Field(description="The target (targets/<name>.yaml) written.")
    operation: Literal["create", "update"] = Field(
        description="create: the target assigns the document's key (REST: POST to `path`, "
        "the answer's id/number kept); update: write these fields onto the target's record "
        "whose key is the version's `key` attribute (REST: PATCH `path`/<key>).")
    path: str | None = Field(None, description="rest: the collection path, e.g. "
                             "/api/purchase-orders.")
    key: str | None = Field(None, description="update: the attribute naming the record to "
                            "update at the target (default: the entity's business key).")
    table: str | None = Field(None, description="sql: the header table (an ERP's interface "
                              "table); create inserts header and rows in one transaction.")
    command_key: str | None = Field(None, description="sql create: the header's column that "
                                    "keeps the command's idempotency key (unique): a retry "
                                    "finds the row it made instead of making another.")
    returning: str | None = Field(None, description="sql create: the column whose value (the "
                                  "number the database assigns) is kept as the document's "
                                  "key; default the primary key.")
    match: str | None = Field(None, description="sql update: the column the key is matched on.")


class Guard(Spec):
    """A further condition on the version that fires a hop: over its own attributes
    (`where: "amount > 0"`), or true when any row of a child list matches (`any: lines`)."""

    where: Where = Field(description="SQL condition over the attributes (of the rows of `any`).")
    any: Identifier | None = Field(None, description="A child list: some row must match.")

    @property
    def row_filter(self) -> RowFilter:
        assert self.where is not None
        return parse_where(self.where)


class TaskSpec(Spec):
    """A task a hop opens for people (purchasing, for a nonconforming receipt), once per
    source document."""

    summary: str = Field(description="What the task says; {attribute} is replaced by the "
                         "version's value (`来料不合格: 收货单 {receipt_no}，采购订单 {po_no}`).")
    team: str = Field(description="Who works it (purchasing, finance, warehouse): the "
                      "workbench filters by it.")
    severity: Literal["warning", "error"] = "warning"


class Origin(Spec):
    """The document the watched version names as the one it comes from (a WMS receipt names
    its ERP purchase order): the hop's commands wait until the hub holds it, and the trace
    shows the version's record under it."""

    entity: Identifier = Field(description="The origin's entity.")
    by: str = Field(description="The watched entity's attribute holding the origin's business key.")


class Link(Spec):
    """How the document a hop created points back at its origin: the created entity's
    attribute that holds the origin's business key (the ERP PO's request_no)."""

    entity: Identifier = Field(description="The created document's entity (captured from the "
                               "target system like any other: golden_records/<entity>.yaml).")
    by: str = Field(description="Its attribute holding the origin document's business key.")


class Back(CommandMapping):
    """What returns to the origin: each version of the linked document that changes one of
    these fields' attributes updates the origin's record at `target` (update by link)."""

    target: Identifier = Field(description="The origin system's target (targets/<name>.yaml).")
    path: str | None = Field(None, description="rest: the origin's collection path; PATCH "
                             "<path>/<origin key>.")
    table: str | None = Field(None, description="sql: the origin's table; UPDATE … WHERE "
                              "<match> = <origin key>.")
    match: str | None = Field(None, description="sql: the column holding the origin's key.")


class Transition(Spec):
    """A state transition of one attribute: to one of `to`, from one of `from` (any other
    value, or a new record, when `from` is not given). A version whose attribute does not
    change does not fire, so re-reading the same state (a redelivered event, an edit of
    another field) makes no second command."""

    attribute: str
    from_: tuple[str, ...] | None = Field(None, alias="from")
    to: tuple[str, ...]

    def describe(self) -> str:
        start = " | ".join(self.from_) if self.from_ else "*"
        return f"{self.attribute}: {start} → {' | '.join(self.to)}"


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split("|") if v.strip())


def _transition(value: Any) -> Any:
    """`status: submitted → approved` (or ->, `a | b` for either, `status: approved` for any
    change to approved) and `{status: {from: submitted, to: approved}}` are one Transition."""
    if isinstance(value, str):
        attribute, sep, rest = value.partition(":")
        if not sep or not attribute.strip():
            raise ValueError("expected 'attribute: from → to' (e.g. 'status: submitted → "
                             "approved') or 'attribute: to'")
        parts = ARROW.split(rest.strip(), maxsplit=1)
        start, end = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
        if not _values(end):
            raise ValueError(f"'{value}': no state to move to after the arrow")
        return {"attribute": attribute.strip(), "from": _values(start) or None,
                "to": _values(end)}
    if isinstance(value, dict) and len(value) == 1 and "attribute" not in value:
        (attribute, states), = value.items()
        if isinstance(states, dict):
            return {"attribute": attribute, **{k: _listed(v) for k, v in states.items()}}
        return {"attribute": attribute, "to": _listed(states)}
    return value


def _listed(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


When = Annotated[Transition, BeforeValidator(_transition)]


class Hop(Spec):
    name: Identifier
    description: str | None = None
    from_: Identifier = Field(alias="from", description="The entity whose versions (made by its "
                              "system of record) the hop watches.")
    when: When = Field(description="The state transition that fires the hop.")
    if_: Guard | None = Field(None, alias="if", description="A further condition (see Guard).")
    origin: Origin | None = None
    to: HopTo | None = Field(None, description="The operation on a target (see HopTo).")
    task: TaskSpec | None = None
    actor: str | None = Field(None, description="The attribute naming who made the "
                              "transition (the approver): traces and lineage show it.")
    link: Link | None = None
    back: Back | None = None
    snapshot: bool = Field(False, description="Also fire on rows read by the initial snapshot "
                           "(false: going live never re-creates documents of the past).")

    @model_validator(mode="after")
    def _back_needs_link(self) -> Hop:
        if self.to is None and self.task is None:
            raise ValueError("to: required (or task:): what the hop does")
        if self.back is not None and self.link is None:
            raise ValueError("back: needs `link:` (which created document returns its fields)")
        if self.link is not None and (self.to is None or self.to.operation != "create"):
            raise ValueError("link: only for a hop whose `to` creates a document")
        if self.to is not None and self.to.operation == "create" and self.to.key is not None:
            raise ValueError("to.key: only for operation update (a create's key is assigned "
                             "by the target)")
        return self


class FlowSpec(Spec):
    flow: Identifier
    description: str | None = None
    hops: list[Hop] = Field(min_length=1)

    @field_validator("hops")
    @classmethod
    def _names_unique(cls, hops: list[Hop]) -> list[Hop]:
        seen: set[str] = set()
        for hop in hops:
            if hop.name in seen:
                raise ValueError(f"two hops are named '{hop.name}'")
            seen.add(hop.name)
        return hops

    def hop(self, name: str) -> Hop:
        return next(h for h in self.hops if h.name == name)


def hop_id(flow: str, hop: str, back: bool = False) -> str:
    """How a command's delivery names its hop: flow.hop, flow.hop.back for the return."""
    return f"{flow}.{hop}{'.back' if back else ''}"


class UnmappedValue(ValueError):
    """A value map (`{from: …, map: …}`) lacks the version's value and has no default."""


def command_payload(mapping: CommandMapping, attributes: Mapping[str, Any],
                    referenced: Mapping[str, ReferencedRecord] | None = None,
                    target: str | None = None) -> dict[str, Any]:
    """What a command writes: each field from the version's attributes (a reference's record
    rendered as a target mapping renders it, from `referenced`; a child list's rows by the
    list's own fields, only those its `where:` keeps), through value maps and constants.
    Raises UnmappedValue naming the field and the value a map lacks: the command is refused,
    never sent with a guess."""
    found = referenced or {}
    payload = {}
    for field, source in mapping.fields.items():
        if isinstance(source, str) and source in mapping.children:
            rows = mapping.children[source]
            payload[field] = [_row(rows.fields, row, f"{field}[{n}]", found, target, source)
                              for n, row in enumerate(attributes.get(source) or [])
                              if rows.row_filter is None or matches(rows.row_filter, row)]
        else:
            payload[field] = _value(source, attributes, field, found, target, ())
    return payload


def _row(fields: Mapping[str, FieldSource], row: Mapping[str, Any], at: str,
         referenced: Mapping[str, ReferencedRecord], target: str | None,
         path: str) -> dict[str, Any]:
    return {field: _value(source, row, f"{at}.{field}", referenced, target, (path,))
            for field, source in fields.items()}


def _value(source: FieldSource, attributes: Mapping[str, Any], field: str,
           referenced: Mapping[str, ReferencedRecord], target: str | None,
           path: tuple[str, ...]) -> Any:
    if isinstance(source, Constant):
        return source.value
    if isinstance(source, str):
        if "." not in source:
            return attributes.get(source)
        fp = field_path(source)
        slot = listed_slot(path, fp.attribute, attributes.get(fp.attribute)) if path \
            else fp.attribute
        record = referenced.get(slot)
        return render_field(fp, attributes, {fp.attribute: record} if record else {}, target)
    value = attributes.get(source.from_)
    text = "" if value is None else str(value)
    if text in source.map:
        return source.map[text]
    if source.has_default:
        return source.default
    known = ", ".join(sorted(source.map))
    raise UnmappedValue(f"{field}: the value map of {source.from_} has no entry for {value!r} "
                        f"(known: {known}); add it to the flow's file or give it a default")


def guard_holds(guard: Guard | None, attributes: Mapping[str, Any]) -> bool:
    """Whether the hop's `if:` holds for the version (no guard: it does)."""
    if guard is None:
        return True
    if guard.any is None:
        return matches(guard.row_filter, attributes)
    return any(matches(guard.row_filter, row) for row in attributes.get(guard.any) or ()
               if isinstance(row, Mapping))


def command_references(spec: EntitySpec, mapping: CommandMapping) -> list[Rendered]:
    """The references whose record a command's mapping renders (`supplier.code`, a line's
    `material.code`): loaded with the command when it is claimed."""
    found: set[Rendered] = set()
    for path, attributes, fields in _mapped(spec, mapping):
        for source in fields.values():
            if isinstance(source, str) and "." in source:
                attribute = attributes.get(field_path(source).attribute)
                if attribute is not None and attribute.references is not None:
                    found.add(Rendered(path, field_path(source).attribute,
                                       attribute.references.entity))
    return sorted(found, key=lambda r: (r.path, r.attribute))


def _mapped(spec: EntitySpec, mapping: CommandMapping) -> list[tuple[tuple[str, ...], Any, Any]]:
    found: list[tuple[tuple[str, ...], Any, Any]] = [((), spec.attributes, mapping.fields)]
    for name, rows in mapping.children.items():
        if name in spec.children:
            found.append(((name,), spec.children[name].attributes, rows.fields))
    return found
