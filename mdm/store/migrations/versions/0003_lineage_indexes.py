"""lineage: indexes for as-of and audit queries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # as of: the newest version of a record whose validity starts at or before an instant
    op.create_index('golden_version_valid_ix', 'golden_version', ['golden_id', 'valid_from'])
    # a period's decisions; a version's decision (field lineage)
    op.create_index('decision_time_ix', 'decision', ['decided_at'])
    op.create_index('decision_version_ix', 'decision', ['golden_id', 'version'])


def downgrade() -> None:
    op.drop_index('decision_version_ix', 'decision')
    op.drop_index('decision_time_ix', 'decision')
    op.drop_index('golden_version_valid_ix', 'golden_version')
