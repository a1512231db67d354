"""SQL on change requests to a system of record (`change_request`): recorded by a steward's
decision, listed for the ERP team, marked applied (or given the error) after the write into
the ERP (mdm/steward/erp_write.py). Each function runs in the caller's transaction."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

COLUMNS = ("id", "created_at", "status", "entity", "business_key", "system", "attribute", "field",
           "golden_value", "requested_value", "requested_by", "reason", "task_id", "applied_at",
           "erp_tx_id", "error")
OF_TASK = ("id", "attribute", "field", "requested_value", "status", "erp_tx_id", "applied_at",
           "error")


def insert_request(conn: psycopg.Connection, task: dict[str, Any], field: dict[str, Any],
                   actor: str, reason: str | None) -> int:
    """One request for a differing `field` ({attribute, field, golden, target}) of a
    divergence `task`; its id."""
    row = conn.execute(
        "INSERT INTO change_request (task_id, entity, business_key, golden_id, system, "
        "attribute, field, golden_value, requested_value, requested_by, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (task["id"], task["entity"], task["business_key"], task["golden_id"], task["system"],
         field.get("attribute"), field.get("field"), Jsonb(field.get("golden")),
         Jsonb(field.get("target")), actor, reason)).fetchone()
    assert row is not None
    return int(row[0])


def list_requests(conn: psycopg.Connection, status: str | None) -> list[dict[str, Any]]:
    """Every request (of one `status`, unless None), oldest first, with COLUMNS."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {', '.join(COLUMNS)} FROM change_request "
            "WHERE %(s)s::text IS NULL OR status = %(s)s ORDER BY id", {"s": status}).fetchall()


def requests_of_task(conn: psycopg.Connection, task_id: int) -> list[dict[str, Any]]:
    """The requests one decision on `task_id` recorded (OF_TASK's columns)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {', '.join(OF_TASK)} FROM change_request WHERE task_id = %s "
                           "ORDER BY id", (task_id,)).fetchall()


def open_requests(conn: psycopg.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Those of `ids` still open, with every column."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM change_request WHERE id = ANY(%s) AND status = 'open' "
                           "ORDER BY id", (list(ids),)).fetchall()


def note_error(conn: psycopg.Connection, ids: Sequence[int], error: str) -> None:
    conn.execute("UPDATE change_request SET error = %s WHERE id = ANY(%s)", (error, list(ids)))


def mark_applied(conn: psycopg.Connection, ids: Sequence[int], erp_tx_id: int) -> None:
    """The requests were written into the system of record in transaction `erp_tx_id`."""
    conn.execute("UPDATE change_request SET status = 'applied', applied_at = clock_timestamp(), "
                 "erp_tx_id = %s, error = NULL WHERE id = ANY(%s)", (erp_tx_id, list(ids)))
