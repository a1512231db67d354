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
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from mdm.steward.audit import append as audit

ROLES = ("steward", "auditor", "admin", "service")
TOKEN_PREFIX = "mdm_"
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


def issue_token(conn: psycopg.Connection, username: str, name: str, actor: str = "cli") -> str:
    """A new API token for the user; returned once (only its hash is stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        user = conn.execute("SELECT id, disabled FROM app_user WHERE username = %s",
                            (username,)).fetchone()
        if user is None:
            raise UserError(f"no user {username!r}")
        if user[1]:
            raise UserError(f"user {username!r} is disabled")
        conn.execute("INSERT INTO api_token (user_id, name, token_hash, prefix) VALUES (%s, %s, %s, %s)",
                     (user[0], name, hash_token(token), token[:10]))
        audit(conn, actor, "token_issued", f"user {username}", after={"token": name, "prefix": token[:10]})
    return token


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
        "(SELECT count(*) FROM api_token t WHERE t.user_id = u.id AND t.revoked_at IS NULL) "
        "FROM app_user u ORDER BY u.username").fetchall()
    return [{"username": r[0], "display_name": r[1], "role": r[2], "disabled": r[3],
             "created_at": r[4], "tokens": int(r[5])} for r in rows]


def by_token(conn: psycopg.Connection, token: str) -> Principal | None:
    """The enabled user an unrevoked token belongs to, or None."""
    row = conn.execute(
        "UPDATE api_token t SET last_used_at = clock_timestamp() FROM app_user u "
        "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.id = t.user_id AND NOT u.disabled "
        "RETURNING u.id, u.username, u.role, u.display_name", (hash_token(token),)).fetchone()
    return None if row is None else Principal(int(row[0]), row[1], row[2], row[3])


def by_password(conn: psycopg.Connection, username: str, password: str) -> Principal | None:
    row = conn.execute("SELECT id, username, role, display_name, password_hash FROM app_user "
                       "WHERE username = %s AND NOT disabled", (username,)).fetchone()
    if row is None or row[4] is None:
        _hasher.hash(password)  # the same work either way: no timing hint that the user exists
        return None
    try:
        _hasher.verify(row[4], password)
    except (VerifyMismatchError, VerificationError):
        return None
    return Principal(int(row[0]), row[1], row[2], row[3])


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
