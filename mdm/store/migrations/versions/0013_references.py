"""references: versions held on an unknown reference, and what a delivery waits for

`reference_hold` lists, per record, the reference attributes of its current version that
point at a record the hub does not know yet (the version is stored with quality 'held' and
not propagated); the row goes when that record arrives, or when a later version no longer
needs it. `delivery.requires_*` name the referenced records (golden id, target, version) a
delivery waits for: it is not claimed before each is acknowledged at that target.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reference_hold',
        sa.Column('golden_id', sa.BigInteger(), nullable=False),
        sa.Column('attribute', sa.Text(), nullable=False),  # list.attribute for a child list's
        sa.Column('referenced_entity', sa.Text(), nullable=False),
        sa.Column('referenced_key', sa.Text(), nullable=False),  # the unknown record's source key
        sa.Column('version', sa.Integer(), nullable=False),  # the held (current) version
        sa.Column('entity', sa.Text(), nullable=False),
        sa.Column('business_key', sa.Text(), nullable=False),
        sa.Column('system', sa.Text(), nullable=False),
        sa.Column('quality', sa.Text(), nullable=False),  # the version's quality before the hold
        sa.Column('held_since', sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text('clock_timestamp()')),
        sa.Column('task_id', sa.BigInteger()),  # the unknown_reference task, once opened
        sa.PrimaryKeyConstraint('golden_id', 'attribute', 'referenced_key'),
    )
    op.create_index('reference_hold_referenced_ix', 'reference_hold',
                    ['referenced_entity', 'referenced_key'])
    op.create_index('reference_hold_due_ix', 'reference_hold', ['held_since'],
                    postgresql_where=sa.text('task_id IS NULL'))
    op.add_column('delivery', sa.Column('requires_id', postgresql.ARRAY(sa.BigInteger())))
    op.add_column('delivery', sa.Column('requires_at', postgresql.ARRAY(sa.Text())))
    op.add_column('delivery', sa.Column('requires_version', postgresql.ARRAY(sa.Integer())))


def downgrade() -> None:
    op.drop_column('delivery', 'requires_version')
    op.drop_column('delivery', 'requires_at')
    op.drop_column('delivery', 'requires_id')
    op.drop_index('reference_hold_due_ix', table_name='reference_hold')
    op.drop_index('reference_hold_referenced_ix', table_name='reference_hold')
    op.drop_table('reference_hold')
