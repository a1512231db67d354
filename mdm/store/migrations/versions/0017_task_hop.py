"""a flow task is open once per document and hop

`task.hop`: the hop (flow.hop) whose task it is, '' for every other type of task. The open-task
indexes include it, so two hops' tasks on one document (a pick task short at allocation and short
at the pick) are two tasks, each refreshed by its own hop; every other type de-duplicates as
before ('' for all of them). Open flow tasks take their hop from their detail.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OPEN = "status = 'open'"
OPEN_DRAFT = "status = 'open' AND business_key IS NULL"


def upgrade() -> None:
    op.add_column("task", sa.Column("hop", sa.Text(), nullable=False, server_default=sa.text("''")))
    op.execute("UPDATE task SET hop = detail->>'hop' WHERE type = 'flow_task' AND detail ? 'hop'")
    _indexes(["hop"])


def downgrade() -> None:
    # two hops' open tasks on one document would collide: the older ones are closed
    op.execute("""UPDATE task t SET status = 'resolved', resolution = 'superseded',
                      resolved_by = 'system', resolved_at = clock_timestamp()
                  WHERE t.status = 'open' AND t.hop <> '' AND EXISTS (
                      SELECT 1 FROM task o WHERE o.status = 'open' AND o.id > t.id
                      AND o.type = t.type AND o.entity = t.entity AND o.system = t.system
                      AND (o.business_key = t.business_key OR (o.business_key IS NULL AND
                           t.business_key IS NULL AND o.golden_id = t.golden_id)))""")
    _indexes([])
    op.drop_column("task", "hop")


def _indexes(hop: list[str]) -> None:
    op.drop_index("task_open_uq", table_name="task")
    op.drop_index("task_open_draft_uq", table_name="task")
    op.create_index("task_open_uq", "task", ["type", "entity", "business_key", "system", *hop],
                    unique=True, postgresql_where=sa.text(OPEN))
    op.create_index("task_open_draft_uq", "task", ["type", "entity", "golden_id", "system", *hop],
                    unique=True, postgresql_where=sa.text(OPEN_DRAFT))
