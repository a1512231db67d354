"""indexes for the reference-wait wake-up and the transaction-end prune

`delivery_requires_ix`: an ack at a target others wait on asks whether an open delivery
requires one of the acknowledged records (`requires_id && ids`, reference_waits.WAKE_SQL);
a GIN index over the open deliveries' requirements answers it without reading every open one.
`source_tx_ended_ix`: the retention pass drops transaction ends older than a day in batches
(`ended_at < …`); without it each batch read the whole table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("delivery_requires_ix", "delivery", ["requires_id"], postgresql_using="gin",
                    postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.create_index("source_tx_ended_ix", "source_tx", ["ended_at"])


def downgrade() -> None:
    op.drop_index("source_tx_ended_ix", table_name="source_tx")
    op.drop_index("delivery_requires_ix", table_name="delivery")
