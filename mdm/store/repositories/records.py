"""Read queries over golden records for the surfaces (API, CLI, workbench): one record with its
xrefs, a page of an entity's records. SQLAlchemy connections; nothing is written."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def _record(row: Any, xrefs: dict[str, str]) -> dict[str, Any]:
    return {"golden_id": row.id, "entity": row.entity, "business_key": row.business_key,
            "status": row.status, "version": row.version, "attributes": row.attributes,
            "updated_at": row.updated_at, "xrefs": xrefs}


def find_record(conn: Connection, entity: str, key: str) -> dict[str, Any] | None:
    """The record of `entity` whose business key is `key` (an active one before a retired one
    that held the key once) — only by business key: a key that happens to be another record's
    golden id never answers with that record (`find_record_by_id` looks up a golden id)."""
    row = conn.execute(text(
        "SELECT * FROM golden_record WHERE entity = :e AND business_key = :k "
        "ORDER BY status = 'active' DESC, id LIMIT 1"), {"e": entity, "k": key}).first()
    return None if row is None else _with_xrefs(conn, row)


def find_record_by_id(conn: Connection, entity: str, golden_id: int) -> dict[str, Any] | None:
    """The record of `entity` with this golden id (a draft has no business key: this is how it
    is addressed)."""
    row = conn.execute(text("SELECT * FROM golden_record WHERE entity = :e AND id = :i"),
                       {"e": entity, "i": golden_id}).first()
    return None if row is None else _with_xrefs(conn, row)


def _with_xrefs(conn: Connection, row: Any) -> dict[str, Any]:
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


def referenced_records(conn: Connection, named: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Reference attribute → the record it names ((entity, source key) in `named`): its golden
    id and business key, looked up now (a rename of the referenced record shows at once);
    None for a record the hub does not know (yet)."""
    found: dict[str, Any] = {}
    for attribute, (entity, key) in named.items():
        row = conn.execute(text("SELECT id, business_key, status FROM golden_record WHERE "
                                "entity = :e AND source_key = :k"), {"e": entity, "k": key}).first()
        found[attribute] = None if row is None else {
            "entity": entity, "source_key": key, "golden_id": row.id,
            "business_key": row.business_key, "status": row.status}
    return found
