"""change requests written to the ERP: when, by which ERP transaction, or why not

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('change_request', sa.Column('applied_at', sa.DateTime(timezone=True)))
    op.add_column('change_request', sa.Column('erp_tx_id', sa.BigInteger()))
    op.add_column('change_request', sa.Column('error', sa.Text()))


def downgrade() -> None:
    for column in ('error', 'erp_tx_id', 'applied_at'):
        op.drop_column('change_request', column)
