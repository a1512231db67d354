"""rules and tasks: rule results, version quality, steward tasks and decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

NOW = sa.text('clock_timestamp()')


def upgrade() -> None:
    op.add_column('golden_version', sa.Column('cause_task_id', sa.BigInteger(), nullable=True))
    op.add_column('golden_version', sa.Column('cause_actor', sa.Text(), nullable=True))
    op.add_column('golden_version', sa.Column('quality', sa.Text(), server_default=sa.text("'ok'"),
                                              nullable=False))
    op.add_column('golden_version', sa.Column('checks', postgresql.JSONB(), nullable=True))
    op.create_table('rule_result',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('golden_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Text(), nullable=False),
    sa.Column('business_key', sa.Text(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('attribute', sa.Text(), nullable=True),
    sa.Column('severity', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('observed', postgresql.JSONB(), nullable=True),
    sa.Column('expectation', postgresql.JSONB(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('rule_result_version_ix', 'rule_result', ['golden_id', 'version'])
    op.create_table('task',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('entity', sa.Text(), nullable=False),
    sa.Column('business_key', sa.Text(), nullable=False),
    sa.Column('golden_id', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('system', sa.Text(), nullable=False),
    sa.Column('severity', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Text(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('task_open_uq', 'task', ['type', 'entity', 'business_key', 'system'],
                    unique=True, postgresql_where=sa.text("status = 'open'"))
    op.create_index('task_status_ix', 'task', ['status', 'created_at'])
    op.create_table('decision',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', postgresql.JSONB(), nullable=True),
    sa.Column('after', postgresql.JSONB(), nullable=True),
    sa.Column('golden_id', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), server_default=NOW, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('decision_task_ix', 'decision', ['task_id'])


def downgrade() -> None:
    op.drop_table('decision')
    op.drop_table('task')
    op.drop_table('rule_result')
    for column in ('checks', 'quality', 'cause_actor', 'cause_task_id'):
        op.drop_column('golden_version', column)
