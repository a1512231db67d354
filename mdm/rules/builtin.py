"""Built-in checks for what Great Expectations has no word for.

Each check takes the micro-batch (the new versions of one entity, as `Subject`s) and returns a
`Finding` per offending subject. Checks that look at other records read the golden store and
overlay the batch itself, since the batch is not yet written when rules run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import psycopg

from mdm.config.rules import CheckRule
from mdm.model.golden import Previous
from mdm.rules.uscc import is_valid_uscc
from mdm.store.repositories import golden


@dataclass(frozen=True)
class Subject:
    """One version under test, with what identifies its record."""

    index: int  # position in the micro-batch
    golden_id: int
    source_key: str
    business_key: str | None  # None: a draft (no key yet); checks by business key skip it
    attributes: Mapping[str, Any]
    status: str = "active"
    previous: Previous | None = None  # None: a new record (or judged from scratch)


@dataclass(frozen=True)
class Failure:
    index: int
    observed: Any
    detail: str


def _values(check: CheckRule, subject: Subject) -> Iterator[Any]:
    """The checked attribute's values: the record's own, or those of matching child rows."""
    if check.child is None:
        yield subject.attributes.get(check.attribute)
        return
    for row in subject.attributes.get(check.child) or []:
        if all(row.get(k) == v for k, v in check.when.items()):
            yield row.get(check.attribute)


def uscc_check_digit(conn: psycopg.Connection, entity: str, check: CheckRule,
                     batch: Sequence[Subject],
                     others: Mapping[str, Sequence[Subject]] | None = None) -> list[Failure]:
    failures = []
    for subject in batch:
        for value in _values(check, subject):
            if value in (None, "") or is_valid_uscc(str(value)):
                continue
            failures.append(Failure(subject.index, value,
                                    f"'{value}' is not a valid 统一社会信用代码 (GB 32100-2015: "
                                    "18 characters, the last one a mod-31 check)"))
    return failures


def _key_column(check: CheckRule) -> golden.KeyColumn:
    return "source_key" if check.by == "source_key" else "business_key"


def reference_active(conn: psycopg.Connection, entity: str, check: CheckRule,
                     batch: Sequence[Subject],
                     others: Mapping[str, Sequence[Subject]] | None = None) -> list[Failure]:
    target = check.references or entity
    wanted = {str(v) for s in batch for v in _values(check, s) if v not in (None, "")}
    if not wanted:
        return []
    column = _key_column(check)
    rows = golden.status_by_key(conn, target, column, list(wanted))
    status: dict[str, str] = {str(k): s for k, s in rows}
    # The batch itself may create or retire the referenced record (not yet in the store).
    for s in (others or {}).get(target, batch if target == entity else ()):
        key = s.source_key if check.by == "source_key" else s.business_key
        if key is not None:
            status[key] = s.status
    failures = []
    for subject in batch:
        for value in _values(check, subject):
            if value in (None, ""):
                continue
            found = status.get(str(value))
            if found != "active":
                what = "does not exist" if found is None else f"is {found}"
                failures.append(Failure(subject.index, value,
                                        f"{target} with {check.by} '{value}' {what}"))
    return failures


def no_cycle(conn: psycopg.Connection, entity: str, check: CheckRule,
             batch: Sequence[Subject],
             others: Mapping[str, Sequence[Subject]] | None = None) -> list[Failure]:
    """Following `attribute` (a parent pointer) from record to record must never loop."""
    column = _key_column(check)
    rows = golden.parents_of_active(conn, entity, column, check.attribute)
    parent: dict[str, str | None] = {str(k): p for k, p in rows}
    for s in batch:
        key = s.source_key if check.by == "source_key" else s.business_key
        if key is None:
            continue
        value = s.attributes.get(check.attribute)
        parent[key] = None if value in (None, "") else str(value)
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from((child, p) for child, p in parent.items() if p is not None)
    on_cycle: set[str] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            on_cycle |= component
    on_cycle |= {n for n in graph.nodes if graph.has_edge(n, n)}
    failures = []
    for subject in batch:
        key = subject.source_key if check.by == "source_key" else subject.business_key
        if key in on_cycle:
            loop = sorted(nx.node_connected_component(graph.to_undirected(), key) & on_cycle)
            failures.append(Failure(subject.index, subject.attributes.get(check.attribute),
                                    f"{check.attribute} makes a cycle through {', '.join(loop)}"))
    return failures


Check = Callable[[psycopg.Connection, str, CheckRule, Sequence[Subject],
                  Mapping[str, Sequence[Subject]] | None], list[Failure]]
CHECKS: dict[str, Check] = {
    "uscc_check_digit": uscc_check_digit,
    "reference_active": reference_active,
    "no_cycle": no_cycle,
}
