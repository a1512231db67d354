"""Reconciliation of an order across systems (reconciliations/*.yaml): per order line what
was ordered, received (accepted, rejected), stocked, and for the order what is payable and
paid — from the golden records — and the verdict: `agrees`, `in_progress` (not yet received,
stocked or paid; commands still in flight) or `mismatch` with each reason.

A shortfall that may still be filled (stocked < received while the stock-in is being made)
is a mismatch only once the documents are settled: no flow command between them in flight.
What can never be right (stocked > received, paid > payable, an over-receipt beyond the
tolerance) is a mismatch at once. Exact decimals throughout."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.config.reconcile import Figure, ReconciliationSpec
from mdm.config.row_match import matches
from mdm.store.repositories import reconcile as repo

AGREES, IN_PROGRESS, MISMATCH = "agrees", "in_progress", "mismatch"
CENT = Decimal("0.01")
Row = dict[str, Any]


@dataclass
class Reason:
    """Why a line or the order does not agree (yet): which figure, and the figures compared."""

    figure: str  # received | stocked | payable | paid
    verdict: str  # in_progress | mismatch
    text: str


@dataclass
class LineFigures:
    line: str
    ordered: Decimal
    unit_price: Decimal
    amount: Decimal
    received: Decimal = Decimal(0)
    rejected: Decimal = Decimal(0)
    stocked: Decimal = Decimal(0)
    payable: Decimal = Decimal(0)  # stocked × unit price: what the payables should hold
    reasons: list[Reason] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return _verdict(self.reasons)


@dataclass
class Reconciliation:
    reconciliation: str
    entity: str
    business_key: str
    golden_id: int
    version: int
    state: Any
    lines: list[LineFigures]
    payable: Decimal
    paid: Decimal
    expected_payable: Decimal
    settled: bool
    documents: dict[str, list[str]]
    reasons: list[Reason] = field(default_factory=list)  # the order's own (payable, paid)
    unmatched: list[str] = field(default_factory=list)  # document lines naming no order line

    @property
    def verdict(self) -> str:
        return _verdict(self.reasons + [r for ln in self.lines for r in ln.reasons])

    def mismatches(self) -> list[str]:
        """Each mismatch as `line N: text` or `order: text`."""
        return [f"line {ln.line}: {r.text}" for ln in self.lines for r in ln.reasons
                if r.verdict == MISMATCH] + [f"order: {r.text}" for r in self.reasons
                                             if r.verdict == MISMATCH]

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["verdict"] = self.verdict
        for line, figures in zip(found["lines"], self.lines, strict=True):
            line["verdict"] = figures.verdict
        return found


def _verdict(reasons: Sequence[Reason]) -> str:
    kinds = {r.verdict for r in reasons}
    return MISMATCH if MISMATCH in kinds else IN_PROGRESS if kinds else AGREES


def _number(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


# -- loading -----------------------------------------------------------------------------------
def reconcile(conn: psycopg.Connection, project: Project, spec: ReconciliationSpec,
              business_key: str) -> Reconciliation | None:
    """The reconciliation of the order with this business key; None if the hub has none."""
    order = repo.record_by_key(conn, spec.order.entity, business_key)
    if order is None:
        return None
    documents = documents_of(conn, spec, order)
    rows = _line_rows(conn, project, spec, order)
    ids = [order["golden_id"]] + [d["golden_id"] for ds in documents.values() for d in ds]
    settled = repo.commands_in_flight(conn, ids) == 0
    return judge(spec, order, documents, rows, settled)


def documents_of(conn: psycopg.Connection, spec: ReconciliationSpec,
                 order: Row) -> dict[str, list[Row]]:
    """figure → the documents contributing to it (those its `where` keeps)."""
    found: dict[str, list[Row]] = {}
    for name, figure in spec.figures().items():
        locate = figure.order
        if locate.through is not None:
            values = [str(d["business_key"]) for d in found.get(locate.through, ())
                      if d["business_key"] is not None]
        else:
            values = [str(order["business_key"] if locate.key else order["source_key"])]
        attribute = locate.key if locate.key is not None else locate.reference
        assert attribute is not None
        documents = repo.documents_naming(conn, figure.entity, attribute, values)
        keep = figure.row_filter
        found[name] = [d for d in documents if keep is None or matches(keep, d["attributes"])]
    return found


def _line_rows(conn: psycopg.Connection, project: Project, spec: ReconciliationSpec,
               order: Row) -> dict[str, str]:
    """The order lines' source row keys → line keys, when a figure finds lines by row."""
    if not any(f.line is not None and f.line.matches == "source_row"
               for f in spec.figures().values()):
        return {}
    entity = project.entities[spec.order.entity]
    child = entity.children[spec.order.lines]
    return repo.line_rows(conn, entity.source, child.table, str(order["source_key"]),
                          spec.order.line_key)


# -- judging -----------------------------------------------------------------------------------
def judge(spec: ReconciliationSpec, order: Row, documents: Mapping[str, Sequence[Row]],
          line_rows: Mapping[str, str], settled: bool) -> Reconciliation:
    """The figures and verdicts of one order (no I/O)."""
    side = spec.order
    attributes = order["attributes"]
    lines = {str(ln.get(side.line_key)): LineFigures(
        str(ln.get(side.line_key)), _number(ln.get(side.quantity)),
        _number(ln.get(side.unit_price)), _number(ln.get(side.amount)))
        for ln in attributes.get(side.lines) or ()}
    unmatched: list[str] = []
    for name in ("received", "stocked"):
        figure = getattr(spec, name)
        for doc in documents.get(name, ()):
            unmatched += _add_lines(name, figure, doc, lines, line_rows)
    total = _amounts(spec.payable, documents.get("payable", ()))
    paid = _amounts(spec.paid, documents.get("paid", ()))
    result = Reconciliation(
        spec.reconciliation, side.entity, str(order["business_key"]), int(order["golden_id"]),
        int(order["version"]), attributes.get("status"), list(lines.values()), total, paid,
        Decimal(0), settled, {n: [str(d["business_key"]) for d in ds]
                              for n, ds in documents.items()}, unmatched=unmatched)
    for line in result.lines:
        _judge_line(spec, line, settled)
    result.expected_payable = sum((ln.stocked * ln.unit_price for ln in result.lines),
                                  Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    result.reasons = _judge_money(spec, result, settled)
    return result


def _add_lines(name: str, figure: Figure, doc: Row, lines: dict[str, LineFigures],
               line_rows: Mapping[str, str]) -> list[str]:
    assert figure.lines is not None and figure.line is not None and figure.quantity
    unmatched = []
    for row in doc["attributes"].get(figure.lines) or ():
        value = row.get(figure.line.by)
        key = str(value) if figure.line.matches == "line_key" else line_rows.get(str(value))
        line = lines.get(key) if key is not None else None
        if line is None:
            unmatched.append(f"{doc['business_key']} {figure.line.by}={value}")
            continue
        quantity = _number(row.get(figure.quantity))
        if name == "received":
            line.received += quantity
            if figure.rejected is not None:
                line.rejected += _number(row.get(figure.rejected))
        else:
            line.stocked += quantity
    return unmatched


def _amounts(figure: Figure, documents: Sequence[Row]) -> Decimal:
    assert figure.amount is not None
    return sum((_number(d["attributes"].get(figure.amount)) for d in documents), Decimal(0))


def _judge_line(spec: ReconciliationSpec, line: LineFigures, settled: bool) -> None:
    limit = line.ordered * (1 + spec.tolerances.over_receipt / 100)
    line.payable = (line.stocked * line.unit_price).quantize(CENT, ROUND_HALF_UP)
    if line.received > limit:
        line.reasons.append(Reason("received", MISMATCH, f"received {line.received} > ordered "
                                   f"{line.ordered} + {spec.tolerances.over_receipt} %"))
    if line.stocked > line.received:
        line.reasons.append(Reason("stocked", MISMATCH,
                                   f"stocked {line.stocked} > received {line.received}"))
    elif line.stocked < line.received:
        line.reasons.append(Reason("stocked", MISMATCH if settled else IN_PROGRESS,
                                   f"stocked {line.stocked} < received {line.received}"))
    if line.received < line.ordered:
        line.reasons.append(Reason("received", IN_PROGRESS, f"received {line.received} of "
                                   f"{line.ordered}"))


def _judge_money(spec: ReconciliationSpec, r: Reconciliation, settled: bool) -> list[Reason]:
    # each payable is rounded on its own (to the cent per stock-in): the tolerance is per one
    tolerance = spec.tolerances.amount * max(1, len(r.documents.get("payable", ())))
    reasons = []
    if r.payable > r.expected_payable + tolerance:
        reasons.append(Reason("payable", MISMATCH, f"payable {r.payable} > stocked × price "
                              f"{r.expected_payable}"))
    elif r.payable < r.expected_payable - tolerance:
        reasons.append(Reason("payable", MISMATCH if settled else IN_PROGRESS,
                              f"payable {r.payable} < stocked × price {r.expected_payable}"))
    if r.paid > r.payable + tolerance:
        reasons.append(Reason("paid", MISMATCH, f"paid {r.paid} > payable {r.payable}"))
    elif r.paid < r.payable - tolerance:
        reasons.append(Reason("paid", IN_PROGRESS, f"paid {r.paid} of payable {r.payable}"))
    return reasons


def as_json(value: Any) -> Any:
    """`value` with every Decimal as its exact text (JSON numbers would round)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


def disagreeing(conn: psycopg.Connection, spec: ReconciliationSpec,
                limit: int = 100) -> list[dict[str, Any]]:
    """The orders whose documents settled into disagreement: their open reconciliation tasks
    (kept current by mdm/flows/reconcile_tasks.py after each batch), newest first."""
    return [{"business_key": t["business_key"], "task_id": t["id"], "summary": t["summary"],
             "mismatches": t["detail"].get("mismatches", []), "since": t["created_at"],
             "updated_at": t["updated_at"]}
            for t in repo.open_tasks(conn, spec.order.entity, limit)]
