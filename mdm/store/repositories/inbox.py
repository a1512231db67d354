"""SQL on the inbox (`inbox`, `source_tx`, `capture_state`): capture appends change events and
its progress; processing claims pending events in order and records what became of each.
Each function runs in the caller's transaction unless it says otherwise."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg

from mdm.model.inbox import INBOX_CHANNEL, InboxRow
from mdm.store.bulk import stage_rows

logger = logging.getLogger(__name__)
# An inbox row as capture stores it (the columns of COLUMNS, in order).
Row = tuple[object, ...]

_STAGE = """
    seq integer, source text, position text, table_name text, row_key text, op text, tx_id bigint,
    lsn bigint, commit_ts timestamptz, is_snapshot boolean, before jsonb, after jsonb,
    raw text, status text, error text
"""
COLUMNS = ("source, position, table_name, row_key, op, tx_id, lsn, commit_ts, is_snapshot, "
           "before, after, raw, status, error")
# What PostgreSQL refuses per row: a value (DataError), or a key too long for the index.
REFUSED = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded)

CLAIM_SQL = """
SELECT id, source, table_name, row_key, op, position, tx_id, lsn, commit_ts, after
FROM inbox WHERE status = 'pending' AND id > %(after)s {extra}
ORDER BY id LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
COMPLETE_SQL = """
SELECT EXISTS (SELECT 1 FROM source_tx WHERE source = %(source)s AND tx_id = %(tx)s)
    OR EXISTS (SELECT 1 FROM inbox WHERE source = %(source)s AND id > %(last)s)
    OR (SELECT received_at FROM inbox WHERE id = %(last)s) < clock_timestamp() - interval '5 seconds'
"""
# A target's answer (source 'target:<name>', op 'w'), recorded with the delivery's ack.
WRITE_BACK_SQL = """
INSERT INTO inbox (source, position, table_name, row_key, op, commit_ts, after)
VALUES (%s, %s, %s, %s, 'w', clock_timestamp(), %s) ON CONFLICT DO NOTHING
"""


# -- capture ------------------------------------------------------------------------------------
def insert_rows(conn: psycopg.Connection, rows: list[Row],
                refused: Callable[[Row, str], Row]) -> int:
    """Insert the rows (a redelivered one is skipped); how many were new. If PostgreSQL refuses
    one that the caller's checks let through, insert them one by one and store `refused(row,
    reason)` in the place of each refused row."""
    try:
        with conn.transaction():  # a savepoint: the refused COPY is undone, nothing else
            return _insert_rows(conn, rows)
    except REFUSED as exc:
        logger.warning("inbox batch refused rows=%d, storing row by row: %s", len(rows),
                       str(exc).splitlines()[0])
    inserted = 0
    for row in rows:
        try:
            with conn.transaction():
                inserted += _insert_rows(conn, [row], clear=True)
        except REFUSED as exc:
            inserted += _insert_rows(conn, [refused(row, str(exc))], clear=True)
    return inserted


def _insert_rows(conn: psycopg.Connection, rows: Sequence[Row], clear: bool = False) -> int:
    with conn.cursor() as cur:
        stage_rows(cur, "inbox_stage", _STAGE, f"seq, {COLUMNS}",
                   ((seq, *row) for seq, row in enumerate(rows)))
        # INSERT … SELECT does not promise to keep the scan order: without ORDER BY,
        # ids were seen out of stream order. The inbox id must follow the stream.
        cur.execute(
            f"INSERT INTO inbox ({COLUMNS}) SELECT {COLUMNS} FROM inbox_stage "
            "ORDER BY seq ON CONFLICT ON CONSTRAINT inbox_event_uq DO NOTHING"
        )
        inserted = cur.rowcount
        if clear:  # the stage empties at commit; row by row, it must empty after each row
            cur.execute("DELETE FROM inbox_stage")
    return inserted


def record_transaction_ends(conn: psycopg.Connection,
                            ends: Sequence[tuple[str, int, int]]) -> None:
    """(source, tx_id, event_count) of transactions whose every event is captured."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO source_tx (source, tx_id, event_count) VALUES (%s, %s, %s) "
            "ON CONFLICT (source, tx_id) DO UPDATE SET event_count = EXCLUDED.event_count, "
            "ended_at = clock_timestamp()", ends)


def record_progress(conn: psycopg.Connection, source: str, events: int,
                    latest_commit: datetime | None, lsn: int | None,
                    latency_ms: int | None) -> None:
    """A source's capture progress: `events` more, its newest commit time and stream position."""
    conn.execute(
        """
        INSERT INTO capture_state (source, last_event_at, last_commit_ts, last_lsn, events_total,
                                   last_latency_ms, updated_at)
        VALUES (%(s)s, clock_timestamp(), %(c)s, %(l)s, %(n)s, %(ms)s, clock_timestamp())
        ON CONFLICT (source) DO UPDATE SET
            last_event_at = CASE WHEN %(n)s > 0 THEN clock_timestamp()
                                 ELSE capture_state.last_event_at END,
            last_commit_ts = COALESCE(%(c)s, capture_state.last_commit_ts),
            last_lsn = GREATEST(capture_state.last_lsn, %(l)s),
            events_total = capture_state.events_total + %(n)s,
            last_latency_ms = COALESCE(%(ms)s, capture_state.last_latency_ms),
            updated_at = clock_timestamp()
        """,
        {"s": source, "c": latest_commit, "l": lsn, "n": events, "ms": latency_ms},
    )


def notify(conn: psycopg.Connection) -> None:
    """Wake the processors (delivered at commit)."""
    conn.execute(f"NOTIFY {INBOX_CHANNEL}")


# -- processing ---------------------------------------------------------------------------------
def claim_pending(conn: psycopg.Connection, limit: int, after_id: int = 0) -> list[InboxRow]:
    """Lock up to `limit` pending events, in inbox order, that end on a transaction boundary.

    Capture appends in commit order and a transaction's rows are contiguous, so only the
    transaction at the end of the inbox can still be growing. It is taken once capture has
    stored its END record (or a later row exists, or it is 5 s old: END records can be lost
    across a capture restart). A batch never ends inside a transaction: a transaction cut by
    the limit waits for the next batch, or extends the batch if it is alone in it.
    """
    rows = [InboxRow(*r) for r in conn.execute(
        CLAIM_SQL.format(extra=""), {"after": after_id, "limit": limit}).fetchall()]
    if not rows or rows[-1].tx_id is None or rows[-1].op == "r":
        return rows
    last = rows[-1]
    cut = len(rows)
    while cut > 0 and rows[cut - 1].tx_id == last.tx_id and rows[cut - 1].source == last.source:
        cut -= 1
    if len(rows) == limit and cut > 0:
        return rows[:cut]  # the cut transaction's rows stay pending for the next batch
    if len(rows) == limit:  # one transaction larger than the batch: take all of it
        rows += [InboxRow(*r) for r in conn.execute(
            CLAIM_SQL.format(extra="AND source = %(source)s AND tx_id = %(tx)s"),
            {"after": last.id, "limit": 10_000_000, "source": last.source, "tx": last.tx_id},
        ).fetchall()]
        last = rows[-1]
    complete = conn.execute(COMPLETE_SQL, {"source": last.source, "tx": last.tx_id,
                                           "last": last.id}).fetchone()
    return rows if complete and complete[0] else rows[:cut]


def finish_inbox(conn: psycopg.Connection, done: Sequence[int],
                 failed: dict[int, str], skipped: dict[int, str]) -> None:
    """Mark claimed events done, or failed / skipped with their reasons."""
    with conn.cursor() as cur:
        if done:
            cur.execute(
                "UPDATE inbox SET status = 'done', processed_at = clock_timestamp() WHERE id = ANY(%s)",
                (list(done),),
            )
        for status, reasons in (("failed", failed), ("skipped", skipped)):
            if reasons:
                cur.executemany(
                    "UPDATE inbox SET status = %s, error = %s, processed_at = clock_timestamp() "
                    "WHERE id = %s",
                    [(status, reason, i) for i, reason in reasons.items()],
                )


async def has_pending(conn: psycopg.AsyncConnection) -> bool:
    """True while processing still has change events to turn into versions (commits)."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM inbox WHERE status = 'pending')")
    row = await cur.fetchone()
    await conn.commit()
    return bool(row and row[0])


# -- maintenance --------------------------------------------------------------------------------
# A transaction's END row serves the completeness check (COMPLETE_SQL) until its events are
# processed — seconds; without it the check falls back on later events or a 5 s quiet. Rows
# no version names (heartbeats, changes no entity maps) are dropped past an age; a row a
# version names (golden_version.cause_tx_id, what `mdm audit tx` starts from) stays. The
# cutoff is now()-based: stable, so source_tx_ended_ix serves it (clock_timestamp() is not).
FINISHED_TRANSACTIONS = """
SELECT s.source, s.tx_id FROM source_tx s
WHERE s.ended_at < now() - make_interval(days => %(days)s)
  AND NOT EXISTS (SELECT 1 FROM golden_version v
                  WHERE v.cause_source = s.source AND v.cause_tx_id = s.tx_id)
LIMIT %(batch)s"""


def count_finished_transactions(conn: psycopg.Connection, days: int) -> int:
    """How many transaction ends drop_finished_transactions would drop."""
    row = conn.execute(f"SELECT count(*) FROM ({FINISHED_TRANSACTIONS}) f",
                       {"days": days, "batch": None}).fetchone()
    return int(row[0]) if row else 0


def drop_finished_transactions(conn: psycopg.Connection, days: int, batch: int) -> int:
    """Drop up to `batch` transaction ends older than `days` that no version names; how many."""
    return conn.execute(
        f"DELETE FROM source_tx WHERE (source, tx_id) IN ({FINISHED_TRANSACTIONS})",
        {"days": days, "batch": batch}).rowcount
