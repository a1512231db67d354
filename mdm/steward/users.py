"""Users, roles and API tokens.

Roles: `steward` resolves tasks; `auditor` reads (records, history, lineage, tasks, the audit
log); `admin` manages users and may retry and replay deliveries (and do what stewards do);
`service` ingests. Passwords are hashed with argon2id (memory-hard); an API token is shown once
and stored as its sha256 only. Adding and disabling users and issuing tokens are audit entries.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from mdm.errors import AlreadyExists, Conflict, InvalidParameter, InvalidRequest, NotFound
from mdm.steward.audit import append as audit
from mdm.store.repositories import users as repo

ROLES = ("steward", "auditor", "admin", "service")
TOKEN_PREFIX = "mdm_"
TOKEN_DAYS = 90  # a new API token's lifetime unless said otherwise (MDM_API_TOKEN_DAYS)
MAX_TOKEN_DAYS = 3660
LAST_USE_EVERY_S = 60  # last_used_at is written at most once a minute per token
_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, by password (a browser session) or by API token."""

    user_id: int
    username: str
    role: str
    display_name: str | None = None


def _principal(account: repo.Account) -> Principal:
    return Principal(*account)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(conn: psycopg.Connection, username: str, role: str, password: str | None,
             display_name: str | None = None, actor: str = "cli") -> int:
    """Add a user (audited). Raises InvalidRequest for a bad role, name or password and
    AlreadyExists when the name is taken."""
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; roles: {', '.join(ROLES)}", "role")
    if not username or not username.strip() or any(c.isspace() for c in username):
        raise InvalidRequest("a username is one word, e.g. li.na", "username")
    if password is not None and len(password) < 10:
        raise InvalidRequest("a password needs at least 10 characters", "password")
    with conn.transaction():
        if repo.user_state(conn, username) is not None:
            raise AlreadyExists("user", username)
        user_id = repo.insert_user(conn, username, display_name, role,
                                   None if password is None else _hasher.hash(password))
        audit(conn, actor, "user_added", f"user {username}", after={"role": role})
    return user_id


def has_user(conn: psycopg.Connection, username: str) -> bool:
    return repo.user_state(conn, username) is not None


def reset_password(conn: psycopg.Connection, username: str, password: str) -> None:
    """Set the user's password and enable them again (the demo's users, on every start)."""
    if not repo.set_password(conn, username, _hasher.hash(password)):
        raise NotFound("user", username)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is stored
    id: int
    prefix: str
    expires_at: datetime


def issue(conn: psycopg.Connection, username: str, name: str, actor: str = "cli",
          days: int = TOKEN_DAYS) -> IssuedToken:
    """A new API token for the user, valid for `days` days (audited). Raises NotFound for an
    unknown user, Conflict for a disabled one."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidParameter("days", f"a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        user = repo.user_state(conn, username)
        if user is None:
            raise NotFound("user", username)
        if user[1]:
            raise Conflict(f"user {username!r} is disabled", "user", username)
        token_id, expires_at = repo.insert_token(conn, user[0], name, hash_token(token),
                                                 token[:10], days)
        audit(conn, actor, "token_issued", f"user {username}",
              after={"token": name, "prefix": token[:10], "id": token_id, "days": days})
    return IssuedToken(token, token_id, token[:10], expires_at)


def issue_token(conn: psycopg.Connection, username: str, name: str, actor: str = "cli",
                days: int = TOKEN_DAYS) -> str:
    """A new API token for the user; returned once (only its hash is stored)."""
    return issue(conn, username, name, actor, days).token


def list_tokens(conn: psycopg.Connection, username: str) -> list[dict[str, Any]]:
    """The user's tokens, newest first, with their state (live, expired, revoked) and last use
    (to the minute). Raises NotFound for an unknown user."""
    if repo.user_state(conn, username) is None:
        raise NotFound("user", username)
    return repo.tokens_of(conn, username)


def revoke_token(conn: psycopg.Connection, username: str, token_id: int, actor: str = "cli") -> None:
    """Revoke one of the user's tokens: it stops working at once. Raises NotFound for a token
    the user does not have, Conflict for one already revoked."""
    with conn.transaction():
        revoked = repo.revoke_token(conn, username, token_id)
        if revoked is None:
            if repo.has_token(conn, username, token_id):
                raise Conflict(f"token {token_id} of {username!r} is already revoked", "token",
                               token_id)
            raise NotFound("token", token_id, f"no token {token_id} of user {username!r}")
        audit(conn, actor, "token_revoked", f"user {username}",
              before={"token": revoked[0], "prefix": revoked[1], "id": token_id})


def revoke_tokens_named(conn: psycopg.Connection, username: str, name: str,
                        actor: str = "cli") -> int:
    """Revoke every live token of the user called `name` (the demo's printed token)."""
    ids = repo.live_tokens_named(conn, username, name)
    for token_id in ids:
        revoke_token(conn, username, token_id, actor)
    return len(ids)


def disable_user(conn: psycopg.Connection, username: str, actor: str = "cli") -> None:
    """Disable the user and end their sessions (audited); their tokens stop working at once.
    Raises NotFound for an unknown user, Conflict for one already disabled."""
    with conn.transaction():
        if repo.disable_user(conn, username) is None:
            if repo.user_state(conn, username) is not None:
                raise Conflict(f"user {username!r} is already disabled", "user", username)
            raise NotFound("user", username)
        audit(conn, actor, "user_disabled", f"user {username}")


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return repo.list_users(conn)


def by_token(conn: psycopg.Connection, token: str) -> Principal | None:
    """The enabled user a live (unrevoked, unexpired) token belongs to, or None. Notes the use
    (at most once a minute, so concurrent requests with one token do not queue on its row)."""
    found = repo.account_by_token(conn, hash_token(token), LAST_USE_EVERY_S)
    if found is None:
        return None
    account, token_id, due = found
    if due:
        repo.note_token_use(conn, token_id, LAST_USE_EVERY_S)
    return _principal(account)


def password_of(conn: psycopg.Connection, username: str) -> tuple[Principal, str] | None:
    """The enabled user `username` and their password hash (None: no such user, disabled, or
    token-only). Check it with `password_matches`, after giving the connection back."""
    if not username or len(username) > 200 or "\x00" in username:
        return None
    found = repo.password_of(conn, username)
    if found is None or found[1] is None:
        return None
    return _principal(found[0]), found[1]


def password_matches(stored: tuple[Principal, str] | None, password: str) -> bool:
    """argon2 check; the same work for an unknown user (no timing hint that the user exists)."""
    if stored is None:
        _hasher.hash(password)
        return False
    try:
        return bool(_hasher.verify(stored[1], password))
    except (VerifyMismatchError, VerificationError):
        return False


def by_password(conn: psycopg.Connection, username: str, password: str) -> Principal | None:
    stored = password_of(conn, username)
    return stored[0] if stored is not None and password_matches(stored, password) else None


SESSION_HOURS = 12


def create_session(conn: psycopg.Connection, who: Principal) -> tuple[str, str]:
    """A browser session: (the cookie's value, its CSRF token). Only the cookie's hash is stored."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    repo.insert_session(conn, hash_token(cookie), who.user_id, csrf, SESSION_HOURS)
    return cookie, csrf


def by_session(conn: psycopg.Connection, cookie: str) -> tuple[Principal, str] | None:
    """The session's enabled user and CSRF token, if the session is live."""
    found = repo.session_of(conn, hash_token(cookie))
    return None if found is None else (_principal(found[0]), found[1])


def end_session(conn: psycopg.Connection, cookie: str) -> None:
    repo.delete_session(conn, hash_token(cookie))
