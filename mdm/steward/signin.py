"""Password sign-in with limits: failed attempts are counted per user name tried and per
client address. Past `free_failures` each further failure makes that name or address wait
(`first_delay_s`, then doubling: 1 s, 2 s, 4 s … up to `max_delay_s`; 429 with Retry-After); `lockout_failures` failures of
one name in a row lock it until an admin unlocks it (`mdm users unlock NAME`). Failures are
forgotten `window_s` after the last one (a lockout is not). Every failed sign-in and every
lockout is an audit entry.

The argon2 check runs with no database connection held: `sign_in` takes a `connect`
callable and uses a short-lived connection before the check and another after it.
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.errors import NotFound, RequestError, Unauthorized
from mdm.steward.audit import append as audit
from mdm.steward.users import Principal, has_user, password_matches, password_of
from mdm.store.repositories import signin as repo

logger = logging.getLogger(__name__)
SUBJECT_CHARS = 200  # a name tried is kept to this length


@dataclass(frozen=True)
class SigninPolicy:
    free_failures: int = 5
    first_delay_s: int = 1
    max_delay_s: int = 900
    lockout_failures: int = 20
    window_s: int = 3600
    concurrency: int = 4


class SigninRefused(RequestError):
    """Not checked at all: the name or the address must wait (`retry_after_s`), or the name is
    locked (`retry_after_s` None). The sign-in page answers 429 or 423."""

    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SigninFailed(Unauthorized):
    """Wrong name or password (the message does not say which)."""


Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


class SignIn:
    """Sign-in for one API process: the policy and a bound on concurrent argon2 checks (each
    takes 64 MiB and a core for a while)."""

    def __init__(self, policy: SigninPolicy) -> None:
        self.policy = policy
        self._checks = threading.BoundedSemaphore(policy.concurrency)

    def __call__(self, connect: Connect, username: str, password: str, address: str) -> Principal:
        name = _subject(username)
        with connect() as conn:
            admit(conn, name, address, self.policy)
            stored = password_of(conn, username)
        with self._checks:
            ok = password_matches(stored, password)
        with connect() as conn:
            if ok and stored is not None:
                forget(conn, "user", name)
                return stored[0]
            record_failure(conn, name, address, self.policy)
        raise SigninFailed("wrong user name or password")


def _subject(username: str) -> str:
    return username[:SUBJECT_CHARS].replace("\x00", "\ufffd")


def admit(conn: psycopg.Connection, name: str, address: str, policy: SigninPolicy) -> None:
    """Raise SigninRefused when `name` is locked or `name` or `address` must still wait."""
    wait = 0
    for kind, locked, seconds in repo.standing(conn, name, address):
        if kind == "user" and locked:
            raise SigninRefused(f"{name} is locked after {policy.lockout_failures} failed sign-ins; "
                                f"an admin can unlock it (mdm users unlock {name})", None)
        wait = max(wait, seconds)
    if wait > 0:
        raise SigninRefused(f"too many failed sign-ins: try again in {wait} s", wait)


def delay_after(failures: int, policy: SigninPolicy) -> int:
    """Seconds to wait after the `failures`-th failure in a row: 0 for the free ones, then the
    first delay (1 s), doubling (2, 4 …) up to the maximum."""
    over = failures - policy.free_failures
    return 0 if over <= 0 else min(policy.max_delay_s, policy.first_delay_s * 2 ** min(over - 1, 30))


def record_failure(conn: psycopg.Connection, name: str, address: str, policy: SigninPolicy) -> None:
    """Count the failure for the name and the address, lock the name at the lockout count, and
    write the audit entries — one transaction."""
    with conn.transaction():
        counts: dict[str, int] = {}
        for kind, subject in (("user", name), ("address", address)):
            counts[kind] = _count(conn, kind, subject, policy)
        locked = counts["user"] >= policy.lockout_failures
        if locked:
            repo.lock_user(conn, name)
        after: dict[str, Any] = {"address": address, "failures": counts["user"],
                                 "address_failures": counts["address"]}
        audit(conn, f"signin:{address}", "signin_failed", f"user {name}",
              reason="wrong user name or password", after=after)
        if locked and counts["user"] == policy.lockout_failures:
            audit(conn, f"signin:{address}", "signin_locked", f"user {name}",
                  reason=f"{counts['user']} failed sign-ins in a row", after=after)
    logger.warning("sign-in failed user=%s address=%s failures=%d address_failures=%d locked=%s",
                   name, address, counts["user"], counts["address"], locked)


def _count(conn: psycopg.Connection, kind: str, subject: str, policy: SigninPolicy) -> int:
    failures = repo.count_failure(conn, kind, subject, policy.window_s)
    wait = delay_after(failures, policy)
    if wait:
        repo.block(conn, kind, subject, wait)
    return failures


def forget(conn: psycopg.Connection, kind: str, subject: str) -> None:
    """A successful sign-in clears the name's count (not the address's: an attacker with one
    account of their own must not reset their address by signing in)."""
    repo.forget_unlocked(conn, kind, subject)


def unlock(conn: psycopg.Connection, username: str, actor: str = "cli") -> bool:
    """Lift a lockout (and forget the name's failures); False when it was not locked. Raises
    NotFound when the name is neither a user nor counted."""
    name = _subject(username)
    with conn.transaction():
        counted, locked_at = repo.forget_user(conn, name)
        if not counted and not has_user(conn, username):
            raise NotFound("user", username)
        was_locked = locked_at is not None
        audit(conn, actor, "user_unlocked", f"user {name}",
              before={"locked_at": None if locked_at is None else locked_at.isoformat(),
                      "locked": was_locked})
    return was_locked


def retry_after(seconds: int | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}
