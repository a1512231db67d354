"""The audit log: every decision (a steward's, an admin's, the system's) as an entry of an
append-only ledger, each entry carrying the hash of the one before.

Entries are written by the database itself (a trigger on `decision` calls
`mdm_audit_append`, migration 0004), so no code path can skip them; UPDATE, DELETE and
TRUNCATE on `audit_log` are refused by triggers. Someone with the power to switch those off
can still change rows — `verify` then finds the first entry that was altered or removed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg

GENESIS = "0" * 64
SEPARATOR = "\x1f"
ENTRIES_SQL = """
SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor, action,
       coalesce(subject, ''), coalesce(task_id::text, ''), coalesce(golden_id::text, ''),
       coalesce(version::text, ''), coalesce(reason, ''), coalesce(before::text, 'null'),
       coalesce(after::text, 'null'), prev_hash, hash
FROM audit_log ORDER BY seq
"""


@dataclass(frozen=True)
class Verification:
    entries: int
    head: str  # the newest entry's hash: record it elsewhere to detect a rewritten chain
    problem: str | None = None
    seq: int | None = None  # the first entry found altered or missing

    @property
    def ok(self) -> bool:
        return self.problem is None


def entry_hash(fields: tuple[Any, ...]) -> str:
    """sha256 over the entry's fields (as rendered by ENTRIES_SQL) and the previous hash."""
    return hashlib.sha256(SEPARATOR.join(str(f) for f in fields).encode("utf-8")).hexdigest()


def verify(conn: psycopg.Connection, anchor: str | None = None) -> Verification:
    """Walk the chain from the first entry; name the first entry altered or removed. With
    `anchor` (a head recorded earlier), the chain must still pass through that hash: a chain
    rewritten from some entry on is consistent in itself, but no longer holds it."""
    expected_seq, prev, count = 1, GENESIS, 0
    anchored = anchor is None
    with conn.cursor(name="audit_verify") as cur:  # server-side: the log can be long
        cur.execute(ENTRIES_SQL)
        for row in cur:
            seq, stored_prev, stored_hash = row[0], row[11], row[12]
            if seq != expected_seq:
                missing = (f"entry {expected_seq} is missing" if seq == expected_seq + 1
                           else f"entries {expected_seq}–{seq - 1} are missing")
                return Verification(count, prev, f"{missing}: the chain jumps from entry "
                                    f"{expected_seq - 1} to {seq}", expected_seq)
            if stored_prev != prev:
                return Verification(count, prev, f"entry {seq} does not follow entry {seq - 1}: "
                                    "the entry before it was altered or replaced", seq)
            if entry_hash(row[:12]) != stored_hash:
                return Verification(count, prev, f"entry {seq} was altered: its content no "
                                    "longer matches its hash", seq)
            prev, expected_seq, count = stored_hash, seq + 1, count + 1
            anchored = anchored or stored_hash == anchor
    if not anchored:
        return Verification(count, prev, f"no entry has the recorded hash {anchor}: the log "
                            "was rewritten since it was recorded (or it is another hub's)")
    return Verification(count, prev)


def append(conn: psycopg.Connection, actor: str, action: str, subject: str,
           reason: str | None = None, before: Any = None, after: Any = None) -> int:
    """An entry for something that is not a task decision (users, tokens, configuration)."""
    from psycopg.types.json import Jsonb

    row = conn.execute(
        "SELECT mdm_audit_append(%s, %s, %s, NULL, NULL, NULL, %s, %s, %s)",
        (actor, action, subject, reason, None if before is None else Jsonb(before),
         None if after is None else Jsonb(after))).fetchone()
    assert row is not None
    return int(row[0])
