"""Read queries over the outbox."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from mdm.config.urls import mask_secrets


def list_deliveries(conn: Connection, status: str | None, target: str | None,
                    limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT id, golden_id, version, entity, business_key, target, operation, status, "
        "attempts, response_status, last_error, target_id, created_at, acked_at FROM delivery "
        "WHERE (CAST(:s AS text) IS NULL OR status = :s) AND (CAST(:t AS text) IS NULL OR target = :t) "
        "ORDER BY id DESC LIMIT :l"), {"s": status, "t": target, "l": limit})
    out = [dict(r._mapping) for r in rows]
    for r in out:  # readable by every role: no secret from an old error text
        if r["last_error"]:
            r["last_error"] = mask_secrets(r["last_error"])
    return out
