"""The durable inbox: capture appends change events here, in one transaction per batch.

Idempotent on (source, position, table, row key): a batch redelivered after a crash is a no-op.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import psycopg

from mdm.capture.models import ChangeEvent, PoisonRecord, TransactionEnd
from mdm.store.bulk import stage_rows

logger = logging.getLogger(__name__)
INBOX_CHANNEL = "mdm_inbox"

_STAGE = """
    seq integer, source text, position text, table_name text, row_key text, op text, tx_id bigint,
    lsn bigint, commit_ts timestamptz, is_snapshot boolean, before jsonb, after jsonb,
    raw text, status text, error text
"""
_COLUMNS = ("source, position, table_name, row_key, op, tx_id, lsn, commit_ts, is_snapshot, "
            "before, after, raw, status, error")


def _dump(row: dict[str, object] | None) -> str | None:
    return None if row is None else orjson.dumps(row).decode()


def _rows(events: Sequence[ChangeEvent], poison: Sequence[PoisonRecord]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        (e.source, e.position, e.table, e.row_key, e.op, e.tx_id, e.lsn, e.commit_ts,
         e.is_snapshot, _dump(e.before), _dump(e.after), None, "pending", None)
        for e in events
    ]
    rows += [
        (p.source, f"poison/{p.digest}", p.destination, p.digest, "?", None, None, None, False,
         None, None, p.raw, "failed", p.reason)
        for p in poison
    ]
    return rows


def append_events(
    conn: psycopg.Connection,
    source: str,
    events: Sequence[ChangeEvent],
    poison: Sequence[PoisonRecord] = (),
    last_lsn: int | None = None,
    transaction_ends: Sequence[TransactionEnd] = (),
) -> int:
    """Append a batch to the inbox in one transaction and wake the processors.

    Returns how many rows were new (a redelivered event is skipped, not an error).
    """
    rows = _rows(events, poison)
    with conn.transaction():
        inserted = 0
        if rows:
            with conn.cursor() as cur:
                stage_rows(cur, "inbox_stage", _STAGE, f"seq, {_COLUMNS}",
                           ((seq, *row) for seq, row in enumerate(rows)))
                # INSERT … SELECT does not promise to keep the scan order: without ORDER BY,
                # ids were seen out of stream order. The inbox id must follow the stream.
                cur.execute(
                    f"INSERT INTO inbox ({_COLUMNS}) SELECT {_COLUMNS} FROM inbox_stage "
                    "ORDER BY seq ON CONFLICT ON CONSTRAINT inbox_event_uq DO NOTHING"
                )
                inserted = cur.rowcount
        _record_progress(conn, source, events, last_lsn)
        if transaction_ends:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO source_tx (source, tx_id, event_count) VALUES (%s, %s, %s) "
                    "ON CONFLICT (source, tx_id) DO UPDATE SET event_count = EXCLUDED.event_count, "
                    "ended_at = clock_timestamp()",
                    [(t.source, t.tx_id, t.event_count) for t in transaction_ends])
        if inserted or transaction_ends:
            conn.execute(f"NOTIFY {INBOX_CHANNEL}")
    for p in poison:
        logger.warning("kept unparseable record source=%s destination=%s reason=%s",
                       p.source, p.destination, p.reason)
    return inserted


def _record_progress(conn: psycopg.Connection, source: str, events: Sequence[ChangeEvent],
                     last_lsn: int | None) -> None:
    latest = max((e.commit_ts for e in events if e.commit_ts and not e.is_snapshot), default=None)
    latency_ms = None
    if latest is not None:
        latency_ms = int((datetime.now(UTC) - latest).total_seconds() * 1000)
    # Snapshot reads carry the snapshot's LSN, not a stream position: they do not count.
    lsns = [e.lsn for e in events if e.lsn is not None and not e.is_snapshot]
    lsns += [last_lsn] if last_lsn else []
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
        {"s": source, "c": latest, "l": max(lsns) if lsns else None, "n": len(events),
         "ms": latency_ms},
    )
