"""SQL on failed sign-ins (`signin_failure`): one row per user name tried and per client
address (`kind` 'user' or 'address'), with the count, the wait and the lockout. The policy is
in mdm/steward/signin.py; each function runs in the caller's transaction."""
from __future__ import annotations

from datetime import datetime

import psycopg


def standing(conn: psycopg.Connection, name: str, address: str) -> list[tuple[str, bool, int]]:
    """(kind, locked, seconds still to wait) of the name and the address, where counted."""
    rows = conn.execute(
        "SELECT kind, locked_at IS NOT NULL, ceil(extract(epoch FROM blocked_until - "
        "clock_timestamp())) FROM signin_failure WHERE (kind = 'user' AND subject = %s) OR "
        "(kind = 'address' AND subject = %s)", (name, address)).fetchall()
    return [(str(kind), bool(locked), int(seconds or 0)) for kind, locked, seconds in rows]


def count_failure(conn: psycopg.Connection, kind: str, subject: str, window_s: int) -> int:
    """One more failure of `subject` (counting from 1 again when the last one is older than
    `window_s` and it is not locked); the count now."""
    row = conn.execute(
        "INSERT INTO signin_failure AS f (kind, subject, failures) VALUES (%s, %s, 1) "
        "ON CONFLICT (kind, subject) DO UPDATE SET failures = CASE WHEN f.locked_at IS NULL AND "
        "f.last_failure_at < clock_timestamp() - make_interval(secs => %s) THEN 1 "
        "ELSE f.failures + 1 END, last_failure_at = clock_timestamp() RETURNING failures",
        (kind, subject, window_s)).fetchone()
    assert row is not None
    return int(row[0])


def block(conn: psycopg.Connection, kind: str, subject: str, seconds: int) -> None:
    conn.execute("UPDATE signin_failure SET blocked_until = clock_timestamp() + "
                 "make_interval(secs => %s) WHERE kind = %s AND subject = %s",
                 (seconds, kind, subject))


def lock_user(conn: psycopg.Connection, name: str) -> None:
    conn.execute("UPDATE signin_failure SET locked_at = coalesce(locked_at, "
                 "clock_timestamp()) WHERE kind = 'user' AND subject = %s", (name,))


def forget_unlocked(conn: psycopg.Connection, kind: str, subject: str) -> None:
    """Clear the count of `subject` unless it is locked."""
    conn.execute("DELETE FROM signin_failure WHERE kind = %s AND subject = %s "
                 "AND locked_at IS NULL", (kind, subject))


def forget_user(conn: psycopg.Connection, name: str) -> tuple[bool, datetime | None]:
    """Clear the name's count and lockout: (whether it was counted, when it was locked)."""
    row = conn.execute("DELETE FROM signin_failure WHERE kind = 'user' AND subject = %s "
                       "RETURNING locked_at", (name,)).fetchone()
    return (False, None) if row is None else (True, row[0])
