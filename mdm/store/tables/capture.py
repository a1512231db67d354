"""Capture's bookkeeping per source: what it last saw (lag, slot figures), the tables it read
when it last started, the incremental snapshots asked for, and each table's snapshot progress."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from mdm.store.tables.base import metadata

# What capture last saw per source: the basis of capture lag.
capture_state = Table(
    "capture_state",
    metadata,
    Column("source", Text, primary_key=True),
    Column("last_event_at", DateTime(timezone=True)),
    Column("last_commit_ts", DateTime(timezone=True)),
    Column("last_lsn", BigInteger),
    Column("events_total", BigInteger, nullable=False, server_default=text("0")),
    Column("last_latency_ms", Integer),
    Column("slot_retained_bytes", BigInteger),
    Column("slot_lag_bytes", BigInteger),
    Column("slot_checked_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)

# The tables capture read per source when it last started (migration 0012): a table the
# project maps from now on gets an incremental snapshot of its own (mdm/capture/snapshots.py).
capture_table = Table(
    "capture_table",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "table_name"),
)

# Incremental snapshots asked for (new tables, `mdm resync`); capture sends them one at a time.
snapshot_request = Table(
    "snapshot_request",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),  # new_tables | resync
    Column("entity", Text),
    Column("keys", JSONB),
    Column("tables", ARRAY(Text), nullable=False),
    Column("conditions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("requested_by", Text),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("sent_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
    CheckConstraint("reason IN ('new_tables', 'resync')", name="snapshot_request_reason_ck"),
    CheckConstraint("status IN ('pending', 'sent', 'running', 'done', 'failed')",
                    name="snapshot_request_status_ck"),
)
Index("snapshot_request_open_ix", snapshot_request.c.source, snapshot_request.c.id,
      postgresql_where=text("status IN ('pending', 'sent', 'running')"))

# Per table, the latest initial and incremental snapshot as capture sees them.
snapshot_progress = Table(
    "snapshot_progress",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("kind", Text, nullable=False),  # initial | incremental
    Column("state", Text, nullable=False),  # pending | running | done | aborted
    Column("rows", BigInteger, nullable=False, server_default=text("0")),
    Column("request_id", BigInteger),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "table_name", "kind"),
    CheckConstraint("kind IN ('initial', 'incremental')", name="snapshot_progress_kind_ck"),
    CheckConstraint("state IN ('pending', 'running', 'done', 'aborted')",
                    name="snapshot_progress_state_ck"),
)

# A feed's durable cursor and health per source and table (migration 0018; mdm/capture/poll.py).
feed_state = Table(
    "feed_state",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("cursor", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("last_ok_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "table_name"),
)
