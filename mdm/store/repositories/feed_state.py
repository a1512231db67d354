"""SQL on feed_state (migration 0018): a feed's durable cursor, last successful read and last
error per (source, table). Each function runs in the caller's transaction (a poll saves its
cursor in the transaction that appends the page to the inbox); `read_all` serves `mdm status`
and /metrics over a SQLAlchemy connection."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, text


@dataclass(frozen=True)
class FeedState:
    source: str
    table: str
    cursor: dict[str, Any]
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime

    @property
    def cursor_time(self) -> str | None:
        """The modified time of the last record stored (a poll's cursor), ISO; None if none."""
        return self.cursor.get("time")

    def lag_s(self, now: datetime) -> float | None:
        """Seconds since the feed last read this table to its end (what the hub may miss is
        at most that old); None before the first complete read."""
        return None if self.last_ok_at is None else max((now - self.last_ok_at).total_seconds(), 0.0)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {"source": self.source, "table": self.table, "last_ok_at": self.last_ok_at,
                "cursor_time": self.cursor_time, "lag_s": self.lag_s(now),
                "last_error": self.last_error, "last_error_at": self.last_error_at}


def load_cursor(conn: psycopg.Connection, source: str, table: str) -> dict[str, Any]:
    """The cursor saved for (source, table); {} before the first save."""
    row = conn.execute("SELECT cursor FROM feed_state WHERE source = %s AND table_name = %s",
                       (source, table)).fetchone()
    return dict(row[0]) if row and row[0] else {}


def save_cursor(conn: psycopg.Connection, source: str, table: str,
                cursor: dict[str, Any]) -> None:
    conn.execute(
        """
        INSERT INTO feed_state (source, table_name, cursor) VALUES (%s, %s, %s)
        ON CONFLICT (source, table_name) DO UPDATE SET cursor = EXCLUDED.cursor,
            updated_at = clock_timestamp()
        """, (source, table, Jsonb(cursor)))


def mark_ok(conn: psycopg.Connection, source: str, table: str) -> None:
    """(source, table) was read to its end: the last error is cleared."""
    conn.execute(
        """
        INSERT INTO feed_state (source, table_name, last_ok_at) VALUES (%s, %s, clock_timestamp())
        ON CONFLICT (source, table_name) DO UPDATE SET last_ok_at = clock_timestamp(),
            last_error = NULL, last_error_at = NULL, updated_at = clock_timestamp()
        """, (source, table))


def mark_error(conn: psycopg.Connection, source: str, table: str, error: str) -> None:
    conn.execute(
        """
        INSERT INTO feed_state (source, table_name, last_error, last_error_at)
        VALUES (%s, %s, %s, clock_timestamp())
        ON CONFLICT (source, table_name) DO UPDATE SET last_error = EXCLUDED.last_error,
            last_error_at = clock_timestamp(), updated_at = clock_timestamp()
        """, (source, table, error[:2000]))


def held_keys(conn: psycopg.Connection, source: str, table: str) -> set[str]:
    """The row keys of `table` the hub's mirror holds alive for `source` (a key diff's base)."""
    rows = conn.execute("SELECT row_key FROM source_row WHERE source = %s AND table_name = %s "
                        "AND NOT is_deleted", (source, table))
    return {r[0] for r in rows}


def read_all(conn: Connection) -> list[FeedState]:
    """Every feed's state, by source and table."""
    rows = conn.execute(text(
        "SELECT source, table_name, cursor, last_ok_at, last_error, last_error_at, updated_at "
        "FROM feed_state ORDER BY source, table_name"))
    return [FeedState(r[0], r[1], dict(r[2] or {}), r[3], r[4], r[5], r[6]) for r in rows]
