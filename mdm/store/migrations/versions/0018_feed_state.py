"""feed state: a feed's durable cursor and health per source and table

`feed_state`: what a feed the hub reads without Debezium (mdm/config/feeds.py) keeps between
runs, per (source, table): its cursor (a poll's last stored (modified time, id); any JSON the
feed's kind defines), when it last read its system to the end (`last_ok_at`), and its last
error. A poll moves its cursor in the transaction that appends the page to the inbox.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE feed_state (
    source        text NOT NULL,
    table_name    text NOT NULL,                -- the entity table, or table#tombstones …
    cursor        jsonb NOT NULL DEFAULT '{}',
    last_ok_at    timestamptz,                  -- last read to the end without an error
    last_error    text,
    last_error_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, table_name)
);
"""

DOWNGRADE = r"""
DROP TABLE feed_state;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
