"""Read queries of a reconciliation (reconciliations/*.yaml, mdm/flows/reconcile.py): the
order's golden record, the documents naming it, its lines' source rows (for documents that
point at a line's row), whether commands between them are still in flight; and the one open
`reconciliation` task per order. Each function runs in the caller's transaction."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mdm.model.tasks import RECONCILIATION

Row = dict[str, Any]
_RECORD = "id AS golden_id, entity, source_key, business_key, version, status, attributes"


def record_by_key(conn: psycopg.Connection, entity: str, business_key: str) -> Row | None:
    """The record of `entity` with this business key (active or retired)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_RECORD} FROM golden_record WHERE entity = %s AND "
                           "business_key = %s ORDER BY status = 'active' DESC, id LIMIT 1",
                           (entity, business_key)).fetchone()


def key_of_source_row(conn: psycopg.Connection, entity: str, source_key: str) -> str | None:
    """The business key of the record of `entity` made from source row `source_key`."""
    row = conn.execute("SELECT business_key FROM golden_record WHERE entity = %s AND "
                       "source_key = %s", (entity, source_key)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def documents_naming(conn: psycopg.Connection, entity: str, attribute: str,
                     values: Sequence[str]) -> list[Row]:
    """The active records of `entity` whose `attribute` holds one of `values`, oldest first."""
    if not values:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_RECORD} FROM golden_record WHERE entity = %s AND "
                           "status = 'active' AND attributes ->> %s = ANY(%s) ORDER BY id",
                           (entity, attribute, list(values))).fetchall()


def line_rows(conn: psycopg.Connection, source: str, table: str, parent_key: str,
              line_key: str) -> dict[str, str]:
    """source row key → the line's `line_key` value, of the mirrored child rows of one
    order (`parent_key`, its source key) in `table`."""
    rows = conn.execute("SELECT row_key, data -> 'attrs' ->> %s FROM source_row WHERE "
                        "source = %s AND table_name = %s AND parent_key = %s AND NOT is_deleted",
                        (line_key, source, table, parent_key)).fetchall()
    return {str(k): str(n) for k, n in rows if n is not None}


def commands_in_flight(conn: psycopg.Connection, golden_ids: Sequence[int]) -> int:
    """How many flow commands of these records are not settled: not yet acked or dead, or
    acked creates whose document has not arrived (no link names the command yet)."""
    row = conn.execute(
        "SELECT count(*) FROM delivery d WHERE d.golden_id = ANY(%s) AND d.hop IS NOT NULL "
        "AND (d.status NOT IN ('acked', 'dead') OR (d.status = 'acked' AND "
        "d.operation = 'create' AND NOT EXISTS (SELECT 1 FROM document_link l WHERE "
        "l.origin_id = d.golden_id AND l.flow || '.' || l.hop = d.hop)))",
        (list(golden_ids),)).fetchone()
    assert row is not None
    return int(row[0])


def open_tasks(conn: psycopg.Connection, entity: str, limit: int) -> list[Row]:
    """The open reconciliation tasks of `entity`'s orders, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, business_key, golden_id, version, summary, detail, "
                           "created_at, updated_at FROM task WHERE type = %s AND entity = %s "
                           "AND status = 'open' ORDER BY updated_at DESC LIMIT %s",
                           (RECONCILIATION, entity, limit)).fetchall()


def close_task(conn: psycopg.Connection, entity: str, business_key: str, system: str,
               reason: str, golden_id: int, version: int) -> int | None:
    """Close the order's open reconciliation task (its documents agree now), with a system
    decision saying why; its id, or None when none was open."""
    row = conn.execute(
        "UPDATE task SET status = 'resolved', resolution = 'reconciled', resolved_by = "
        "'system', resolved_at = clock_timestamp(), updated_at = clock_timestamp() WHERE "
        "type = %s AND entity = %s AND business_key = %s AND system = %s AND status = 'open' "
        "RETURNING id", (RECONCILIATION, entity, business_key, system)).fetchone()
    if row is None:
        return None
    conn.execute("INSERT INTO decision (task_id, actor, action, reason, golden_id, version) "
                 "VALUES (%s, 'system', 'reconciled', %s, %s, %s)",
                 (row[0], reason, golden_id, version))
    return int(row[0])
