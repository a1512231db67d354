"""Read-side figures of the whole pipeline: capture lag and slot, inbox and outbox backlog,
failed rows. Used by `mdm status`, `/api/v1/status`, `/metrics`, `/readyz` and the
configuration view (capture progress per source, deliveries per target)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from mdm.model.snapshots import TableSnapshot


@dataclass
class SourceStatus:
    source: str
    events_total: int
    last_event_at: datetime | None
    last_commit_ts: datetime | None
    last_latency_ms: int | None
    slot_retained_bytes: int | None
    slot_lag_bytes: int | None
    slot_checked_at: datetime | None


@dataclass
class PipelineStatus:
    sources: list[SourceStatus]
    inbox: dict[str, int]
    outbox: dict[str, dict[str, int]]
    golden: dict[str, dict[str, int]]
    failed_events: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    snapshots: list[TableSnapshot] = field(default_factory=list)  # per table and kind
    snapshot_requests: list[dict[str, Any]] = field(default_factory=list)  # open, then recent
    held: int = 0  # records whose current version is held on an unknown reference
    # flow commands per hop and status (pending, failed, held on their origin, dead, acked)
    flows: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_ready(conn: Connection) -> bool:
    """The hub database answers and holds the hub's tables (a query on golden_record runs)."""
    conn.execute(text("SELECT 1 FROM golden_record LIMIT 1"))
    return True


def capture_states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Capture's progress per source: last event and commit, LSN, events, last latency."""
    return {r["source"]: dict(r) for r in conn.execute(text(
        "SELECT source, last_event_at, last_commit_ts, last_lsn, events_total, last_latency_ms "
        "FROM capture_state")).mappings()}


def delivery_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Deliveries per target and status."""
    outbox: dict[str, dict[str, int]] = {}
    for target, status, count in conn.execute(text(
            "SELECT target, status, count(*) FROM delivery GROUP BY target, status")):
        outbox.setdefault(target, {})[status] = int(count)
    return outbox


def snapshot_figures(conn: Connection, recent: int = 10
                     ) -> tuple[list[TableSnapshot], list[dict[str, Any]]]:
    """Each table's latest initial and incremental snapshot (pending, running with rows so
    far, done, aborted), and the incremental snapshot requests not finished plus the `recent`
    last finished ones, newest first."""
    tables = [TableSnapshot(r.source, r.table_name, r.kind, r.state, int(r.rows), r.request_id,
                            r.started_at, r.finished_at)
              for r in conn.execute(text(
                  "SELECT source, table_name, kind, state, rows, request_id, started_at, "
                  "finished_at FROM snapshot_progress ORDER BY source, table_name, kind"))]
    columns = ("id, source, reason, entity, keys, tables, status, requested_at, sent_at, "
               "finished_at, error")
    requests = [dict(r._mapping) for r in conn.execute(text(
        f"(SELECT {columns} FROM snapshot_request WHERE status IN ('pending', 'sent', 'running')) "
        f"UNION ALL (SELECT {columns} FROM snapshot_request WHERE status IN ('done', 'failed') "
        "ORDER BY id DESC LIMIT :n) ORDER BY id DESC"), {"n": recent})]
    return tables, requests


def read_status(conn: Connection, failed_limit: int = 20) -> PipelineStatus:
    sources = [SourceStatus(*r) for r in conn.execute(text(
        "SELECT source, events_total, last_event_at, last_commit_ts, last_latency_ms, "
        "slot_retained_bytes, slot_lag_bytes, slot_checked_at FROM capture_state ORDER BY source"))]
    inbox = {r[0]: int(r[1]) for r in conn.execute(text(
        "SELECT status, count(*) FROM inbox GROUP BY status"))}
    outbox = delivery_counts(conn)
    golden: dict[str, dict[str, int]] = {}
    for entity, status, count in conn.execute(text(
            "SELECT entity, status, count(*) FROM golden_record GROUP BY entity, status")):
        golden.setdefault(entity, {})[status] = int(count)
    failed = [dict(r._mapping) for r in conn.execute(text(
        "SELECT id, source, table_name, row_key, op, error, received_at FROM inbox "
        "WHERE status = 'failed' ORDER BY id DESC LIMIT :n"), {"n": failed_limit})]
    open_tasks = {r[0]: int(r[1]) for r in conn.execute(text(
        "SELECT type, count(*) FROM task WHERE status = 'open' GROUP BY type"))}
    quarantined = conn.execute(text(
        "SELECT count(*) FROM golden_record g JOIN golden_version v ON v.golden_id = g.id "
        "AND v.version = g.version WHERE v.quality = 'quarantined'")).scalar_one()
    snapshots, requests = snapshot_figures(conn)
    held = conn.execute(text("SELECT count(DISTINCT golden_id) FROM reference_hold")).scalar_one()
    flows: dict[str, dict[str, int]] = {}
    for hop, status, count in conn.execute(text(
            "SELECT hop, status, count(*) FROM delivery WHERE hop IS NOT NULL "
            "GROUP BY hop, status")):
        flows.setdefault(hop, {})[status] = int(count)
    return PipelineStatus(sources, inbox, outbox, golden, failed, open_tasks, int(quarantined),
                          snapshots, requests, int(held), flows)
