"""capture tables, snapshot requests and snapshot progress

`capture_table`: the tables capture read from each source when it last started, so a table the
project maps from now on is loaded (an incremental snapshot of that table alone) instead of
the whole source being snapshotted again. `snapshot_request`: incremental snapshots asked for
(new tables at capture start, `mdm resync`), which the capture process sends to its Debezium
engine one at a time per source. `snapshot_progress`: per table, the latest initial and the
latest incremental snapshot as capture sees them (pending / running with rows so far / done).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE capture_table (
    source     text NOT NULL,
    table_name text NOT NULL,                   -- schema.table, as Debezium names it
    added_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, table_name)
);

CREATE TABLE snapshot_request (
    id           bigserial PRIMARY KEY,
    source       text NOT NULL,
    reason       text NOT NULL,
    entity       text,                          -- resync: the entity re-read
    keys         jsonb,                         -- resync: the business keys, null for all
    tables       text[] NOT NULL,
    conditions   jsonb NOT NULL DEFAULT '{}',   -- table → SQL condition (additional-conditions)
    requested_by text,
    status       text NOT NULL DEFAULT 'pending',
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at      timestamptz,
    finished_at  timestamptz,
    error        text,
    CONSTRAINT snapshot_request_reason_ck CHECK (reason IN ('new_tables', 'resync')),
    CONSTRAINT snapshot_request_status_ck
        CHECK (status IN ('pending', 'sent', 'running', 'done', 'failed'))
);
CREATE INDEX snapshot_request_open_ix ON snapshot_request (source, id)
    WHERE status IN ('pending', 'sent', 'running');

CREATE TABLE snapshot_progress (
    source      text NOT NULL,
    table_name  text NOT NULL,
    kind        text NOT NULL,                  -- initial | incremental
    state       text NOT NULL,
    rows        bigint NOT NULL DEFAULT 0,      -- snapshot rows captured so far
    request_id  bigint,                         -- incremental: the snapshot_request
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, table_name, kind),
    CONSTRAINT snapshot_progress_kind_ck CHECK (kind IN ('initial', 'incremental')),
    CONSTRAINT snapshot_progress_state_ck CHECK (state IN ('pending', 'running', 'done', 'aborted'))
);
"""

DOWNGRADE = r"""
DROP TABLE snapshot_progress;
DROP TABLE snapshot_request;
DROP TABLE capture_table;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
