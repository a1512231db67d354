"""Deciding versions: apply one source's change events to the mirror and the golden records'
states, and make at most one new version per record and source transaction — none when nothing
the record carries changed (an edit of an ignored audit column).

Ordering: events are applied in inbox order (capture appends in commit order); a row's mirror
keeps the position of the event that last wrote it, and an older event is skipped. Runs inside
the processing transaction (mdm/pipeline/processing.py), which judges and writes the versions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from mdm.config.loader import Project
from mdm.config.models import EntitySpec
from mdm.errors import MappingError
from mdm.golden import mirror
from mdm.golden.assemble import assemble_record
from mdm.golden.loading import load_touched
from mdm.golden.mapper import RowImage, TableMapping, map_row, object_of, table_mappings
from mdm.golden.versions import next_version
from mdm.model.golden import Cause, GoldenState, NewVersion
from mdm.model.inbox import CONTENT_POSITION_PREFIX, InboxRow
from mdm.store.repositories import golden

logger = logging.getLogger(__name__)


@dataclass
class SourceBatch:
    """In-memory working set of one source's events in a batch: mirrors, golden states, new
    versions (`pending` until their records have golden ids), and what became of each event."""

    source: str
    rows: dict[tuple[str, str], RowImage]
    golden: dict[tuple[str, str], GoldenState]
    children: dict[tuple[str, str], dict[str, RowImage]] = field(default_factory=dict)
    pending: list[tuple[GoldenState, NewVersion]] = field(default_factory=list)
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


class ChangeApplier:
    """Turns a system of record's change events into golden versions. One instance per
    process; not thread-safe."""

    def __init__(self, project: Project) -> None:
        self.project = project
        # the tables of the entities each source is the system of record of (not its copies)
        self.mappings = {name: table_mappings(project, name) for name in project.systems_read}

    def apply(self, conn: psycopg.Connection, source: str, events: list[InboxRow]) -> SourceBatch:
        """Load what the events touch and apply them: the batch's new versions are pending."""
        batch = self._load(conn, source, events)
        self._apply_events(batch, events)
        return batch

    # -- loading ------------------------------------------------------------------------------
    def _load(self, conn: psycopg.Connection, source: str,
              events: list[InboxRow]) -> SourceBatch:
        rows, records = load_touched(conn, self.project, self.mappings.get(source, {}), source,
                                     events)
        return SourceBatch(source=source, rows=rows, golden=golden.load_golden(conn, records))

    # -- applying -----------------------------------------------------------------------------
    def _apply_events(self, batch: SourceBatch, events: list[InboxRow]) -> None:
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

    def _apply_event(self, batch: SourceBatch, mapping: TableMapping, event: InboxRow) -> None:
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
        if mapping.parent_table is None:  # a main row: its own record, nothing to look up
            batch.put(event.table, event.row_key, image)
            batch.dirty[(mapping.entity.entity, event.row_key)] = event
            batch.done.append(event.id)
            return
        mappings = self.mappings.get(batch.source, {})
        # a child row that moves to another parent changes the record it leaves too
        left = None if previous is None or previous.parent_key == image.parent_key else object_of(
            mappings, event.table, event.row_key, previous.parent_key, batch.rows)
        batch.put(event.table, event.row_key, image)
        joined = object_of(mappings, event.table, event.row_key, image.parent_key, batch.rows)
        for obj in {left, joined} - {None}:
            batch.dirty[(mapping.entity.entity, str(obj))] = event
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

    def _flush(self, batch: SourceBatch) -> None:
        """Make one version per golden record touched by the transaction just applied."""
        for (entity, obj), event in batch.dirty.items():
            spec = self.project.entities[entity]
            main = batch.rows.get((spec.table, obj))
            if main is None or (main.deleted and not main.attrs):
                continue  # children without their main row yet, or a row never seen alive
            attributes, status = assemble_record(spec, main, obj, batch.children)
            state = batch.golden.get((entity, obj)) or GoldenState(entity=entity, source_key=obj)
            for name in spec.owned:  # a target's values survive the source's changes
                attributes[name] = state.attributes.get(name)
            if not state.is_new and state.attributes == attributes and state.status == status:
                continue
            if state.is_new and status == "retired" and main.deleted:
                continue
            self._new_version(batch, spec, state, attributes, status, event)
        batch.dirty.clear()

    def _new_version(self, batch: SourceBatch, spec: EntitySpec, state: GoldenState,
                     attributes: dict[str, object], status: str, event: InboxRow) -> None:
        cause = Cause("change_event", event.source, event.table, event.row_key, event.op,
                      event.lsn, event.tx_id, event.commit_ts, event.id)
        version = next_version(state, attributes, status,
                               spec.business_key_of(attributes),  # None: a draft, no key yet
                               cause, event.commit_ts or datetime.now(UTC))
        batch.golden[(state.entity, state.source_key)] = state
        batch.touched_states[(state.entity, state.source_key)] = state
        batch.pending.append((state, version))

    # -- saving -------------------------------------------------------------------------------
    def keep(self, conn: psycopg.Connection, batch: SourceBatch) -> list[NewVersion]:
        """Write the batch's mirror rows, give new records their golden ids, and return the
        pending versions with those ids (not yet judged or written)."""
        mirror.save_rows(conn, batch.source, batch.rows)
        new_states = [s for s in batch.touched_states.values() if s.golden_id is None]
        for state, golden_id in zip(new_states, golden.allocate_ids(conn, len(new_states))):
            state.golden_id = golden_id
        return [
            NewVersion(s.golden_id or 0, v.version, v.entity, v.business_key, v.attributes,
                       v.status, v.valid_from, v.cause, previous=v.previous)
            for s, v in batch.pending
        ]


def _is_older(position: str, mirrored: str) -> bool:
    """Whether an event at `position` is older than the one the mirror holds. Only stream
    positions (commit LSN / LSN) are ordered; an event without an LSN is keyed by a hash of its
    content (`h/…`), which says nothing about order: such events apply in inbox order."""
    if position.startswith(CONTENT_POSITION_PREFIX) or mirrored.startswith(CONTENT_POSITION_PREFIX):
        return False
    return mirrored > position
