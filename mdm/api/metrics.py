"""Prometheus exposition of the pipeline's figures (capture lag, slot WAL, backlogs)."""
from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import Connection

from mdm.config.loader import Project
from mdm.store.repositories import feed_state
from mdm.store.status import PipelineStatus


def render_metrics(status: PipelineStatus, project: Project, db: Connection | None = None) -> str:
    """The figures; with `db`, also each feed table's poll health (feed_state)."""
    registry = CollectorRegistry()
    if db is not None:
        _feed_metrics(registry, feed_state.read_all(db))
    retained = Gauge("mdm_slot_retained_wal_bytes", "WAL the replication slot holds back",
                     ["source"], registry=registry)
    lag = Gauge("mdm_slot_lag_bytes", "WAL not yet confirmed by capture", ["source"], registry=registry)
    over = Gauge("mdm_slot_retained_wal_over_threshold", "1 when retained WAL passes lag_warning_bytes",
                 ["source"], registry=registry)
    latency = Gauge("mdm_capture_latency_ms", "Commit to inbox for the last captured event",
                    ["source"], registry=registry)
    idle = Gauge("mdm_capture_last_event_age_seconds", "Seconds since capture last wrote the inbox",
                 ["source"], registry=registry)
    events = Gauge("mdm_capture_events_total", "Change events captured", ["source"], registry=registry)
    inbox = Gauge("mdm_inbox_events", "Inbox rows by status", ["status"], registry=registry)
    outbox = Gauge("mdm_outbox_deliveries", "Deliveries by target and status", ["target", "status"],
                   registry=registry)
    golden = Gauge("mdm_golden_records", "Golden records by entity and status", ["entity", "status"],
                   registry=registry)
    now = datetime.now(UTC)
    for s in status.sources:
        retained.labels(s.source).set(s.slot_retained_bytes or 0)
        lag.labels(s.source).set(s.slot_lag_bytes or 0)
        spec = project.sources.get(s.source)
        threshold = spec.lag_warning_bytes if spec else 0
        over.labels(s.source).set(int(bool(threshold) and (s.slot_retained_bytes or 0) > threshold))
        latency.labels(s.source).set(s.last_latency_ms or 0)
        events.labels(s.source).set(s.events_total)
        if s.last_event_at:
            idle.labels(s.source).set((now - s.last_event_at).total_seconds())
    for name, count in status.inbox.items():
        inbox.labels(name).set(count)
    for target, counts in status.outbox.items():
        for name, count in counts.items():
            outbox.labels(target, name).set(count)
    for entity, counts in status.golden.items():
        for name, count in counts.items():
            golden.labels(entity, name).set(count)
    tasks = Gauge("mdm_open_tasks", "Open steward tasks by type", ["type"], registry=registry)
    for name, count in status.open_tasks.items():
        tasks.labels(name).set(count)
    Gauge("mdm_quarantined_records", "Golden records whose current version is quarantined",
          registry=registry).set(status.quarantined)
    snapshot_rows = Gauge("mdm_snapshot_rows", "Rows read by a table's latest snapshot",
                          ["source", "table", "kind"], registry=registry)
    snapshot_open = Gauge("mdm_snapshot_in_progress", "1 while a table's latest snapshot is "
                          "pending or running", ["source", "table", "kind"], registry=registry)
    for snap in status.snapshots:
        snapshot_rows.labels(snap.source, snap.table, snap.kind).set(snap.rows)
        snapshot_open.labels(snap.source, snap.table, snap.kind).set(
            int(snap.state in ("pending", "running")))
    commands = Gauge("mdm_flow_commands", "Flow commands by hop and status (held: waiting for "
                     "their origin document)", ["hop", "status"], registry=registry)
    for hop, counts in status.flows.items():
        for name, count in counts.items():
            commands.labels(hop, name).set(count)
    return generate_latest(registry).decode()


def _feed_metrics(registry: CollectorRegistry, feeds: list[feed_state.FeedState]) -> None:
    """Per feed table (polls): seconds since it was last read to its end, its cursor's time,
    and whether its last request failed."""
    labels = ["source", "table"]
    lag = Gauge("mdm_feed_lag_seconds", "Seconds since the feed last read the table to its end",
                labels, registry=registry)
    ok = Gauge("mdm_feed_last_ok_timestamp_seconds", "When the feed last read the table to its "
               "end (Unix time)", labels, registry=registry)
    cursor = Gauge("mdm_feed_cursor_timestamp_seconds", "Modified time of the last record "
                   "stored (the poll's cursor, Unix time)", labels, registry=registry)
    failing = Gauge("mdm_feed_failing", "1 while the feed's last request for the table failed",
                    labels, registry=registry)
    now = datetime.now(UTC)
    for f in (f for f in feeds if "#" not in f.table):
        seconds = f.lag_s(now)
        if seconds is not None and f.last_ok_at is not None:
            lag.labels(f.source, f.table).set(seconds)
            ok.labels(f.source, f.table).set(f.last_ok_at.timestamp())
        if f.cursor.get("micros", -1) >= 0:
            cursor.labels(f.source, f.table).set(int(f.cursor["micros"]) / 1e6)
        failing.labels(f.source, f.table).set(int(f.last_error is not None))
