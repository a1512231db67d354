"""SQL on capture's own bookkeeping (migration 0012): the tables each source was captured
with (`capture_table`), the incremental snapshots asked for (`snapshot_request`) and each
table's snapshot progress (`snapshot_progress`). Each function runs in the caller's
transaction unless it says otherwise."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from mdm.model.snapshots import (ProgressStep, SnapshotEnded, SnapshotRequest, SnapshotRows,
                                 SnapshotStarted, TableDone, TableRunning)
from mdm.store.repositories.resync_deletes import delete_unread_rows

OPEN = ("pending", "sent", "running")


# -- the replication slot's figures (capture_state) ----------------------------------------------
def save_slot_figures(conn: psycopg.Connection, source: str, retained_bytes: int,
                      lag_bytes: int) -> None:
    """The WAL a source's slot retains and the part capture has not confirmed yet."""
    conn.execute(
        """
        INSERT INTO capture_state (source, slot_retained_bytes, slot_lag_bytes, slot_checked_at)
        VALUES (%s, %s, %s, clock_timestamp())
        ON CONFLICT (source) DO UPDATE SET slot_retained_bytes = EXCLUDED.slot_retained_bytes,
            slot_lag_bytes = EXCLUDED.slot_lag_bytes, slot_checked_at = clock_timestamp()
        """,
        (source, retained_bytes, lag_bytes),
    )


# -- the tables captured per source -------------------------------------------------------------
def known_tables(conn: psycopg.Connection, source: str) -> set[str]:
    rows = conn.execute("SELECT table_name FROM capture_table WHERE source = %s", (source,))
    return {r[0] for r in rows}


def record_tables(conn: psycopg.Connection, source: str, added: Iterable[str],
                  removed: Iterable[str] = ()) -> None:
    conn.execute("DELETE FROM capture_table WHERE source = %s AND table_name = ANY(%s)",
                 (source, list(removed)))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO capture_table (source, table_name) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING", [(source, t) for t in added])


# -- requests -----------------------------------------------------------------------------------
_REQUEST_COLUMNS = "id, source, reason, tables, conditions, entity, keys, status, error"


def _request(row: tuple[Any, ...]) -> SnapshotRequest:
    id_, source, reason, tables, conditions, entity, keys, status, error = row
    return SnapshotRequest(id=int(id_), source=source, reason=reason, tables=tuple(tables),
                           conditions=dict(conditions or {}), entity=entity,
                           keys=None if keys is None else tuple(keys), status=status,
                           error=error)


def add_request(conn: psycopg.Connection, source: str, reason: str, tables: Sequence[str],
                conditions: dict[str, str] | None = None, entity: str | None = None,
                keys: Sequence[str] | None = None, requested_by: str | None = None) -> int:
    """Queue an incremental snapshot of `tables`; capture sends it. Returns its id."""
    row = conn.execute(
        "INSERT INTO snapshot_request (source, reason, tables, conditions, entity, keys, "
        "requested_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (source, reason, list(tables), Jsonb(conditions or {}), entity,
         None if keys is None else Jsonb(list(keys)), requested_by)).fetchone()
    assert row is not None
    return int(row[0])


def get_request(conn: psycopg.Connection, request_id: int) -> SnapshotRequest | None:
    row = conn.execute(f"SELECT {_REQUEST_COLUMNS} FROM snapshot_request WHERE id = %s",
                       (request_id,)).fetchone()
    return None if row is None else _request(row)


def next_request(conn: psycopg.Connection, source: str) -> SnapshotRequest | None:
    """The oldest pending request of `source`, unless one is sent or running: Debezium keeps
    one incremental snapshot context (one correlation id), so requests go one at a time."""
    row = conn.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM snapshot_request WHERE source = %(s)s "
        "AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM snapshot_request "
        "WHERE source = %(s)s AND status IN ('sent', 'running')) ORDER BY id LIMIT 1",
        {"s": source}).fetchone()
    return None if row is None else _request(row)


def mark_request(conn: psycopg.Connection, request_id: int, status: str,
                 error: str | None = None) -> None:
    """Move a request on: sent (signal handed to the engine), running, pending again (to be
    sent again), done or failed; `error` replaces the one it had. A finished request is never
    reopened by a late notification."""
    conn.execute(
        "UPDATE snapshot_request SET status = %(st)s, error = COALESCE(%(e)s, error), "
        "sent_at = CASE WHEN %(st)s = 'sent' THEN clock_timestamp() ELSE sent_at END, "
        "finished_at = CASE WHEN %(st)s IN ('done', 'failed') THEN clock_timestamp() "
        "ELSE finished_at END WHERE id = %(id)s AND status IN ('pending', 'sent', 'running')",
        {"st": status, "e": error, "id": request_id})


def reopen_requests(conn: psycopg.Connection, source: str, resumed: int | None) -> int:
    """At an engine (re)start: the request Debezium resumes from its offsets (`resumed`) is
    running; any other sent or running one died with the previous engine and is pending
    again. Returns how many were reopened."""
    if resumed is not None:
        conn.execute("UPDATE snapshot_request SET status = 'running' WHERE id = %s "
                     "AND source = %s AND status IN ('sent', 'running')", (resumed, source))
    cur = conn.execute(
        "UPDATE snapshot_request SET status = 'pending', sent_at = NULL WHERE source = %s "
        "AND status IN ('sent', 'running') AND id IS DISTINCT FROM %s", (source, resumed))
    return cur.rowcount


def requeue_unstarted(conn: psycopg.Connection, source: str, after_s: float) -> list[int]:
    """Requests handed to the engine more than `after_s` ago that it never started: pending
    again, the reason added to their error (Debezium restarting its task inside the engine
    loses what its in-process channel held; a snapshot it skipped may tell nothing). Returns
    their ids.

    An initial snapshot holds signals up until it ends, so the wait counts from its end: a
    request waits while an initial snapshot's progress moved within `after_s`, or ended
    within it. Progress rows left open that have not moved for longer (an engine that died
    mid-snapshot) hold nothing up."""
    rows = conn.execute(
        "UPDATE snapshot_request SET status = 'pending', sent_at = NULL, error = concat_ws("
        "'; ', error, %(why)s::text) WHERE source = %(s)s AND status = 'sent' "
        "AND sent_at < clock_timestamp() - make_interval(secs => %(t)s) "
        "AND NOT EXISTS (SELECT 1 FROM snapshot_progress WHERE source = %(s)s AND kind = "
        "'initial' AND ((state IN ('pending', 'running') AND updated_at > clock_timestamp() - "
        "make_interval(secs => %(t)s)) OR finished_at > clock_timestamp() - "
        "make_interval(secs => %(t)s))) RETURNING id",
        {"s": source, "t": after_s,
         "why": f"not started by the engine within {after_s:.0f}s"}).fetchall()
    return [int(r[0]) for r in rows]


def widen_offsets(conn: psycopg.Connection, offsets_table: str) -> bool:
    """Debezium's offset table of a source, if an earlier version created it with
    varchar(1255) columns: text from now on (no rewrite: the same storage). True if widened."""
    narrow = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND column_name IN ('offset_key', 'offset_val') "
        "AND data_type = 'character varying' LIMIT 1", (offsets_table,)).fetchone()
    if narrow is None:
        return False
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN offset_key TYPE text, "
                         "ALTER COLUMN offset_val TYPE text").format(
        sql.Identifier(offsets_table)))
    return True


def resumed_correlation_id(conn: psycopg.Connection, offsets_table: str) -> str | None:
    """The incremental snapshot Debezium resumes at its next start: the correlation id in the
    source's newest stored offset (Debezium's JDBC offset store), or None (none, or no offsets
    yet)."""
    try:
        with conn.transaction():
            row = conn.execute(sql.SQL("SELECT offset_val FROM {} ORDER BY record_insert_ts DESC, "
                                       "record_insert_seq DESC LIMIT 1").format(
                sql.Identifier(offsets_table))).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    if row is None or not row[0]:
        return None
    try:
        offset = orjson.loads(row[0])
    except orjson.JSONDecodeError:
        return None
    value = offset.get("incremental_snapshot_correlation_id") if isinstance(offset, dict) else None
    return value if isinstance(value, str) and value else None


# -- progress -----------------------------------------------------------------------------------
def apply_progress(conn: psycopg.Connection, source: str, steps: Sequence[ProgressStep]) -> None:
    """Record capture's snapshot progress, step by step in the order it saw them."""
    for step in steps:
        if isinstance(step, SnapshotRows):
            _add_rows(conn, source, step)
        elif isinstance(step, SnapshotStarted):
            _start(conn, source, step)
        elif isinstance(step, TableRunning):
            conn.execute("UPDATE snapshot_progress SET state = 'running', updated_at = "
                         "clock_timestamp() WHERE source = %s AND table_name = %s AND kind = %s "
                         "AND state = 'pending'", (source, step.table, step.kind))
        elif isinstance(step, TableDone):
            _done(conn, source, step)
        else:
            _end(conn, source, step)


def _add_rows(conn: psycopg.Connection, source: str, step: SnapshotRows) -> None:
    # A table already done takes no more rows: Debezium holds a table's last snapshot row back
    # (to mark it `last`) until after it has reported the table's scan complete with its count.
    conn.execute(
        "INSERT INTO snapshot_progress (source, table_name, kind, state, rows, started_at) "
        "VALUES (%(s)s, %(t)s, %(k)s, 'running', %(n)s, clock_timestamp()) "
        "ON CONFLICT (source, table_name, kind) DO UPDATE SET rows = CASE WHEN "
        "snapshot_progress.state IN ('done', 'aborted') THEN snapshot_progress.rows "
        "ELSE snapshot_progress.rows + %(n)s END, "
        "state = CASE WHEN snapshot_progress.state = 'pending' THEN 'running' "
        "ELSE snapshot_progress.state END, updated_at = clock_timestamp()",
        {"s": source, "t": step.table, "k": step.kind, "n": step.rows})


def _start(conn: psycopg.Connection, source: str, step: SnapshotStarted) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            # started_at: the batch transaction's start, before any row read after STARTED
            # reached the inbox (resync_deletes counts those as read)
            "INSERT INTO snapshot_progress (source, table_name, kind, state, rows, request_id, "
            "started_at) VALUES (%(s)s, %(t)s, %(k)s, 'pending', 0, %(r)s, now()) "
            "ON CONFLICT (source, table_name, kind) DO UPDATE SET state = 'pending', rows = 0, "
            "request_id = %(r)s, started_at = now(), finished_at = NULL, "
            "updated_at = clock_timestamp()",
            [{"s": source, "t": t, "k": step.kind, "r": step.request_id} for t in step.tables])
    if step.request_id is not None:
        mark_request(conn, step.request_id, "running")


def _done(conn: psycopg.Connection, source: str, step: TableDone) -> None:
    # Debezium's count covers only what it read since its last start; ours (per batch) may
    # count a redelivered batch twice: the larger is the better figure of both.
    conn.execute(
        "INSERT INTO snapshot_progress (source, table_name, kind, state, rows, request_id, "
        "started_at, finished_at) VALUES (%(s)s, %(t)s, %(k)s, %(st)s, %(n)s, %(r)s, "
        "clock_timestamp(), clock_timestamp()) ON CONFLICT (source, table_name, kind) DO UPDATE "
        "SET state = %(st)s, rows = GREATEST(snapshot_progress.rows, %(n)s), "
        "finished_at = clock_timestamp(), updated_at = clock_timestamp()",
        {"s": source, "t": step.table, "k": step.kind, "n": step.rows, "r": step.request_id,
         "st": "aborted" if step.problem else "done"})
    if step.request_id is not None and step.problem:
        conn.execute("UPDATE snapshot_request SET error = concat_ws('; ', error, %s::text) "
                     "WHERE id = %s AND status IN ('pending', 'sent', 'running')",
                     (f"{step.table} skipped by Debezium ({step.problem})", step.request_id))


def _end(conn: psycopg.Connection, source: str, step: SnapshotEnded) -> None:
    """Close the snapshot's open tables. A request whose snapshot skipped a table (the
    problem is in the request's error, see `_done`) is pending again: the sender sends it
    again or, out of attempts, marks it failed. One Debezium aborted fails at once."""
    state = "aborted" if step.aborted else "done"
    conn.execute(
        "UPDATE snapshot_progress SET state = %(st)s, finished_at = clock_timestamp(), "
        "updated_at = clock_timestamp() WHERE source = %(s)s AND kind = %(k)s "
        "AND state IN ('pending', 'running') AND request_id IS NOT DISTINCT FROM %(r)s",
        {"st": state, "s": source, "k": step.kind, "r": step.request_id})
    if step.request_id is None:
        return
    if step.aborted:
        mark_request(conn, step.request_id, "failed", "aborted by Debezium (see its log)")
        return
    # This attempt's skipped tables: Debezium's STARTED reset the request's progress rows.
    skipped = conn.execute(
        "SELECT 1 FROM snapshot_progress WHERE source = %s AND kind = 'incremental' "
        "AND request_id = %s AND state = 'aborted' LIMIT 1", (source, step.request_id)).fetchone()
    if skipped is None:
        delete_unread_rows(conn, source, step.request_id)  # an entity-wide resync's rows gone
        mark_request(conn, step.request_id, "done")
    else:
        conn.execute("UPDATE snapshot_request SET status = 'pending', sent_at = NULL "
                     "WHERE id = %s AND status IN ('sent', 'running')", (step.request_id,))


def request_progress(conn: psycopg.Connection, request_id: int) -> dict[str, tuple[str, int]]:
    """table → (state, rows) of the incremental snapshot a request started."""
    rows = conn.execute("SELECT table_name, state, rows FROM snapshot_progress WHERE "
                        "kind = 'incremental' AND request_id = %s", (request_id,))
    return {r[0]: (r[1], int(r[2])) for r in rows}
