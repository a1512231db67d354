"""flows: a delivery may be a hop's command; links between documents

`delivery.hop`: the hop (flow.hop, flow.hop.back) whose mapping makes a command's payload;
NULL for a record's own upsert or retirement; `delivery.progress`: the done steps of a command
of several calls. `document_link`: an origin document → the
document a hop created from it. `command_hold`: a command waiting for its origin document.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 06:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("delivery", sa.Column("hop", sa.Text()))
    op.add_column("delivery", sa.Column("progress", postgresql.JSONB()))
    op.create_table(
        "document_link",
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("hop", sa.Text(), nullable=False),
        sa.Column("origin_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_version", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.BigInteger()),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("clock_timestamp()")),
        sa.PrimaryKeyConstraint("flow", "hop", "origin_id", "linked_id"),
    )
    op.create_index("document_link_linked_ix", "document_link", ["linked_id"])
    op.create_table(
        "command_hold",
        sa.Column("delivery_id", sa.BigInteger(), primary_key=True),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("hop", sa.Text(), nullable=False),
        sa.Column("held_id", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("business_key", sa.Text(), nullable=False),
        sa.Column("held_since", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("clock_timestamp()")),
        sa.Column("task_id", sa.BigInteger()),
    )
    op.create_index("command_hold_origin_ix", "command_hold", ["entity", "business_key"])


def downgrade() -> None:
    op.drop_index("command_hold_origin_ix", table_name="command_hold")
    op.drop_table("command_hold")
    op.drop_index("document_link_linked_ix", table_name="document_link")
    op.drop_table("document_link")
    op.drop_column("delivery", "progress")
    op.drop_column("delivery", "hop")
