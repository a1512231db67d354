"""records without a business key yet (drafts)

A draft document has no number: it is a golden record from its first row, identified by its
source row (golden_record.source_key, xref), and its business key stays NULL until the number
arrives — NULL, not a placeholder, so a lookup by business key can never answer with a record
that has none. The versions, rule results, tasks and reference holds of a draft carry NULL
too; a draft's open task is unique per (type, entity, record, system) instead of per key. Deliveries keep their NOT
NULL key: a draft reaches no target until it has a key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

KEYED = ("golden_record", "golden_version", "rule_result", "task", "reference_hold")


def upgrade() -> None:
    for table in KEYED:
        op.alter_column(table, "business_key", existing_type=sa.Text(), nullable=True)
    op.create_index("task_open_draft_uq", "task", ["type", "entity", "golden_id", "system"],
                    unique=True,
                    postgresql_where=sa.text("status = 'open' AND business_key IS NULL"))


def downgrade() -> None:
    op.drop_index("task_open_draft_uq", table_name="task")
    for table in KEYED:  # a draft becomes a record keyed '' again
        op.execute(f"UPDATE {table} SET business_key = '' WHERE business_key IS NULL")
        op.alter_column(table, "business_key", existing_type=sa.Text(), nullable=False)
