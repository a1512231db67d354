"""API hardening: token expiry and revocation, sign-in failures and lockouts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


NOW = sa.text('clock_timestamp()')


def upgrade() -> None:
    # Tokens expire; the ones issued before this migration get the default 90 days from now.
    op.add_column('api_token', sa.Column('expires_at', sa.DateTime(timezone=True)))
    op.execute("UPDATE api_token SET expires_at = clock_timestamp() + interval '90 days' "
               "WHERE revoked_at IS NULL")
    op.create_index('api_token_user', 'api_token', ['user_id'])
    # Failed sign-ins in a row, per user name tried and per client address; a name with too
    # many is locked (locked_at) until an admin unlocks it (mdm users unlock NAME).
    op.create_table(
        'signin_failure',
        sa.Column('kind', sa.Text(), primary_key=True),  # user | address
        sa.Column('subject', sa.Text(), primary_key=True),  # the name tried, or the address
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column('locked_at', sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('user', 'address')", name='signin_failure_kind'),
    )


def downgrade() -> None:
    op.drop_table('signin_failure')
    op.drop_index('api_token_user', 'api_token')
    op.drop_column('api_token', 'expires_at')
