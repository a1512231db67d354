"""Sealing the audit log: entries (written by the database's trigger or by `audit.append`, in
the caller's transaction) are chained by an HMAC-SHA256 computed here, in Python, with a key
the database never holds; after each seal the new head goes to a file outside the database.

Every hub role runs a sealer thread woken by the `mdm_audit` notification each append sends at
commit. Sealers take one advisory lock, so there is one chain and the head file only moves
forward; a sealer refuses to seal over a chain that lost entries the head file recorded.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from mdm.errors import ConfigError, MdmError, TerminalError
from mdm.runtime.settings import Settings
from mdm.steward.audit_key import Head, KeyRing, load_ring, read_head, write_head
from mdm.store.repositories import audit as repo

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
SEPARATOR = "\x1f"
MAC_VERSION = "mdm-audit-v1"
POLL_S = 5.0  # a sealer also looks without a notification (one lost in a reconnect)


class AuditChainBroken(TerminalError):
    """The log no longer holds what was sealed: a sealer will not seal over it (`seq`: the
    first entry at fault)."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        self.seq = seq
        super().__init__(message)


def entry_mac(ring: KeyRing, kid: str, fields: Sequence[Any], prev_mac: str) -> str:
    """HMAC-SHA256 over the entry's fields (as the audit repository's FIELDS_SQL renders them)
    and the previous mac."""
    return ring.mac(kid, SEPARATOR.join([MAC_VERSION, *(str(f) for f in fields), prev_mac]))


def seal(conn: psycopg.Connection, ring: KeyRing, head_path: Path, batch: int = 2000) -> Head | None:
    """Seal every entry not sealed yet, oldest first, and record the new head in `head_path`
    after each committed batch. Owns its transactions (`conn` must be in autocommit). Returns
    the new head, or None if there was nothing to seal. Raises AuditChainBroken, sealing
    nothing, when the log lost entries or seals the recorded head names."""
    if not conn.autocommit:
        raise ValueError("seal() commits on its own: give it an autocommit connection")
    repo.lock_sealing(conn)
    try:
        head, recorded = None, read_head(head_path)
        while True:
            with conn.transaction():
                last = repo.last_seal(conn)
                _check_recorded(conn, recorded, last, head_path)
                prev_seq, prev_mac = last or (0, GENESIS)
                rows = repo.unsealed(conn, prev_seq, batch)
                if not rows:
                    return head
                seals = []
                for row in rows:
                    if row[0] != prev_seq + 1:
                        raise AuditChainBroken(f"audit entry {prev_seq + 1} is missing (the log "
                                               f"jumps to {row[0]}); nothing sealed — run "
                                               "'mdm audit verify'", prev_seq + 1)
                    prev_seq, prev_mac = row[0], entry_mac(ring, ring.current_id, row, prev_mac)
                    seals.append((prev_seq, prev_mac, ring.current_id))
                repo.insert_seals(conn, seals)
            head = recorded = Head(prev_seq, prev_mac, ring.current_id,
                                   datetime.now(UTC).isoformat(timespec="microseconds"))
            write_head(head_path, head)
            logger.info("audit sealed upto=%d entries=%d key=%s head_file=%s", prev_seq,
                        len(seals), ring.current_id, head_path)
    finally:
        repo.unlock_sealing(conn)


def _check_recorded(conn: psycopg.Connection, recorded: Head | None,
                    last: tuple[int, str] | None, head_path: Path) -> None:
    if recorded is None:
        if last is not None:
            logger.warning("audit head file missing path=%s sealed_upto=%d: starting it again "
                           "from the database", head_path, last[0])
        return
    if last is None or last[0] < recorded.seq:
        raise AuditChainBroken(
            f"the audit log's newest seal is entry {last[0] if last else 0} but {head_path} "
            f"records entry {recorded.seq} (sealed {recorded.sealed_at}): newer entries were "
            "removed; nothing sealed — run 'mdm audit verify'", (last[0] if last else 0) + 1)
    if repo.seal_of(conn, recorded.seq) != recorded.mac:
        raise AuditChainBroken(f"audit entry {recorded.seq} is not the one recorded in {head_path}: "
                               "its seal was replaced; nothing sealed — run 'mdm audit verify'",
                               recorded.seq)


def seal_now(settings: Settings, hub_url: str) -> Head | None:
    """One seal from a command (`mdm audit seal`): the key must exist (no key is generated)."""
    ring = load_ring(settings)
    if ring is None:
        from mdm.steward.audit_key import SETUP_HINT

        raise MdmError(f"no audit key (looked in {settings.audit_key_path} and the environment): "
                       f"{SETUP_HINT}")
    with psycopg.connect(hub_url, autocommit=True) as conn:
        return seal(conn, ring, settings.audit_head_path)


def start_sealer(settings: Settings, hub_url: str, create: bool = False) -> Callable[[], None]:
    """Seal in a daemon thread of this process until the returned function is called. Loads
    the key first — with `create`, generating one if none is set (a warning says where); a
    missing or unusable key is a ConfigError now, not later."""
    ring = load_ring(settings, create=create)
    if ring is None:
        from mdm.steward.audit_key import KEY_ENV, SETUP_HINT

        raise ConfigError(KEY_ENV, [
            f"no audit key (looked in {settings.audit_key_path} and the environment): "
            f"{SETUP_HINT}. 'mdm up' generates one; roles run apart must share one key"])
    stop = threading.Event()
    head_path = settings.audit_head_path
    logger.info("audit sealer key=%s from=%s head_file=%s", ring.current_id, ring.source, head_path)

    def loop() -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                with psycopg.connect(hub_url, autocommit=True) as conn:
                    repo.listen_for_appends(conn)
                    while not stop.is_set():
                        seal(conn, ring, head_path)
                        delay = 1.0
                        for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                            pass
            except AuditChainBroken as exc:
                logger.error("audit sealing stopped: %s", exc)
                stop.wait(60)
            except (psycopg.Error, OSError) as exc:
                logger.warning("audit sealer retry_in_s=%.0f error=%s", delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)

    threading.Thread(target=loop, name="audit-sealer", daemon=True).start()
    return stop.set
