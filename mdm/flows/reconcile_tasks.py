"""Reconciliation tasks: after a processing batch, each order a new version touches (the order
itself or a document contributing to it, reconciliations/*.yaml) is reconciled again; one
whose documents settled into disagreement gets a `reconciliation` task (one open per order,
refreshed with the figures), closed by the system once it no longer disagrees. Documents
merely in progress open nothing."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.config.reconcile import Figure, ReconciliationSpec
from mdm.flows.reconcile import MISMATCH, Reconciliation, reconcile
from mdm.model.golden import NewVersion
from mdm.model.tasks import RECONCILIATION, NewTask
from mdm.store.repositories import reconcile as repo
from mdm.store.repositories.tasks import open_task

logger = logging.getLogger(__name__)


class Reconciler:
    """Keeps the reconciliation tasks current; one per processor."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.watching: dict[str, list[tuple[ReconciliationSpec, str | None]]] = {}
        for spec in project.reconciliations.values():
            self.watching.setdefault(spec.order.entity, []).append((spec, None))
            for name, figure in spec.figures().items():
                self.watching.setdefault(figure.entity, []).append((spec, name))

    def settle(self, conn: psycopg.Connection, versions: Sequence[NewVersion]) -> int:
        """Reconcile the orders `versions` touch; open or close their tasks. How many tasks
        were opened, refreshed or closed (the caller then commits synchronously)."""
        if not self.watching or not any(v.entity in self.watching for v in versions):
            return 0
        try:  # a savepoint: a bug here must never fail the batch that made the versions
            with conn.transaction():
                return self._settle(conn, versions)
        except (psycopg.OperationalError, psycopg.errors.SerializationFailure):
            raise
        except Exception:  # noqa: BLE001 — logged; the next version reconciles again
            logger.exception("reconciliation failed; the batch goes on without it")
            return 0

    def _settle(self, conn: psycopg.Connection, versions: Sequence[NewVersion]) -> int:
        touched: dict[tuple[str, str], ReconciliationSpec] = {}
        for v in versions:
            for spec, figure in self.watching.get(v.entity, ()):
                key = self._order_key(conn, spec, figure, v.business_key, v.attributes)
                if key is not None:
                    touched[(spec.reconciliation, key)] = spec
        changed = 0
        for (_, key), spec in sorted(touched.items(), key=lambda t: t[0]):
            found = reconcile(conn, self.project, spec, key)
            if found is not None:
                changed += self._keep_task(conn, found)
        return changed

    def _order_key(self, conn: psycopg.Connection, spec: ReconciliationSpec, name: str | None,
                   business_key: str | None, attributes: dict[str, Any]) -> str | None:
        """The business key of the order a document of figure `name` names."""
        if name is None:
            return business_key
        figure: Figure = getattr(spec, name)
        locate = figure.order
        if locate.reference is not None:
            source_key = attributes.get(locate.reference)
            return None if source_key is None else repo.key_of_source_row(
                conn, spec.order.entity, str(source_key))
        assert locate.key is not None
        value = attributes.get(locate.key)
        if value is None or locate.through is None:
            return None if value is None else str(value)
        through: Figure = getattr(spec, locate.through)
        found = repo.record_by_key(conn, through.entity, str(value))
        return None if found is None else self._order_key(
            conn, spec, locate.through, found["business_key"], found["attributes"])

    def _keep_task(self, conn: psycopg.Connection, r: Reconciliation) -> int:
        system = self.project.entities[r.entity].source
        if r.verdict == MISMATCH:
            task_id = open_task(conn, reconciliation_task(r, system))
            logger.info("reconciliation mismatch %s %s task=%d", r.entity, r.business_key,
                        task_id)
            return 1
        why = "agree" if r.verdict == "agrees" else "no longer disagree (in progress)"
        closed = repo.close_task(conn, r.entity, r.business_key, system, f"its documents {why}",
                                 r.golden_id, r.version)
        return 0 if closed is None else 1


def reconciliation_task(r: Reconciliation, system: str) -> NewTask:
    """The order's task: the summary names the order, each disagreeing line and its figures;
    the detail holds every line's figures."""
    parts = []
    for line in r.lines:
        wrong = [x.text for x in line.reasons if x.verdict == MISMATCH]
        if wrong:
            parts.append(f"第 {line.line} 行 line {line.line}: {'; '.join(wrong)}")
    parts += [x.text for x in r.reasons if x.verdict == MISMATCH]
    summary = f"三单不符 documents disagree：采购订单 {r.business_key} — {' | '.join(parts)}"
    found = r.as_dict()
    detail = {"reconciliation": r.reconciliation, "mismatches": r.mismatches(),
              "lines": [{k: str(v) if not isinstance(v, list | str) else v
                         for k, v in ln.items() if k != "reasons"} for ln in found["lines"]],
              "payable": str(r.payable), "expected_payable": str(r.expected_payable),
              "paid": str(r.paid), "documents": r.documents}
    return NewTask(RECONCILIATION, r.entity, r.business_key, r.golden_id, r.version, system,
                   "warning", summary, detail)
