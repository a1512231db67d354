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

from mdm.steward.audit import append as audit

ROLES = ("steward", "auditor", "admin", "service")
TOKEN_PREFIX = "mdm_"
TOKEN_DAYS = 90  # a new API token's lifetime unless said otherwise (MDM_API_TOKEN_DAYS)
MAX_TOKEN_DAYS = 3660
LAST_USE_EVERY_S = 60  # last_used_at is written at most once a minute per token
_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes


class UserError(Exception):
    """A user operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, by password (a browser session) or by API token."""

    user_id: int
    username: str
    role: str
    display_name: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(conn: psycopg.Connection, username: str, role: str, password: str | None,
             display_name: str | None = None, actor: str = "cli") -> int:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not username or not username.strip() or any(c.isspace() for c in username):
        raise UserError("a username is one word, e.g. li.na")
    if password is not None and len(password) < 10:
        raise UserError("a password needs at least 10 characters")
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM app_user WHERE username = %s", (username,)).fetchone()
        if exists:
            raise UserError(f"user {username!r} already exists")
        row = conn.execute(
            "INSERT INTO app_user (username, display_name, role, password_hash) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (username, display_name, role, None if password is None else _hasher.hash(password))
        ).fetchone()
        audit(conn, actor, "user_added", f"user {username}", after={"role": role})
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is stored
    id: int
    prefix: str
    expires_at: datetime


def issue(conn: psycopg.Connection, username: str, name: str, actor: str = "cli",
          days: int = TOKEN_DAYS) -> IssuedToken:
    """A new API token for the user, valid for `days` days."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise UserError(f"a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        user = conn.execute("SELECT id, disabled FROM app_user WHERE username = %s",
                            (username,)).fetchone()
        if user is None:
            raise UserError(f"no user {username!r}")
        if user[1]:
            raise UserError(f"user {username!r} is disabled")
        row = conn.execute(
            "INSERT INTO api_token (user_id, name, token_hash, prefix, expires_at) VALUES "
            "(%s, %s, %s, %s, clock_timestamp() + make_interval(days => %s)) RETURNING id, expires_at",
            (user[0], name, hash_token(token), token[:10], days)).fetchone()
        assert row is not None
        audit(conn, actor, "token_issued", f"user {username}",
              after={"token": name, "prefix": token[:10], "id": row[0], "days": days})
    return IssuedToken(token, int(row[0]), token[:10], row[1])


def issue_token(conn: psycopg.Connection, username: str, name: str, actor: str = "cli",
                days: int = TOKEN_DAYS) -> str:
    """A new API token for the user; returned once (only its hash is stored)."""
    return issue(conn, username, name, actor, days).token


def list_tokens(conn: psycopg.Connection, username: str) -> list[dict[str, Any]]:
    """The user's tokens, newest first, with their state (live, expired, revoked) and last use
    (to the minute)."""
    if conn.execute("SELECT 1 FROM app_user WHERE username = %s", (username,)).fetchone() is None:
        raise UserError(f"no user {username!r}")
    rows = conn.execute(
        "SELECT t.id, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, "
        "CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' WHEN t.expires_at <= clock_timestamp() "
        "THEN 'expired' ELSE 'live' END FROM api_token t JOIN app_user u ON u.id = t.user_id "
        "WHERE u.username = %s ORDER BY t.id DESC", (username,)).fetchall()
    return [{"id": r[0], "name": r[1], "prefix": r[2], "created_at": r[3], "expires_at": r[4],
             "last_used_at": r[5], "revoked_at": r[6], "state": r[7]} for r in rows]


def revoke_token(conn: psycopg.Connection, username: str, token_id: int, actor: str = "cli") -> None:
    """Revoke one of the user's tokens: it stops working at once."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE api_token t SET revoked_at = clock_timestamp() FROM app_user u "
            "WHERE t.id = %s AND u.id = t.user_id AND u.username = %s AND t.revoked_at IS NULL "
            "RETURNING t.name, t.prefix", (token_id, username)).fetchone()
        if row is None:
            known = conn.execute("SELECT t.revoked_at FROM api_token t JOIN app_user u ON "
                                 "u.id = t.user_id WHERE t.id = %s AND u.username = %s",
                                 (token_id, username)).fetchone()
            raise UserError(f"token {token_id} of {username!r} is already revoked" if known
                            else f"no token {token_id} of user {username!r}")
        audit(conn, actor, "token_revoked", f"user {username}",
              before={"token": row[0], "prefix": row[1], "id": token_id})


def revoke_tokens_named(conn: psycopg.Connection, username: str, name: str,
                        actor: str = "cli") -> int:
    """Revoke every live token of the user called `name` (the demo's printed token)."""
    ids = [r[0] for r in conn.execute(
        "SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE u.username = %s "
        "AND t.name = %s AND t.revoked_at IS NULL", (username, name)).fetchall()]
    for token_id in ids:
        revoke_token(conn, username, int(token_id), actor)
    return len(ids)


def disable_user(conn: psycopg.Connection, username: str, actor: str = "cli") -> None:
    with conn.transaction():
        row = conn.execute("UPDATE app_user SET disabled = true, disabled_at = clock_timestamp() "
                           "WHERE username = %s AND NOT disabled RETURNING id", (username,)).fetchone()
        if row is None:
            known = conn.execute("SELECT 1 FROM app_user WHERE username = %s", (username,)).fetchone()
            raise UserError(f"user {username!r} is already disabled" if known else f"no user {username!r}")
        conn.execute("DELETE FROM web_session WHERE user_id = %s", (row[0],))
        audit(conn, actor, "user_disabled", f"user {username}")


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT u.username, u.display_name, u.role, u.disabled, u.created_at, "
        "(SELECT count(*) FROM api_token t WHERE t.user_id = u.id AND t.revoked_at IS NULL "
        " AND t.expires_at > clock_timestamp()), f.locked_at "
        "FROM app_user u LEFT JOIN signin_failure f ON f.kind = 'user' AND f.subject = u.username "
        "ORDER BY u.username").fetchall()
    return [{"username": r[0], "display_name": r[1], "role": r[2], "disabled": r[3],
             "created_at": r[4], "tokens": int(r[5]), "locked_at": r[6]} for r in rows]


def by_token(conn: psycopg.Connection, token: str) -> Principal | None:
    """The enabled user a live (unrevoked, unexpired) token belongs to, or None. Notes the use
    (at most once a minute, so concurrent requests with one token do not queue on its row)."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.display_name, t.id, t.last_used_at IS NULL OR "
        "t.last_used_at < clock_timestamp() - make_interval(secs => %s) FROM api_token t "
        "JOIN app_user u ON u.id = t.user_id WHERE t.token_hash = %s AND t.revoked_at IS NULL "
        "AND t.expires_at > clock_timestamp() AND NOT u.disabled",
        (LAST_USE_EVERY_S, hash_token(token))).fetchone()
    if row is None:
        return None
    if row[5]:
        conn.execute("UPDATE api_token SET last_used_at = clock_timestamp() WHERE id = %s AND "
                     "(last_used_at IS NULL OR last_used_at < clock_timestamp() - "
                     "make_interval(secs => %s))", (row[4], LAST_USE_EVERY_S))
    return Principal(int(row[0]), row[1], row[2], row[3])


def password_of(conn: psycopg.Connection, username: str) -> tuple[Principal, str] | None:
    """The enabled user `username` and their password hash (None: no such user, disabled, or
    token-only). Check it with `password_matches`, after giving the connection back."""
    if not username or len(username) > 200 or "\x00" in username:
        return None
    row = conn.execute("SELECT id, username, role, display_name, password_hash FROM app_user "
                       "WHERE username = %s AND NOT disabled", (username,)).fetchone()
    if row is None or row[4] is None:
        return None
    return Principal(int(row[0]), row[1], row[2], row[3]), row[4]


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
    conn.execute("INSERT INTO web_session (id_hash, user_id, csrf_token, expires_at) VALUES "
                 "(%s, %s, %s, clock_timestamp() + make_interval(hours => %s))",
                 (hash_token(cookie), who.user_id, csrf, SESSION_HOURS))
    return cookie, csrf


def by_session(conn: psycopg.Connection, cookie: str) -> tuple[Principal, str] | None:
    """The session's enabled user and CSRF token, if the session is live."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.display_name, s.csrf_token FROM web_session s "
        "JOIN app_user u ON u.id = s.user_id WHERE s.id_hash = %s AND s.expires_at > clock_timestamp() "
        "AND NOT u.disabled", (hash_token(cookie),)).fetchone()
    return None if row is None else (Principal(int(row[0]), row[1], row[2], row[3]), row[4])


def end_session(conn: psycopg.Connection, cookie: str) -> None:
    conn.execute("DELETE FROM web_session WHERE id_hash = %s", (hash_token(cookie),))
