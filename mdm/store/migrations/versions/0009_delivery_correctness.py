"""delivery correctness: retries of the current version, renames at targets

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # item 6: renames — records waiting on a business-key clash are looked up by golden id
    # in every processing batch that changes a key.
    op.create_index('task_key_clash_ix', 'task', ['golden_id'], unique=False,
                    postgresql_where=sa.text("type = 'key_clash' AND status = 'open'"))
    # end item 6


def downgrade() -> None:
    # item 6: renames
    op.drop_index('task_key_clash_ix', table_name='task')
    # end item 6
