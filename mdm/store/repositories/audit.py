"""SQL on the audit log: its entries (`audit_log`, appended by the database's
`mdm_audit_append`), their seals (`audit_seal`), the keyed-chain upgrade marker
(`audit_keyed`) and the comparison with the `decision` rows. Verifying and sealing (the
chain's rules and the key) are in mdm/steward/audit.py and audit_seal.py."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

SEAL_LOCK = 7423002  # beside 7423001, the appenders' lock (migration 0004)
CHANNEL = "mdm_audit"  # each append notifies it at commit

# An entry as its unkeyed sha256 covers it (the chain's own text form: see steward/audit.py).
ENTRIES_SQL = """
SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor, action,
       coalesce(subject, ''), coalesce(task_id::text, ''), coalesce(golden_id::text, ''),
       coalesce(version::text, ''), coalesce(reason, ''), coalesce(before::text, 'null'),
       coalesce(after::text, 'null'), prev_hash, hash
FROM audit_log ORDER BY seq
"""
# An entry as its seal covers it: every field (also the unkeyed hash and the decision recorded).
FIELDS_SQL = """
a.seq, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), a.actor, a.action,
coalesce(a.subject, ''), coalesce(a.task_id::text, ''), coalesce(a.golden_id::text, ''),
coalesce(a.version::text, ''), coalesce(a.reason, ''), coalesce(a.before::text, 'null'),
coalesce(a.after::text, 'null'), a.prev_hash, a.hash, coalesce(a.decision_id::text, '')
"""
UNSEALED_SQL = f"SELECT {FIELDS_SQL} FROM audit_log a WHERE a.seq > %s ORDER BY a.seq LIMIT %s"
# FIELDS_SQL's 14 columns (the first 13 as ENTRIES_SQL), then the seal: mac, key id.
CHAIN_SQL = (f"SELECT {FIELDS_SQL}, s.mac, s.key_id FROM audit_log a "
             "LEFT JOIN audit_seal s ON s.seq = a.seq ORDER BY a.seq")
DECISION_FIELDS = ("task_id", "actor", "action", "reason", "golden_id", "version", "before",
                   "after")
DECISIONS_SQL = f"""
SELECT d.id, e.seq, {", ".join(f"d.{f}" for f in DECISION_FIELDS)},
       {", ".join(f"e.{f}" for f in DECISION_FIELDS)}
FROM decision d FULL JOIN audit_log e ON e.decision_id = d.id
WHERE (d.id IS NOT NULL OR e.decision_id IS NOT NULL)
  AND (d.id IS NULL OR e.seq IS NULL
       OR ({", ".join(f"d.{f}" for f in DECISION_FIELDS)})
          IS DISTINCT FROM ({", ".join(f"e.{f}" for f in DECISION_FIELDS)}))
ORDER BY e.seq NULLS FIRST, d.id LIMIT 1
"""
LISTED = "seq, at, actor, action, subject, task_id, golden_id, version, reason"


def append(conn: psycopg.Connection, actor: str, action: str, subject: str,
           reason: str | None = None, before: Any = None, after: Any = None) -> int:
    """A new entry (not a task decision) in the caller's transaction; its seq."""
    row = conn.execute(
        "SELECT mdm_audit_append(%s, %s, %s, NULL, NULL, NULL, %s, %s, %s)",
        (actor, action, subject, reason, None if before is None else Jsonb(before),
         None if after is None else Jsonb(after))).fetchone()
    assert row is not None
    return int(row[0])


def newest_entries(conn: psycopg.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first (without before/after)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {LISTED}, hash FROM audit_log ORDER BY seq DESC LIMIT %s",
                           (limit,)).fetchall()


def entries_after(conn: psycopg.Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` entries after `after_seq`, oldest first, with every field."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {LISTED}, before, after, prev_hash, hash FROM audit_log "
                           "WHERE seq > %s ORDER BY seq LIMIT %s", (after_seq, limit)).fetchall()


@contextmanager
def chain(conn: psycopg.Connection) -> Iterator[Iterable[tuple[Any, ...]]]:
    """Every entry with its seal, oldest first (CHAIN_SQL's columns), from a server-side
    cursor: the log can be long. Other queries may run on `conn` meanwhile."""
    with conn.cursor(name="audit_verify") as cur:
        cur.execute(CHAIN_SQL)
        yield cur


def newest_sealed_seq(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT max(seq) FROM audit_seal").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def first_disagreeing_decision(conn: psycopg.Connection) -> tuple[Any, ...] | None:
    """The first decision row that differs from the entry recording it, or has none (or an
    entry whose decision is gone): DECISIONS_SQL's columns."""
    return conn.execute(DECISIONS_SQL).fetchone()


def keyed_upgrade(conn: psycopg.Connection) -> tuple[int, datetime] | None:
    """(the last entry written before the keyed chain, when the hub was upgraded), if it was."""
    row = conn.execute("SELECT legacy_upto, upgraded_at FROM audit_keyed LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), row[1])


def lock_sealing(conn: psycopg.Connection) -> None:
    """Wait for the one sealer lock (session-level: release it with `unlock_sealing`)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (SEAL_LOCK,))


def unlock_sealing(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (SEAL_LOCK,))


def listen_for_appends(conn: psycopg.Connection) -> None:
    """Have `conn` (in autocommit) notified at every commit that appended entries."""
    conn.execute(f"LISTEN {CHANNEL}")


def last_seal(conn: psycopg.Connection) -> tuple[int, str] | None:
    row = conn.execute("SELECT seq, mac FROM audit_seal ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def seal_of(conn: psycopg.Connection, seq: int) -> str | None:
    row = conn.execute("SELECT mac FROM audit_seal WHERE seq = %s", (seq,)).fetchone()
    return None if row is None else str(row[0])


def unsealed(conn: psycopg.Connection, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` entries after `after_seq`, oldest first, as their seal covers them."""
    return conn.execute(UNSEALED_SQL, (after_seq, limit)).fetchall()


def insert_seals(conn: psycopg.Connection, seals: Sequence[tuple[int, str, str]]) -> None:
    """(seq, mac, key id) rows."""
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO audit_seal (seq, mac, key_id) VALUES (%s, %s, %s)", seals)
