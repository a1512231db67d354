"""Pydantic schema of reconciliations/*.yaml: which documents' figures must agree with an
order's, per line — the three-way match across systems (ordered, received, stocked, payable,
paid), read from the golden records (mdm/flows/reconcile.py computes it).

    reconciliation: purchase_order
    order: {entity: purchase_order, lines: lines, line_key: line_no,
            quantity: quantity, unit_price: unit_price, amount: amount}
    received: {entity: receipt, order: {key: po_no}, where: "status = 'completed'",
               lines: lines, line: {by: po_line_no}, quantity: accepted_qty,
               rejected: rejected_qty}
    stocked: {entity: stock_in, order: {reference: purchase_order}, lines: lines,
              line: {by: po_line_id, matches: source_row}, quantity: quantity}
    payable: {entity: payable, order: {key: po_no}, amount: amount}
    paid: {entity: payment, order: {through: payable, key: payable_no}, amount: amount}
    tolerances: {over_receipt: 10, amount: "0.01"}

Cross-file checks (entities and attributes exist): `check_reconciliations` below, called by
the loader.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from mdm.config.models import EntitySpec, Where
from mdm.config.row_filter import RowFilter, parse_where
from mdm.config.targets import Identifier, Spec

FIGURES = ("received", "stocked", "payable", "paid")


class OrderSide(Spec):
    """The order reconciled: its entity, its line list and each line's figures."""

    entity: Identifier
    lines: Identifier = Field(description="The order's child list of lines.")
    line_key: Identifier = Field(description="The lines' attribute numbering them (line_no).")
    quantity: Identifier
    unit_price: Identifier
    amount: Identifier


class FindsOrder(Spec):
    """How a document names its order — exactly one way: `key` (an attribute holding the
    order's business key, po_no), `reference` (a reference attribute to the order's record),
    or `through` another figure's document (`through: payable, key: payable_no`: the attribute
    holding that document's business key; its order is this one's)."""

    key: Identifier | None = None
    reference: Identifier | None = None
    through: Literal["received", "stocked", "payable"] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> FindsOrder:
        if (self.key is None) == (self.reference is None):
            raise ValueError("give exactly one of key (the order's business key) or reference "
                             "(a reference attribute to the order)")
        if self.through is not None and self.key is None:
            raise ValueError("through needs key: the attribute holding that document's "
                             "business key")
        return self


class FindsLine(Spec):
    """How a document's line names its order line: `by` an attribute holding the order line's
    `line_key` (po_line_no), or with `matches: source_row` its source row's key (the ERP's
    po_line_id, the order line's primary key, read from the hub's mirror)."""

    by: Identifier
    matches: Literal["line_key", "source_row"] = "line_key"


class Figure(Spec):
    """One contributing kind of document: which entity, how it finds its order (and line),
    which versions count (`where`, over its attributes), and the figure it gives."""

    entity: Identifier
    order: FindsOrder
    where: Where = Field(None, description="Only documents this condition keeps (SQL over "
                         "the header's attributes: status = 'completed').")
    lines: Identifier | None = Field(None, description="Its child list of lines; none: the "
                                     "figure is the whole document's (a payable's amount).")
    line: FindsLine | None = None
    quantity: Identifier | None = None
    rejected: Identifier | None = Field(None, description="received: the rejected quantity.")
    amount: Identifier | None = None

    @model_validator(mode="after")
    def _shape(self) -> Figure:
        if (self.lines is None) != (self.line is None):
            raise ValueError("lines and line go together: the child list and how each of its "
                             "rows finds its order line")
        if self.lines is not None and self.quantity is None:
            raise ValueError("a figure per line needs quantity")
        if self.lines is None and self.amount is None:
            raise ValueError("a figure of the whole document needs amount")
        return self

    @property
    def row_filter(self) -> RowFilter | None:
        return None if self.where is None else parse_where(self.where)


class Tolerances(Spec):
    over_receipt: Decimal = Field(Decimal(10), ge=0, description="Percent a line may be "
                                  "received over its ordered quantity.")
    amount: Decimal = Field(Decimal("0.01"), ge=0, description="How far amounts may differ "
                            "(rounding: to the cent).")


class ReconciliationSpec(Spec):
    reconciliation: Identifier
    description: str | None = None
    order: OrderSide
    received: Figure
    stocked: Figure
    payable: Figure
    paid: Figure
    tolerances: Tolerances = Tolerances()

    @model_validator(mode="after")
    def _per_line(self) -> ReconciliationSpec:
        for name in ("received", "stocked"):
            if getattr(self, name).lines is None:
                raise ValueError(f"{name}: a per-line figure needs lines, line and quantity")
        for name in ("payable", "paid"):
            if getattr(self, name).lines is not None:
                raise ValueError(f"{name}: a figure of the whole document (amount), no lines")
        return self

    def figures(self) -> dict[str, Figure]:
        return {name: getattr(self, name) for name in FIGURES}

    def entities(self) -> set[str]:
        """Every entity whose versions can change this reconciliation."""
        return {self.order.entity, *(f.entity for f in self.figures().values())}


def check_reconciliations(specs: Mapping[str, ReconciliationSpec],
                          entities: Mapping[str, EntitySpec],
                          files: Mapping[str, str]) -> list[tuple[str, str]]:
    """(file, `key: what was expected`) for every entity or attribute a reconciliation names
    that the project lacks."""
    problems: list[tuple[str, str]] = []
    for name, spec in specs.items():
        problems += [(files[name], p) for p in _problems(spec, entities)]
    return problems


def _problems(spec: ReconciliationSpec, entities: Mapping[str, EntitySpec]) -> list[str]:
    order = entities.get(spec.order.entity)
    if order is None:
        return [f"order.entity: no entity '{spec.order.entity}' in golden_records/"]
    problems = []
    lines = order.children.get(spec.order.lines)
    if lines is None:
        problems.append(f"order.lines: {spec.order.entity} has no child list "
                        f"'{spec.order.lines}' (it has: {', '.join(order.children) or 'none'})")
    else:
        for key in ("line_key", "quantity", "unit_price", "amount"):
            attribute = getattr(spec.order, key)
            if attribute not in lines.attributes:
                problems.append(f"order.{key}: {spec.order.entity}.{spec.order.lines} has no "
                                f"attribute '{attribute}'")
    for name, figure in spec.figures().items():
        problems += [f"{name}.{p}" for p in _figure_problems(spec, figure, entities)]
    return problems


def _figure_problems(spec: ReconciliationSpec, figure: Figure,
                     entities: Mapping[str, EntitySpec]) -> list[str]:
    entity = entities.get(figure.entity)
    if entity is None:
        return [f"entity: no entity '{figure.entity}' in golden_records/"]
    header = set(entity.attributes)
    problems = []
    if figure.order.key is not None and figure.order.key not in header:
        problems.append(f"order.key: {figure.entity} has no attribute '{figure.order.key}'")
    if figure.order.reference is not None:
        found = entity.attributes.get(figure.order.reference)
        if found is None or found.references is None \
                or found.references.entity != spec.order.entity:
            problems.append(f"order.reference: {figure.entity}.{figure.order.reference} is not "
                            f"a reference to {spec.order.entity}")
    if figure.amount is not None and figure.lines is None and figure.amount not in header:
        problems.append(f"amount: {figure.entity} has no attribute '{figure.amount}'")
    if figure.lines is not None:
        child = entity.children.get(figure.lines)
        if child is None:
            return [*problems, f"lines: {figure.entity} has no child list '{figure.lines}'"]
        assert figure.line is not None
        for key, attribute in (("line.by", figure.line.by), ("quantity", figure.quantity),
                               ("rejected", figure.rejected)):
            if attribute is not None and attribute not in child.attributes:
                problems.append(f"{key}: {figure.entity}.{figure.lines} has no attribute "
                                f"'{attribute}'")
    return problems
