"""users, API tokens and browser sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NOW = sa.text('clock_timestamp()')


def upgrade() -> None:
    op.create_table(
        'app_user',
        sa.Column('id', sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column('username', sa.Text(), nullable=False, unique=True),
        sa.Column('display_name', sa.Text()),
        sa.Column('role', sa.Text(), nullable=False),  # steward | auditor | admin | service
        sa.Column('password_hash', sa.Text()),  # argon2id; NULL: token-only (services)
        sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.text('false')),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column('disabled_at', sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('steward', 'auditor', 'admin', 'service')", name='app_user_role'),
    )
    op.create_table(
        'api_token',
        sa.Column('id', sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column('user_id', sa.BigInteger(), sa.ForeignKey('app_user.id'), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('token_hash', sa.Text(), nullable=False, unique=True),  # sha256 of the token
        sa.Column('prefix', sa.Text(), nullable=False),  # its first characters, to recognise it
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column('last_used_at', sa.DateTime(timezone=True)),
        sa.Column('revoked_at', sa.DateTime(timezone=True)),
    )
    op.create_table(
        'web_session',
        sa.Column('id_hash', sa.Text(), primary_key=True),  # sha256 of the cookie's value
        sa.Column('user_id', sa.BigInteger(), sa.ForeignKey('app_user.id'), nullable=False),
        sa.Column('csrf_token', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('web_session')
    op.drop_table('api_token')
    op.drop_table('app_user')
