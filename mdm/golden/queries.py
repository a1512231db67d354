"""Read queries over golden records: current state, xrefs, history."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def _record(row: Any, xrefs: dict[str, str]) -> dict[str, Any]:
    return {"golden_id": row.id, "entity": row.entity, "business_key": row.business_key,
            "status": row.status, "version": row.version, "attributes": row.attributes,
            "updated_at": row.updated_at, "xrefs": xrefs}


def find_record(conn: Connection, entity: str, key: str) -> dict[str, Any] | None:
    """By business key, or by golden id when `key` is all digits and no business key matches."""
    row = conn.execute(text(
        "SELECT * FROM golden_record WHERE entity = :e AND business_key = :k "
        "ORDER BY status = 'active' DESC, id LIMIT 1"), {"e": entity, "k": key}).first()
    if row is None and key.isascii() and key.isdigit() and int(key) < 2**63:  # '²' is a digit too
        row = conn.execute(text("SELECT * FROM golden_record WHERE entity = :e AND id = :i"),
                           {"e": entity, "i": int(key)}).first()
    if row is None:
        return None
    xrefs = {r.system: r.key for r in conn.execute(
        text("SELECT system, key FROM xref WHERE golden_id = :g ORDER BY system"), {"g": row.id})}
    return _record(row, xrefs)


def list_records(conn: Connection, entity: str, limit: int = 100, offset: int = 0,
                 status: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT * FROM golden_record WHERE entity = :e AND (CAST(:s AS text) IS NULL OR status = :s) "
        "ORDER BY business_key LIMIT :l OFFSET :o"),
        {"e": entity, "s": status, "l": limit, "o": offset})
    return [_record(r, {}) for r in rows]


def history(conn: Connection, golden_id: int, as_of: Any = None) -> list[dict[str, Any]]:
    """Versions newest first; with `as_of`, only the version valid at that instant
    (valid_from <= as_of < valid_to)."""
    rows = conn.execute(text(
        "SELECT version, status, attributes, valid_from, valid_to, recorded_at, cause_kind, "
        "cause_source, cause_table, cause_row_key, cause_op, cause_lsn, cause_tx_id, "
        "cause_commit_ts, cause_task_id, cause_actor, quality, checks "
        "FROM golden_version WHERE golden_id = :g "
        "AND (CAST(:t AS timestamptz) IS NULL OR (valid_from <= :t "
        "AND (valid_to IS NULL OR valid_to > :t))) ORDER BY version DESC"),
        {"g": golden_id, "t": as_of})
    return [dict(r._mapping) for r in rows]


def deliveries_of(conn: Connection, golden_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT id, version, target, operation, status, attempts, response_status, target_id, "
        "last_error, created_at, acked_at FROM delivery WHERE golden_id = :g "
        "ORDER BY version DESC, target"), {"g": golden_id})
    return [dict(r._mapping) for r in rows]
