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

Cross-file checks (entities, attributes, targets): flow_checks.py; payloads: flow_payload.py.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from mdm.config.models import Where
from mdm.config.row_filter import RowFilter, parse_where
from mdm.config.targets import Identifier, Spec

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


TEMPLATE = re.compile(r"{(\w+)\.([\w.]+)}")


class CallStep(Spec):
    """One call of a create that takes several (金蝶云星空's WebAPI saves, submits and audits a
    document in three): each sent with its own idempotency key (the command's plus its name),
    its answer kept, a retry going on from the first step not done."""

    name: Identifier
    path: str = Field(description="rest: the path of this call.")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    body: Any = Field("{payload}", description="A JSON template: \"{payload}\" is the hop's "
                      "mapped fields, \"{step.field}\" an earlier step's answer "
                      "(`{form_id: PUR_Requisition, model: \"{payload}\"}`, "
                      "`{numbers: [\"{save.result.number}\"]}`).")

    def needs(self) -> set[str]:
        """The earlier steps its body names."""
        return {m.group(1) for m in TEMPLATE.finditer(repr(self.body))}


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
    steps: list[CallStep] | None = Field(None, description="rest create: a sequence of calls "
                                         "instead of one POST to `path` (see CallStep).")
    key_from: str | None = Field(None, description="With steps: step.field of the answer that "
                                 "holds the document's key (`save.number`).")

    @model_validator(mode="after")
    def _steps_fit(self) -> HopTo:
        if self.steps is None:
            if self.key_from is not None:
                raise ValueError("key_from: only with steps:")
            return self
        seen: set[str] = set()
        for n, step in enumerate(self.steps):
            unknown = step.needs() - seen
            if unknown:
                raise ValueError(f"steps.{n}.body: names {', '.join(sorted(unknown))}, not an "
                                 f"earlier step (earlier: {', '.join(sorted(seen)) or 'none'})")
            seen.add(step.name)
        if self.key_from is not None and self.key_from.split(".")[0] not in seen:
            raise ValueError(f"key_from: '{self.key_from}' names no step")
        return self


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
    only_changed: bool = Field(False, description="Send only the fields whose value differs "
                               "from what the last acknowledged update of this document sent "
                               "(the first sends all); false: all mapped fields each time.")


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


class RowTransition(Spec):
    """A transition of a child list's rows: a row (the same `key`, else the same position)
    that matches `where` in this version and did not in the record's previous one (a pick
    task's line whose short quantity goes above 0). Fires once per such version: the same
    rows read again fire nothing."""

    any: Identifier = Field(description="The child list whose rows are watched.")
    where: Where = Field(description="SQL condition over a row's attributes (`short_qty > 0`).")
    key: str | None = Field(None, description="The rows' attribute identifying a row across "
                            "versions (line_no); default its position in the list.")

    @property
    def row_filter(self) -> RowFilter:
        assert self.where is not None
        return parse_where(self.where)

    def describe(self) -> str:
        return f"{self.any}: a row becomes {self.where}"


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
    if isinstance(value, dict) and len(value) == 1 and not {"attribute", "any"} & set(value):
        (attribute, states), = value.items()
        if isinstance(states, dict):
            return {"attribute": attribute, **{k: _listed(v) for k, v in states.items()}}
        return {"attribute": attribute, "to": _listed(states)}
    return value


def _listed(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _when_kind(value: Any) -> str:
    rows = isinstance(value, RowTransition) or (isinstance(value, dict) and "any" in value)
    return "rows" if rows else "state"


When = Annotated[Union[Annotated[Transition, Tag("state")],
                       Annotated[RowTransition, Tag("rows")]],
                 Discriminator(_when_kind), BeforeValidator(_transition)]


class Hop(Spec):
    name: Identifier
    description: str | None = None
    from_: Identifier = Field(alias="from", description="The entity whose versions (made by its "
                              "system of record) the hop watches.")
    when: When = Field(description="The state transition that fires the hop (or a child "
                       "list's rows': see RowTransition).")
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


class DocumentLink(Spec):
    """A link without a command: a document the target system makes itself (the ERP's payable
    from a stock-in) names its origin; each of its versions that names one the hub holds is
    linked under it, so the trace shows it. `name` is the link's hop in the trace."""

    name: Identifier
    description: str | None = None
    entity: Identifier = Field(description="The linked document's entity.")
    origin: Origin = Field(description="The origin's entity and the attribute of `entity` "
                           "that holds its business key.")


class FlowSpec(Spec):
    flow: Identifier
    description: str | None = None
    hops: list[Hop] = Field(default_factory=list)
    links: list[DocumentLink] = Field(default_factory=list, description="Links without a "
                                      "command (see DocumentLink).")

    @model_validator(mode="after")
    def _names_unique(self) -> FlowSpec:
        if not self.hops and not self.links:
            raise ValueError("hops: at least one hop (or a link in links:)")
        seen: set[str] = set()
        for name in [h.name for h in self.hops] + [link.name for link in self.links]:
            if name in seen:
                raise ValueError(f"two hops (or links) are named '{name}'")
            seen.add(name)
        return self

    def hop(self, name: str) -> Hop:
        return next(h for h in self.hops if h.name == name)


def hop_id(flow: str, hop: str, back: bool = False) -> str:
    """How a command's delivery names its hop: flow.hop, flow.hop.back for the return."""
    return f"{flow}.{hop}{'.back' if back else ''}"


def created_xref(target: str, hop: str) -> str:
    """The xref system under which a create command's answered key is kept for its source
    record: per target and hop (`erp/purchase_receipt.stock_in`), so two documents one record
    makes at one target (a receipt's stock-in and its return) keep both keys, and neither
    overwrites the record's own key in that system (xref `erp`)."""
    return f"{target}/{hop}"


def parse_hop_id(text: str) -> tuple[str, str, bool]:
    """A command's hop id split: (flow, hop, back) — the inverse of hop_id."""
    flow, _, rest = text.partition(".")
    hop, _, tail = rest.partition(".")
    if not flow or not hop or tail not in ("", "back"):
        raise ValueError(f"'{text}' is not a hop id (flow.hop or flow.hop.back)")
    return flow, hop, tail == "back"
