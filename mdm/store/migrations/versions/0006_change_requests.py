"""change requests: a system's value a steward accepted, for the ERP team

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 02:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'change_request',
        sa.Column('id', sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column('task_id', sa.BigInteger(), nullable=False),
        sa.Column('entity', sa.Text(), nullable=False),
        sa.Column('business_key', sa.Text(), nullable=False),
        sa.Column('golden_id', sa.BigInteger()),
        sa.Column('system', sa.Text(), nullable=False),
        sa.Column('attribute', sa.Text()),
        sa.Column('field', sa.Text()),
        sa.Column('golden_value', postgresql.JSONB()),
        sa.Column('requested_value', postgresql.JSONB()),
        sa.Column('requested_by', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text()),
        sa.Column('status', sa.Text(), nullable=False, server_default=sa.text("'open'")),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text('clock_timestamp()')),
    )
    op.create_index('change_request_status_ix', 'change_request', ['status', 'id'])


def downgrade() -> None:
    op.drop_table('change_request')
