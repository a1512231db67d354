"""Read queries of a document's chain (`mdm trace`): the links between documents, each
document's versions with their causes, and the flow commands made from it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from mdm.store.repositories.lineage import CAUSE_COLUMNS

Row = dict[str, Any]


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def origin_of(conn: Connection, golden_id: int) -> Row | None:
    """The link that made this document from another (its origin), if any."""
    found = _rows(conn, "SELECT origin_id, flow, hop FROM document_link WHERE linked_id = :g "
                  "ORDER BY linked_at LIMIT 1", {"g": golden_id})
    return found[0] if found else None


def record(conn: Connection, golden_id: int) -> Row | None:
    found = _rows(conn, "SELECT id AS golden_id, entity, business_key, source_key, status, "
                  "version, created_at, attributes FROM golden_record WHERE id = :g",
                  {"g": golden_id})
    return found[0] if found else None


def versions(conn: Connection, golden_id: int, limit: int) -> list[Row]:
    """The record's first `limit` versions, oldest first, with their causes."""
    return _rows(conn, f"SELECT version, attributes, valid_from, recorded_at, quality, "
                 f"{CAUSE_COLUMNS} FROM golden_version WHERE golden_id = :g ORDER BY version "
                 "LIMIT :n", {"g": golden_id, "n": limit})


def commands_of(conn: Connection, golden_id: int) -> list[Row]:
    """The flow commands made from the record's versions, oldest first."""
    return _rows(conn, "SELECT id, hop, version, operation, target, business_key, status, "
                 "attempts, created_at, sent_at, acked_at, target_id, response_status, "
                 "last_error, payload FROM delivery WHERE golden_id = :g AND hop IS NOT NULL "
                 "ORDER BY id", {"g": golden_id})


def links_from(conn: Connection, golden_id: int) -> list[Row]:
    """The documents hops made from this one, in the order they were linked."""
    return _rows(conn, "SELECT linked_id, flow, hop, linked_version, command_id, linked_at "
                 "FROM document_link WHERE origin_id = :g ORDER BY linked_at, linked_id",
                 {"g": golden_id})
