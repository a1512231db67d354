"""The audit log: every decision (a steward's, an admin's, the system's) as an entry of an
append-only ledger, each entry carrying the hash of the one before, and sealed by the hub with
an HMAC chain whose key the database does not hold (audit_seal.py).

Entries are written by the database itself (a trigger on `decision` calls
`mdm_audit_append`, migrations 0004 and 0011), so no code path can skip them; UPDATE, DELETE
and TRUNCATE on `audit_log` are refused by triggers. Someone with the power to switch those off
can still change rows, and recompute the unkeyed hashes — `verify` then finds the first entry
whose seal does not match, a head file the log has fallen behind, and a decision row that
disagrees with the entry that recorded it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from mdm.steward.audit_key import SETUP_HINT, Head, KeyRing, read_head
from mdm.steward.audit_seal import GENESIS, SEPARATOR, entry_mac
from mdm.store.repositories import audit as repo
from mdm.store.repositories.audit import DECISION_FIELDS, ENTRIES_SQL

__all__ = ["ENTRIES_SQL", "GENESIS", "Verification", "append", "entry_hash", "verify"]


@dataclass(frozen=True)
class Verification:
    entries: int
    head: str  # the newest entry's unkeyed hash (what --expect-head compares)
    problem: str | None = None
    seq: int | None = None  # the first entry found altered or missing
    sealed: int = 0  # entries whose HMAC was checked
    pending: int = 0  # the newest entries, not sealed yet
    legacy_upto: int = 0  # entries 1..legacy_upto were written before the keyed chain
    recorded: Head | None = None  # the head found outside the database
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


def entry_hash(fields: tuple[Any, ...]) -> str:
    """sha256 over the entry's fields (as rendered by ENTRIES_SQL) and the previous hash."""
    return hashlib.sha256(SEPARATOR.join(str(f) for f in fields).encode("utf-8")).hexdigest()


class _Walk:
    """One pass over the log, oldest first: unkeyed links, then seals."""

    def __init__(self, ring: KeyRing | None, recorded: Head | None) -> None:
        self.ring, self.recorded = ring, recorded
        self.expected_seq, self.prev, self.prev_mac = 1, GENESIS, GENESIS
        self.count = self.sealed = self.last_sealed = 0
        self.first_unsealed: int | None = None
        self.recorded_mac: str | None = None

    def step(self, row: tuple[Any, ...]) -> tuple[str, int] | None:
        seq, stored_prev, stored_hash = row[0], row[11], row[12]
        if seq != self.expected_seq:
            missing = (f"entry {self.expected_seq} is missing" if seq == self.expected_seq + 1
                       else f"entries {self.expected_seq}–{seq - 1} are missing")
            return (f"{missing}: the chain jumps from entry {self.expected_seq - 1} to {seq}",
                    self.expected_seq)
        if stored_prev != self.prev:
            return (f"entry {seq} does not follow entry {seq - 1}: the entry before it was "
                    "altered or replaced", seq)
        if entry_hash(row[:12]) != stored_hash:
            return f"entry {seq} was altered: its content no longer matches its hash", seq
        problem = self._seal(row) if row[14] is not None else None
        if row[14] is None and self.first_unsealed is None:
            self.first_unsealed = seq
        self.prev, self.expected_seq, self.count = stored_hash, seq + 1, self.count + 1
        return problem

    def _seal(self, row: tuple[Any, ...]) -> tuple[str, int] | None:
        seq, mac, kid = row[0], row[14], row[15]
        if self.first_unsealed is not None:
            return (f"entry {self.first_unsealed} has no seal but entry {seq} after it has: "
                    "seals were removed", self.first_unsealed)
        if self.ring is None:
            return f"the log is sealed with the audit key, but no key was found: {SETUP_HINT}", seq
        if kid not in self.ring.keys:
            return (f"entry {seq} was sealed with key {kid}, which is not among the keys of "
                    f"{self.ring.source or 'the environment'} (current key {self.ring.current_id}): "
                    "a retired key is missing from the key file, or the seal is forged", seq)
        if entry_mac(self.ring, kid, row[:14], self.prev_mac) != mac:
            return (f"entry {seq} was altered: its HMAC does not match its content (its unkeyed "
                    "sha256 chain is consistent, so that was recomputed to hide the change)", seq)
        if self.recorded is not None and seq == self.recorded.seq:
            self.recorded_mac = mac
        self.prev_mac, self.sealed, self.last_sealed = mac, self.sealed + 1, seq
        return None


def verify(conn: psycopg.Connection, anchor: str | None = None, *, ring: KeyRing | None = None,
           head_path: Path | None = None) -> Verification:
    """Walk the chain from the first entry; name the first entry altered or removed. With
    `anchor` (an unkeyed head recorded earlier), the chain must still pass through that hash.
    With `ring`, every seal's HMAC is checked; with `head_path`, the log must still hold the
    head recorded there (newest entries deleted, or the chain re-sealed, show); and every
    decision row must match the entry that recorded it."""
    recorded = read_head(head_path) if head_path is not None else None
    walk, anchored = _Walk(ring, recorded), anchor is None
    with repo.chain(conn) as rows:
        for row in rows:
            found = walk.step(row)
            if found is not None:
                return _result(conn, walk, recorded, *found)
            anchored = anchored or row[12] == anchor
    if not anchored:
        return _result(conn, walk, recorded, f"no entry has the recorded hash {anchor}: the log "
                       "was rewritten since it was recorded (or it is another hub's)")
    problem = (_head_problem(walk, recorded, head_path) or _seals_beyond(conn, walk)
               or _decision_problem(conn))
    return _result(conn, walk, recorded, *(problem or (None, None)))


def _head_problem(walk: _Walk, recorded: Head | None, path: Path | None) -> tuple[str, int] | None:
    if path is None:
        return None
    if recorded is None:
        if walk.sealed == 0:
            return None
        return (f"no audit head is recorded at {path}, although {walk.sealed:,} entries are "
                "sealed: the newest entries could have been removed unseen (point "
                "MDM_AUDIT_HEAD_FILE or --head-file at the hub's head file)", walk.last_sealed + 1)
    if walk.count < recorded.seq:
        return (f"the log ends at entry {walk.count} but the head recorded in {path} at "
                f"{recorded.sealed_at} is entry {recorded.seq}: "
                f"{_span(walk.count + 1, recorded.seq)} deleted", walk.count + 1)
    if walk.last_sealed < recorded.seq:
        return (f"{_span(walk.last_sealed + 1, recorded.seq)} not sealed, "
                f"but the head recorded in {path} at {recorded.sealed_at} is entry "
                f"{recorded.seq}: seals were deleted", walk.last_sealed + 1)
    if walk.recorded_mac != recorded.mac:
        return (f"entry {recorded.seq} is not the one recorded as the head in {path} at "
                f"{recorded.sealed_at}: the log was re-sealed from some entry on", recorded.seq)
    return None


def _seals_beyond(conn: psycopg.Connection, walk: _Walk) -> tuple[str, int] | None:
    newest = repo.newest_sealed_seq(conn)
    if newest > walk.count:
        return (f"the log ends at entry {walk.count} but entries up to {newest} were sealed: "
                f"{_span(walk.count + 1, newest)} deleted", walk.count + 1)
    return None


def _span(first: int, last: int) -> str:
    """'entry 5 was' / 'entries 4–5 were'."""
    return f"entry {first} was" if first == last else f"entries {first}–{last} were"


def _decision_problem(conn: psycopg.Connection) -> tuple[str, int | None] | None:
    """The first decision row that disagrees with the audit entry recording it (or has none)."""
    row = repo.first_disagreeing_decision(conn)
    if row is None:
        return None
    decision_id, seq, n = row[0], row[1], len(DECISION_FIELDS)
    if seq is None:
        return f"decision {decision_id} has no audit entry: it was written behind the log's back", None
    if decision_id is None:
        return f"entry {seq} records a decision that is no longer in the decision table", seq
    differs = [f"{f} {row[2 + n + i]!r} in the log, {row[2 + i]!r} in the decision table"
               for i, f in enumerate(DECISION_FIELDS) if row[2 + i] != row[2 + n + i]]
    return (f"decision {decision_id} disagrees with entry {seq} that recorded it: "
            f"{'; '.join(differs)}", seq)


def _result(conn: psycopg.Connection, walk: _Walk, recorded: Head | None,
            problem: str | None = None, seq: int | None = None) -> Verification:
    upgrade = repo.keyed_upgrade(conn)
    legacy = upgrade[0] if upgrade else 0
    notes = []
    if upgrade and legacy:
        notes.append(f"entries 1–{legacy} predate the keyed chain (written with the unkeyed "
                     f"sha256 before the upgrade of {upgrade[1]:%Y-%m-%d %H:%M}); their seals "
                     "prove them unchanged since they were sealed, not before")
    pending = walk.count - walk.sealed if problem is None else 0
    if pending:
        notes.append(f"the newest {pending:,} entries are not sealed yet (a running hub seals "
                     "them within seconds; 'mdm audit seal' does it now)")
    return Verification(walk.count, walk.prev, problem, seq, walk.sealed, pending, legacy,
                        recorded, tuple(notes))


def append(conn: psycopg.Connection, actor: str, action: str, subject: str,
           reason: str | None = None, before: Any = None, after: Any = None) -> int:
    """An entry for something that is not a task decision (users, tokens, configuration), in
    the caller's transaction; the hub's sealer seals it once that commits."""
    return repo.append(conn, actor, action, subject, reason, before, after)


def recent_entries(conn: psycopg.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first (the workbench's audit page)."""
    return repo.newest_entries(conn, limit)


def entries_after(conn: psycopg.Connection, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """The log from `after_seq` on, oldest first, every field (`GET /api/v1/audit`)."""
    return repo.entries_after(conn, after_seq, limit)
