"""The durable inbox: capture appends change events here, in one transaction per batch.

Idempotent on (source, position, table, row key): a batch redelivered after a crash is a no-op.
A record that cannot be stored as it is (a NUL byte, a number beyond bigint) is kept `failed`
with its reason; the batch goes on.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from mdm.capture.models import Batch, ChangeEvent, PoisonRecord, TransactionEnd
from mdm.capture.storable import (Unstorable, check_text, dump_json, dumps_lenient,
                                  storable_text)
from mdm.store.repositories import inbox

logger = logging.getLogger(__name__)

Row = inbox.Row


def _event_row(e: ChangeEvent) -> Row:
    """The inbox row of an event; Unstorable when PostgreSQL would refuse one of its values."""
    check_text(e.table, "the table name")
    check_text(e.row_key, "the row key")
    before = None if e.before is None else dump_json(e.before, "before")
    after = None if e.after is None else dump_json(e.after, "after")
    return (e.source, e.position, e.table, e.row_key, e.op, e.tx_id, e.lsn, e.commit_ts,
            e.is_snapshot, before, after, None, "pending", None)


def _poison_row(p: PoisonRecord) -> Row:
    # Keyed by the record's content: a redelivered bad record is one failed row, not two.
    return (p.source, f"poison/{p.digest}", p.destination, p.row_key or p.digest, "?", None,
            None, None, False, None, None, p.raw, "failed", p.reason)


def refuse(e: ChangeEvent, reason: str) -> PoisonRecord:
    """An event that cannot be stored as it is, as the failed record keeping it with `reason`."""
    raw = e.raw if e.raw is not None else dumps_lenient(
        {"op": e.op, "before": e.before, "after": e.after,
         "source": {"table": e.table, "txId": e.tx_id, "lsn": e.lsn}})
    row_key = storable_text(e.row_key)
    return PoisonRecord(e.source, storable_text(e.table), storable_text(raw),
                        f"{reason} ({storable_text(e.table)} row {row_key[:80]})",
                        row_key=row_key)


def _rows(events: Sequence[ChangeEvent], poison: Sequence[PoisonRecord],
          ) -> tuple[list[Row], list[ChangeEvent], list[PoisonRecord]]:
    """Inbox rows for the batch, the events stored as pending, and every record kept failed."""
    rows: list[Row] = []
    stored: list[ChangeEvent] = []
    failed = list(poison)
    for e in events:
        try:
            rows.append(_event_row(e))
        except Unstorable as exc:
            failed.append(refuse(e, f"value PostgreSQL cannot store: {exc}"))
            continue
        stored.append(e)
    rows += [_poison_row(p) for p in failed]
    return rows, stored, failed


def append_events(
    conn: psycopg.Connection,
    source: str,
    events: Sequence[ChangeEvent],
    poison: Sequence[PoisonRecord] = (),
    last_lsn: int | None = None,
    transaction_ends: Sequence[TransactionEnd] = (),
) -> int:
    """Append a batch to the inbox in one transaction and wake the processors.

    Returns how many rows were new (a redelivered event is skipped, not an error). An event
    holding a value PostgreSQL cannot store is kept `failed` with the reason, in the same
    transaction: it never fails the batch. Raises only what the database connection raises
    (psycopg.OperationalError: the caller retries the whole batch).
    """
    return append_batch(conn, source, Batch(list(events), list(poison), list(transaction_ends),
                                            last_lsn)).new


@dataclass(frozen=True)
class Appended:
    new: int  # inbox rows that were new (pending or failed)
    failed: int  # records kept failed: unparseable, or holding a value PostgreSQL refuses


def append_batch(conn: psycopg.Connection, source: str, batch: Batch) -> Appended:
    """`append_events` for a parsed batch, also telling how many records were kept failed."""
    rows, stored, failed = _rows(batch.events, batch.poison)
    with conn.transaction():
        inserted = inbox.insert_rows(conn, rows, _refused_row) if rows else 0
        _record_progress(conn, source, stored, batch.last_lsn)
        if batch.ends:
            inbox.record_transaction_ends(conn, [(t.source, t.tx_id, t.event_count)
                                                 for t in batch.ends])
        if inserted or batch.ends:
            inbox.notify(conn)
    for p in failed:
        logger.warning("kept failed record source=%s destination=%s row_key=%s reason=%s",
                       p.source, p.destination, p.row_key, p.reason)
    return Appended(inserted, len(failed))


def _refused_row(row: Row, reason: str) -> Row:
    source, position, table, row_key, op, *_, raw, _status, _error = row
    text = raw if isinstance(raw, str) else dumps_lenient(
        {"position": position, "table": table, "row_key": row_key, "op": op})
    digest = hashlib.sha256(f"{position}|{table}|{row_key}".encode()).hexdigest()[:32]
    first_line = reason.splitlines()[0] if reason else "refused"
    return (source, f"poison/{digest}", str(table)[:200], str(row_key)[:200], "?", None, None,
            None, False, None, None, storable_text(text), "failed",
            f"value PostgreSQL cannot store: {storable_text(first_line)}")


def _record_progress(conn: psycopg.Connection, source: str, events: Sequence[ChangeEvent],
                     last_lsn: int | None) -> None:
    latest = max((e.commit_ts for e in events if e.commit_ts and not e.is_snapshot), default=None)
    latency_ms = None
    if latest is not None:
        # capture_state.last_latency_ms is an integer: a feed's record modified weeks ago
        # (a poll's first read) would overflow it and fail the whole append
        latency_ms = min(int((datetime.now(UTC) - latest).total_seconds() * 1000), 2**31 - 1)
    # Snapshot reads carry the snapshot's LSN, not a stream position: they do not count.
    lsns = [e.lsn for e in events if e.lsn is not None and not e.is_snapshot]
    lsns += [last_lsn] if last_lsn else []
    inbox.record_progress(conn, source, len(events), latest, max(lsns) if lsns else None,
                          latency_ms)
