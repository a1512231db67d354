"""One processing transaction: claim a batch of inbox events and apply it across the stages —
the golden stage decides the versions, rules judge them, key clashes hold some back, they are
written with their rule results and deliveries, observed copies are compared with what was
sent, a target's answers become versions — together with each event's inbox status.

A crash anywhere leaves nothing half-done: the batch is redone, and redoing it is harmless.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from mdm.config.loader import Project
from mdm.flows.planner import FlowPlanner
from mdm.flows.reconcile_tasks import Reconciler
from mdm.golden.changes import ChangeApplier
from mdm.golden.uniqueness import hold_key_clashes
from mdm.golden.write_back import answered_versions
from mdm.model.golden import GoldenState, NewVersion
from mdm.model.inbox import WRITE_BACK_SOURCE, InboxRow
from mdm.pipeline.references import References
from mdm.rules.divergence import DivergenceDetector
from mdm.rules.engine import RuleEngine
from mdm.rules.judging import judge_versions, store_results
from mdm.store.repositories import golden, inbox, outbox
from mdm.store.repositories.outbox import Rerender

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    events: int = 0
    versions: int = 0
    failed: int = 0
    skipped: int = 0
    deliveries: int = 0


@dataclass
class _Versions:
    """What the sources of one batch made: versions to deliver, and for a target's answers
    which attributes each changed (it goes only to the targets mapping one of them)."""

    versions: list[NewVersion]
    changed: dict[tuple[int, int], set[str]]
    rerenders: list[Rerender] = field(default_factory=list)  # referrers to re-send


class Processor:
    """Turns inbox events into golden versions. One instance per process; not thread-safe."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.changes = ChangeApplier(project)
        self.rules = RuleEngine(project)
        self.divergence = DivergenceDetector(project)
        self.references = References(project)
        self.flows = FlowPlanner(project)
        self.reconciler = Reconciler(project)  # reconciliations/: three-way match tasks

    # -- one batch ----------------------------------------------------------------------------
    def process_batch(self, conn: psycopg.Connection, limit: int = 2000) -> BatchResult:
        """Claim up to `limit` pending events and apply them in one transaction.

        Unmappable rows are marked failed inside the batch. If the batch fails for another
        reason (a bug, a constraint), it is retried one source transaction at a time, so a
        single bad transaction is marked failed with its reason and never blocks the others.
        Lost connections are raised: the caller reconnects and the batch is redone.
        """
        try:
            with conn.transaction():
                events = inbox.claim_pending(conn, limit)
                return self._apply(conn, events)
        except (psycopg.OperationalError, psycopg.errors.SerializationFailure):
            raise
        except Exception as exc:  # noqa: BLE001 — isolate the bad event below
            logger.warning("batch failed, retrying event by event: %s", exc)
            return self._process_one_by_one(conn, limit)

    def open_reference_tasks(self, conn: psycopg.Connection) -> int:
        """In its own transaction: unknown_reference tasks for versions held too long."""
        with conn.transaction():
            if not self.references.referring and not self.flows.holds.holding:
                return 0
            opened = self.references.open_overdue_tasks(conn) if self.references.referring \
                else 0
            opened += self.flows.holds.open_overdue_tasks(conn)
            if opened:
                _commit_synchronously(conn)
            return opened

    def _process_one_by_one(self, conn: psycopg.Connection, limit: int) -> BatchResult:
        total = BatchResult()
        last_id = 0
        for _ in range(limit):
            with conn.transaction():
                events = inbox.claim_pending(conn, 1, after_id=last_id)  # one whole transaction
                if not events:
                    break
                last_id = events[-1].id
                try:
                    with conn.transaction():
                        result = self._apply(conn, events)
                except Exception as exc:  # noqa: BLE001 — kept with its reason
                    logger.warning("transaction failed inbox_ids=%d..%d table=%s row_key=%s: %s",
                                   events[0].id, last_id, events[0].table, events[0].row_key, exc)
                    reason = f"processing error: {exc}"
                    inbox.finish_inbox(conn, [], {e.id: reason for e in events}, {})
                    result = BatchResult(events=len(events), failed=len(events))
            _add(total, result)
        return total

    def _apply(self, conn: psycopg.Connection, events: list[InboxRow]) -> BatchResult:
        result = BatchResult(events=len(events))
        if not events:
            return result
        by_source: dict[str, list[InboxRow]] = {}
        for event in events:
            by_source.setdefault(event.source, []).append(event)
        made = _Versions([], {})
        for source, source_events in by_source.items():
            if source.startswith(WRITE_BACK_SOURCE):  # a target's answer
                self._write_backs(conn, source.removeprefix(WRITE_BACK_SOURCE), source_events,
                                  result, made)
                continue
            # the role is per table: a target's copy is compared, a table of record is golden
            observed = self.project.observed_tables(source)
            copies = [e for e in source_events if e.table in observed]
            if copies:
                self._observed(conn, source, copies, result)
            if len(copies) < len(source_events):
                self._system_of_record(conn, source, [e for e in source_events
                                                      if e.table not in observed], result, made)
        result.versions = len(made.versions)
        if made.versions:
            _commit_synchronously(conn)
        result.deliveries = outbox.enqueue_deliveries(conn, self.project, made.versions,
                                                      made.changed)
        result.deliveries += outbox.enqueue_rerenders(conn, made.rerenders)
        result.deliveries += self.flows.enqueue(conn, made.versions)
        if self.reconciler.settle(conn, made.versions):  # after the links the batch made
            _commit_synchronously(conn)
        return result

    # -- by kind of source ----------------------------------------------------------------------
    def _system_of_record(self, conn: psycopg.Connection, source: str, events: list[InboxRow],
                          result: BatchResult, made: _Versions) -> None:
        batch = self.changes.apply(conn, source, events)
        if batch.pending:
            _commit_synchronously(conn)
        versions = self.changes.keep(conn, batch)
        states = list(batch.touched_states.values())
        source_keys = {s.golden_id or 0: s.source_key for s in states}
        versions, verdicts = judge_versions(conn, self.rules, versions, source_keys)
        versions = hold_key_clashes(conn, self.project, versions, source)
        versions = self.references.hold_unknown(conn, versions, batch.golden, source)
        golden.write_versions(conn, states, versions, source)
        if verdicts or any(self.rules.has_rules(v.entity) for v in versions):
            store_results(conn, versions, verdicts, source)
        inbox.finish_inbox(conn, batch.done, batch.failed, batch.skipped)
        made.versions += versions
        made.versions += self.references.release_arrived(conn, versions, source_keys, source)
        made.rerenders += self.references.rerenders(versions, source_keys)
        result.failed += len(batch.failed)
        result.skipped += len(batch.skipped)

    def _write_backs(self, conn: psycopg.Connection, target: str, events: list[InboxRow],
                     result: BatchResult, made: _Versions) -> None:
        answered = answered_versions(conn, self.project, target, events)
        versions = [v for _, v in answered.pending]
        if versions:
            touched = {s.golden_id: s for s, _ in answered.pending}
            source_keys = {s.golden_id or 0: s.source_key for s in touched.values()}
            versions, verdicts = judge_versions(conn, self.rules, versions, source_keys)
            for source in {self.project.entities[v.entity].source for v in versions}:
                # a rule task belongs to the record's system of record, not to the answering target
                index = [i for i, v in enumerate(versions)
                         if self.project.entities[v.entity].source == source]
                mine = self.references.hold_answered(conn, [versions[i] for i in index], {
                    (s.entity, s.source_key): s for s in touched.values()}, source)
                for i, v in zip(index, mine, strict=True):
                    versions[i] = v
                golden.write_versions(conn, _newest_states(touched, mine), mine, source)
                store_results(conn, mine, {n: verdicts[i] for n, i in enumerate(index)
                                           if i in verdicts}, source)
        inbox.finish_inbox(conn, answered.done, answered.failed, answered.skipped)
        if versions:
            logger.info("write-back target=%s versions=%d", target, len(versions))
        made.versions += versions
        made.changed.update(answered.changed)
        result.failed += len(answered.failed)
        result.skipped += len(answered.skipped)

    def _observed(self, conn: psycopg.Connection, source: str, events: list[InboxRow],
                  result: BatchResult) -> None:
        observed = self.divergence.apply(conn, source, events)
        inbox.finish_inbox(conn, observed.done, {}, observed.skipped_ids)
        if observed.diverged:  # it opened or updated tasks (ids stewards see)
            _commit_synchronously(conn)
        result.skipped += observed.skipped


def _newest_states(touched: dict[int | None, GoldenState],
                   versions: list[NewVersion]) -> list[GoldenState]:
    """The records' states, each once its newest version is among `versions`."""
    return [touched[v.golden_id] for v in versions if touched[v.golden_id].version == v.version]


def _commit_synchronously(conn: psycopg.Connection) -> None:
    """Make this transaction's commit wait for the WAL flush (the session runs with
    synchronous_commit off). Called before writing what the outside world sees or acts on —
    golden records and versions, deliveries, tasks — so none of it is visible (to a
    propagator, the API) before it is durable: a server crash can then never lose a batch
    whose ids were already pushed, and redo it under other ids. Batches that write only the
    mirror and the inbox status still commit without waiting: a lost one is redone identically."""
    conn.execute("SET LOCAL synchronous_commit = on")


def _add(total: BatchResult, part: BatchResult) -> None:
    for name in ("events", "versions", "failed", "skipped", "deliveries"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
