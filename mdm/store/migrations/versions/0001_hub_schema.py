"""hub schema: inbox, mirror, golden records, versions, xref, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 19:57:52.589463
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('capture_state',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_commit_ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_lsn', sa.BigInteger(), nullable=True),
    sa.Column('events_total', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_latency_ms', sa.Integer(), nullable=True),
    sa.Column('slot_retained_bytes', sa.BigInteger(), nullable=True),
    sa.Column('slot_lag_bytes', sa.BigInteger(), nullable=True),
    sa.Column('slot_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.create_table('source_tx',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('tx_id', sa.BigInteger(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('source', 'tx_id')
    )
    op.create_table('delivery',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('golden_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Text(), nullable=False),
    sa.Column('business_key', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('operation', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('response_status', sa.SmallInteger(), nullable=True),
    sa.Column('target_id', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_index('delivery_open_ix', 'delivery', ['target', 'next_attempt_at'], unique=False, postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.create_index('delivery_record_ix', 'delivery', ['golden_id', 'target', 'version'], unique=False)
    op.create_table('golden_record',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('entity', sa.Text(), nullable=False),
    sa.Column('source_key', sa.Text(), nullable=False),
    sa.Column('business_key', sa.Text(), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity', 'source_key', name='golden_record_source_uq')
    )
    op.create_index('golden_record_business_key_ix', 'golden_record', ['entity', 'business_key'], unique=False)
    op.create_table('golden_version',
    sa.Column('golden_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Text(), nullable=False),
    sa.Column('business_key', sa.Text(), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('cause_kind', sa.Text(), nullable=False),
    sa.Column('cause_source', sa.Text(), nullable=True),
    sa.Column('cause_table', sa.Text(), nullable=True),
    sa.Column('cause_row_key', sa.Text(), nullable=True),
    sa.Column('cause_op', sa.Text(), nullable=True),
    sa.Column('cause_lsn', sa.BigInteger(), nullable=True),
    sa.Column('cause_tx_id', sa.BigInteger(), nullable=True),
    sa.Column('cause_commit_ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cause_inbox_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('golden_id', 'version')
    )
    op.create_index('golden_version_tx_ix', 'golden_version', ['cause_source', 'cause_tx_id'], unique=False)
    op.create_table('inbox',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('position', sa.Text(), nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('row_key', sa.Text(), nullable=False),
    sa.Column('op', sa.Text(), nullable=False),
    sa.Column('tx_id', sa.BigInteger(), nullable=True),
    sa.Column('lsn', sa.BigInteger(), nullable=True),
    sa.Column('commit_ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_snapshot', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'position', 'table_name', 'row_key', name='inbox_event_uq')
    )
    op.create_index('inbox_failed_ix', 'inbox', ['id'], unique=False, postgresql_where=sa.text("status = 'failed'"))
    op.create_index('inbox_pending_ix', 'inbox', ['id'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('source_row',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('row_key', sa.Text(), nullable=False),
    sa.Column('parent_key', sa.Text(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('position', sa.Text(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.PrimaryKeyConstraint('source', 'table_name', 'row_key')
    )
    op.create_index('source_row_parent_ix', 'source_row', ['source', 'table_name', 'parent_key'], unique=False)
    op.create_table('xref',
    sa.Column('golden_id', sa.BigInteger(), nullable=False),
    sa.Column('system', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('golden_id', 'system')
    )
    op.create_index('xref_system_key_ix', 'xref', ['system', 'key'], unique=False)


def downgrade() -> None:
    op.drop_table('source_tx')
    op.drop_index('xref_system_key_ix', table_name='xref')
    op.drop_table('xref')
    op.drop_index('source_row_parent_ix', table_name='source_row')
    op.drop_table('source_row')
    op.drop_index('inbox_pending_ix', table_name='inbox', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('inbox_failed_ix', table_name='inbox', postgresql_where=sa.text("status = 'failed'"))
    op.drop_table('inbox')
    op.drop_index('golden_version_tx_ix', table_name='golden_version')
    op.drop_table('golden_version')
    op.drop_index('golden_record_business_key_ix', table_name='golden_record')
    op.drop_table('golden_record')
    op.drop_index('delivery_record_ix', table_name='delivery')
    op.drop_index('delivery_open_ix', table_name='delivery', postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.drop_table('delivery')
    op.drop_table('capture_state')
