"""Processing: apply a batch of inbox events to the mirror and the golden store, in one
transaction with the versions, xrefs, outbox rows and inbox status.

Ordering: events are applied in inbox order (capture appends in commit order); a row's mirror
keeps the position of the event that last wrote it, and an older event is skipped. A golden
record gets at most one new version per source transaction, and none when nothing it carries
changed (an edit of an ignored audit column).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from mdm.config.loader import Project
from mdm.errors import MappingError
from mdm.golden import mirror
from mdm.golden.assemble import assemble
from mdm.golden.mapper import RowImage, TableMapping, map_row, table_mappings
from mdm.golden.uniqueness import hold_key_clashes
from mdm.golden.write_back import apply_write_backs
from mdm.model.golden import Cause, GoldenState, NewVersion, Previous
from mdm.model.inbox import CONTENT_POSITION_PREFIX, WRITE_BACK_SOURCE, InboxRow
from mdm.rules.divergence import DivergenceDetector
from mdm.rules.engine import RuleEngine
from mdm.rules.judging import judge_versions, store_results
from mdm.store.repositories import golden, inbox, outbox

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    events: int = 0
    versions: int = 0
    failed: int = 0
    skipped: int = 0
    deliveries: int = 0


@dataclass
class _Batch:
    """In-memory working set of one batch: mirrors, golden states, new versions."""

    source: str
    rows: dict[tuple[str, str], RowImage]
    golden: dict[tuple[str, str], GoldenState]
    children: dict[tuple[str, str], dict[str, RowImage]] = field(default_factory=dict)
    pending: list[tuple[GoldenState, NewVersion]] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    dirty: dict[tuple[str, str], InboxRow] = field(default_factory=dict)
    touched_states: dict[tuple[str, str], GoldenState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (table, row_key), image in self.rows.items():
            self.index_child(table, row_key, image)

    def index_child(self, table: str, row_key: str, image: RowImage) -> None:
        if image.parent_key is not None:
            self.children.setdefault((table, image.parent_key), {})[row_key] = image

    def put(self, table: str, row_key: str, image: RowImage) -> None:
        old = self.rows.get((table, row_key))
        if old is not None and old.parent_key is not None and old.parent_key != image.parent_key:
            self.children.get((table, old.parent_key), {}).pop(row_key, None)
        self.rows[(table, row_key)] = image
        self.index_child(table, row_key, image)


class Processor:
    """Turns inbox events into golden versions. One instance per process; not thread-safe."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.mappings = {name: table_mappings(project, name) for name, spec in project.sources.items()
                         if spec.authority == "system_of_record"}
        self.rules = RuleEngine(project)
        self.divergence = DivergenceDetector(project)

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
        all_versions: list[NewVersion] = []
        changed: dict[tuple[int, int], set[str]] = {}
        for source, source_events in by_source.items():
            spec = self.project.sources.get(source)
            if spec is not None and spec.authority == "observed":
                observed = self.divergence.apply(conn, source, source_events)
                inbox.finish_inbox(conn, observed.done, {}, observed.skipped_ids)
                if observed.diverged:  # it opened or updated tasks (ids stewards see)
                    _commit_synchronously(conn)
                result.skipped += observed.skipped
                continue
            if source.startswith(WRITE_BACK_SOURCE):  # a target's answer
                target = source.removeprefix(WRITE_BACK_SOURCE)
                answered = apply_write_backs(conn, self.project, self.rules, target, source_events)
                all_versions += answered.versions
                changed.update(answered.changed)
                result.failed += answered.failed
                result.skipped += answered.skipped
                continue
            batch = self._load(conn, source, source_events)
            self._apply_events(batch, source_events)
            self._save(conn, batch)
            all_versions += batch.versions
            result.failed += len(batch.failed)
            result.skipped += len(batch.skipped)
        result.versions = len(all_versions)
        if all_versions:
            _commit_synchronously(conn)
        result.deliveries = outbox.enqueue_deliveries(conn, self.project, all_versions, changed)
        return result

    # -- loading ------------------------------------------------------------------------------
    def _load(self, conn: psycopg.Connection, source: str,
              events: list[InboxRow]) -> _Batch:
        mappings = self.mappings.get(source, {})
        keys = {(e.table, e.row_key) for e in events if e.table in mappings}
        rows = mirror.load_rows(conn, source, keys)
        objects: set[tuple[str, str]] = set()
        for e in events:
            mapping = mappings.get(e.table)
            if mapping is None:
                continue
            obj = _object_of(mapping, e, rows.get((e.table, e.row_key)))
            if obj is not None:
                objects.add((mapping.entity.entity, obj))
        main_keys = set()
        for entity, obj in objects:
            spec = self.project.entities[entity]
            main_keys.add((spec.table, obj))
        rows.update(mirror.load_rows(conn, source, main_keys - rows.keys()))
        for entity in {e for e, _ in objects}:
            spec = self.project.entities[entity]
            parents = [o for e, o in objects if e == entity]
            for child in spec.children.values():
                for key, image in mirror.load_children(conn, source, child.table, parents).items():
                    rows.setdefault(key, image)
        states = golden.load_golden(conn, objects)
        return _Batch(source=source, rows=rows, golden=states)

    # -- applying -----------------------------------------------------------------------------
    def _apply_events(self, batch: _Batch, events: list[InboxRow]) -> None:
        mappings = self.mappings.get(batch.source, {})
        current_tx: object = object()
        for event in events:
            if event.tx_id != current_tx:
                self._flush(batch)
                current_tx = event.tx_id
            mapping = mappings.get(event.table)
            if mapping is None:
                batch.skipped[event.id] = f"table {event.table} is not mapped by any entity"
                continue
            self._apply_event(batch, mapping, event)
        self._flush(batch)

    def _apply_event(self, batch: _Batch, mapping: TableMapping, event: InboxRow) -> None:
        key = (event.table, event.row_key)
        previous = batch.rows.get(key)
        # A snapshot read is never stale: it comes before the stream it starts, and a later
        # re-snapshot (slot lost, snapshot.mode=when_needed) is newer than all that came before.
        if previous is not None and event.op != "r" and _is_older(event.position, previous.position):
            batch.skipped[event.id] = (f"stale: position {event.position} is older than the "
                                       f"mirrored {previous.position}")
            return
        try:
            image = self._image_after(mapping, event, previous)
        except MappingError as exc:
            batch.failed[event.id] = str(exc)
            logger.warning("unmappable row kept as failed inbox_id=%d: %s", event.id, exc)
            return
        image.dirty = True
        batch.put(event.table, event.row_key, image)
        obj = mapping.object_key(event.row_key, image)
        if obj is None:
            batch.done.append(event.id)
            return
        batch.dirty[(mapping.entity.entity, obj)] = event
        batch.done.append(event.id)

    def _image_after(self, mapping: TableMapping, event: InboxRow,
                     previous: RowImage | None) -> RowImage:
        if event.op == "d":
            if previous is None:  # a row the hub never saw alive: nothing to retire
                return RowImage(attrs={}, retired=True, position=event.position, deleted=True)
            return RowImage(attrs=previous.attrs, retired=previous.retired, position=event.position,
                            parent_key=previous.parent_key, deleted=True)
        if event.after is None:
            raise MappingError(event.table, event.row_key, f"op {event.op} carries no row image")
        return map_row(mapping, event.table, event.row_key, event.after, previous, event.position)

    def _flush(self, batch: _Batch) -> None:
        """Make one version per golden record touched by the transaction just applied."""
        for (entity, obj), event in batch.dirty.items():
            spec = self.project.entities[entity]
            main = batch.rows.get((spec.table, obj))
            if main is None or (main.deleted and not main.attrs):
                continue  # children without their main row yet, or a row never seen alive
            children = {name: batch.children.get((child.table, obj), {})
                        for name, child in spec.children.items()}
            attributes, status = assemble(spec, main, children)
            state = batch.golden.get((entity, obj)) or GoldenState(entity=entity, source_key=obj)
            for name in spec.owned:  # a target's values survive the source's changes
                attributes[name] = state.attributes.get(name)
            if not state.is_new and state.attributes == attributes and state.status == status:
                continue
            if state.is_new and status == "retired" and main.deleted:
                continue
            self._new_version(batch, spec.business_key, state, attributes, status, event)
        batch.dirty.clear()

    def _new_version(self, batch: _Batch, business_key: str, state: GoldenState,
                     attributes: dict[str, object], status: str, event: InboxRow) -> None:
        valid_from = event.commit_ts or datetime.now(UTC)
        if state.valid_from is not None and valid_from < state.valid_from:
            valid_from = state.valid_from  # validity intervals never overlap
        previous = None if state.is_new or state.status != "active" else Previous(
            state.attributes, None if state.checks is None else frozenset(state.checks))
        state.checks = None  # the next version's predecessor is judged in this batch
        state.version += 1
        state.attributes, state.status = attributes, status
        state.business_key = str(attributes.get(business_key, state.business_key))
        state.valid_from = valid_from
        batch.golden[(state.entity, state.source_key)] = state
        batch.touched_states[(state.entity, state.source_key)] = state
        cause = Cause("change_event", event.source, event.table, event.row_key, event.op,
                      event.lsn, event.tx_id, event.commit_ts, event.id)
        batch.pending.append((state, NewVersion(0, state.version, state.entity,
                                                state.business_key, attributes, status,
                                                valid_from, cause, previous=previous)))

    # -- saving -------------------------------------------------------------------------------
    def _save(self, conn: psycopg.Connection, batch: _Batch) -> None:
        mirror.save_rows(conn, batch.source, batch.rows)
        if batch.pending:
            _commit_synchronously(conn)
        states = list(batch.touched_states.values())
        new_states = [s for s in states if s.golden_id is None]
        for state, golden_id in zip(new_states, golden.allocate_ids(conn, len(new_states))):
            state.golden_id = golden_id
        batch.versions = [
            NewVersion(s.golden_id or 0, v.version, v.entity, v.business_key, v.attributes,
                       v.status, v.valid_from, v.cause, previous=v.previous)
            for s, v in batch.pending
        ]
        source_keys = {s.golden_id or 0: s.source_key for s in states}
        batch.versions, verdicts = judge_versions(conn, self.rules, batch.versions, source_keys)
        batch.versions = hold_key_clashes(conn, self.project, batch.versions, batch.source)
        golden.write_versions(conn, states, batch.versions, batch.source)
        if verdicts or any(self.rules.has_rules(v.entity) for v in batch.versions):
            store_results(conn, batch.versions, verdicts, batch.source)
        inbox.finish_inbox(conn, batch.done, batch.failed, batch.skipped)


def _is_older(position: str, mirrored: str) -> bool:
    """Whether an event at `position` is older than the one the mirror holds. Only stream
    positions (commit LSN / LSN) are ordered; an event without an LSN is keyed by a hash of its
    content (`h/…`), which says nothing about order: such events apply in inbox order."""
    if position.startswith(CONTENT_POSITION_PREFIX) or mirrored.startswith(CONTENT_POSITION_PREFIX):
        return False
    return mirrored > position


def _commit_synchronously(conn: psycopg.Connection) -> None:
    """Make this transaction's commit wait for the WAL flush (the session runs with
    synchronous_commit off). Called before writing what the outside world sees or acts on —
    golden records and versions, deliveries, tasks — so none of it is visible (to a
    propagator, the API) before it is durable: a server crash can then never lose a batch
    whose ids were already pushed, and redo it under other ids. Batches that write only the
    mirror and the inbox status still commit without waiting: a lost one is redone identically."""
    conn.execute("SET LOCAL synchronous_commit = on")


def _object_of(mapping: TableMapping, event: InboxRow, image: RowImage | None) -> str | None:
    if mapping.child is None:
        return event.row_key
    if event.op == "d" or event.after is None:
        # With the default REPLICA IDENTITY a delete's `before` holds only the key; Debezium
        # fills the other NOT NULL columns with type defaults (0, ''), so trust the mirror.
        return image.parent_key if image else None
    parent = event.after.get(mapping.parent_column or "")
    return str(parent) if parent is not None else (image.parent_key if image else None)


def _add(total: BatchResult, part: BatchResult) -> None:
    for name in ("events", "versions", "failed", "skipped", "deliveries"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
