"""Read-only SQL the steward surfaces need beside the records and tasks repositories: one
delivery as it was sent, what a target last acknowledged of a record, the names and rows of
golden records shown on a task, and how many current records an entity has. Nothing here
writes; each function reads in the caller's transaction (psycopg connections)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

DELIVERY_FIELDS = ("id", "golden_id", "version", "entity", "business_key", "target", "operation",
                   "status", "idempotency_key", "attempts", "response_status", "target_id",
                   "last_error", "payload", "created_at", "sent_at", "acked_at")


def delivery(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any] | None:
    """One delivery with DELIVERY_FIELDS (payload and the target's answer included)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {', '.join(DELIVERY_FIELDS)} FROM delivery WHERE id = %s",
                           (delivery_id,)).fetchone()


def acked_payload(conn: psycopg.Connection, golden_id: int, target: str) -> dict[str, Any] | None:
    """The payload of the newest version `target` acknowledged of the record, if any."""
    row = conn.execute(
        "SELECT payload FROM delivery WHERE golden_id = %s AND target = %s AND status = 'acked' "
        "ORDER BY version DESC, id DESC LIMIT 1", (golden_id, target)).fetchone()
    return None if row is None else dict(row[0] or {})


def golden_row(conn: psycopg.Connection, golden_id: int) -> dict[str, Any] | None:
    """The golden_record row (current state) of `golden_id`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM golden_record WHERE id = %s", (golden_id,)).fetchone()


def names(conn: psycopg.Connection, golden_ids: Sequence[int]) -> dict[int, str]:
    """Each record's `name` attribute, else its business key."""
    if not golden_ids:
        return {}
    rows = conn.execute("SELECT id, coalesce(attributes->>'name', business_key) FROM golden_record "
                        "WHERE id = ANY(%s)", (list(golden_ids),)).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def count_active(conn: psycopg.Connection, entity: str) -> int:
    row = conn.execute("SELECT count(*) FROM golden_record WHERE entity = %s AND status = 'active'",
                       (entity,)).fetchone()
    return int(row[0]) if row else 0
