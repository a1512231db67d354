"""SQL for feeds' documents with child lists (mdm/capture/document_rows.py): which child rows
the hub holds under a document — alive in the mirror, or on their way in the inbox — and a
lock per document for the transaction that appends its next version. Each function runs in
the caller's transaction."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


def lock_documents(conn: psycopg.Connection, keys: Sequence[str]) -> None:
    """Wait for other transactions appending a version of the same documents (sorted: two
    batches never wait on each other in a circle)."""
    for key in sorted(set(keys)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


def live_rows(conn: psycopg.Connection, source: str, table: str,
              parent_keys: Sequence[str]) -> list[tuple[str, str]]:
    """(parent key, row key) of the rows of `table` the mirror holds alive under `parent_keys`."""
    rows: list[tuple[str, str]] = conn.execute(
        "SELECT parent_key, row_key FROM source_row WHERE source = %s AND table_name = %s "
        "AND parent_key = ANY(%s) AND NOT is_deleted", (source, table, list(parent_keys))
    ).fetchall()
    return rows


def pending_rows(conn: psycopg.Connection, source: str, table: str,
                 prefixes: Sequence[str]) -> list[tuple[str, dict[str, Any] | None]]:
    """(row key, row) of the upserts of `table` still pending in the inbox whose key starts
    with one of `prefixes`."""
    patterns = [p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                for p in prefixes]
    rows: list[tuple[str, dict[str, Any] | None]] = conn.execute(
        "SELECT row_key, after FROM inbox WHERE status = 'pending' AND source = %s "
        "AND table_name = %s AND op <> 'd' AND row_key LIKE ANY(%s)",
        (source, table, patterns)).fetchall()
    return rows
