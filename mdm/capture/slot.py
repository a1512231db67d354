"""Watch the replication slot on the captured database, so it never silently piles up WAL."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psycopg

from mdm.store.repositories.capture import save_slot_figures

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotStatus:
    exists: bool
    active: bool = False
    retained_bytes: int = 0  # WAL the server keeps for this slot (current LSN − restart_lsn)
    lag_bytes: int = 0  # WAL not yet confirmed by capture (current LSN − confirmed_flush_lsn)


def read_slot(source_url: str, slot: str) -> SlotStatus:
    with psycopg.connect(source_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            """
            SELECT active,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
            FROM pg_replication_slots WHERE slot_name = %s
            """,
            (slot,),
        ).fetchone()
    if row is None:
        return SlotStatus(exists=False)
    return SlotStatus(True, bool(row[0]), int(row[1] or 0), int(row[2] or 0))


def record_slot(hub_url: str, source: str, status: SlotStatus) -> None:
    with psycopg.connect(hub_url, autocommit=True) as conn:
        save_slot_figures(conn, source, status.retained_bytes, status.lag_bytes)


def watch_slot(source: str, source_url: str, slot: str, hub_url: str, warn_bytes: int,
               stop: threading.Event, interval_s: float = 5.0) -> None:
    """Every `interval_s`, store the slot's retained WAL in the hub and warn past the threshold."""
    while not stop.wait(interval_s):
        try:
            status = read_slot(source_url, slot)
            if status.exists:
                record_slot(hub_url, source, status)
            if status.retained_bytes > warn_bytes:
                logger.warning(
                    "replication slot retains too much WAL source=%s slot=%s retained_bytes=%d "
                    "threshold=%d: capture is behind or stopped; check 'mdm status'",
                    source, slot, status.retained_bytes, warn_bytes)
        except psycopg.Error as exc:
            logger.warning("cannot read replication slot source=%s slot=%s: %s", source, slot, exc)
