"""SQL on users, API tokens and browser sessions (`app_user`, `api_token`, `web_session`).

Each function runs in the caller's transaction; the use cases in mdm/steward/users.py decide
what is allowed and write the audit entries. Tokens and session cookies arrive here hashed.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

# (id, username, role, display_name): who a credential belongs to
Account = tuple[int, str, str, str | None]


def user_state(conn: psycopg.Connection, username: str) -> tuple[int, bool] | None:
    """The user's id and whether they are disabled; None when there is no such user."""
    row = conn.execute("SELECT id, disabled FROM app_user WHERE username = %s",
                       (username,)).fetchone()
    return None if row is None else (int(row[0]), bool(row[1]))


def insert_user(conn: psycopg.Connection, username: str, display_name: str | None, role: str,
                password_hash: str | None) -> int:
    row = conn.execute(
        "INSERT INTO app_user (username, display_name, role, password_hash) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (username, display_name, role, password_hash)).fetchone()
    assert row is not None
    return int(row[0])


def set_password(conn: psycopg.Connection, username: str, password_hash: str) -> bool:
    """Give the user this password hash and enable them again; False when there is no such user."""
    return conn.execute("UPDATE app_user SET password_hash = %s, disabled = false "
                        "WHERE username = %s", (password_hash, username)).rowcount == 1


def disable_user(conn: psycopg.Connection, username: str) -> int | None:
    """Disable the user and end their sessions; their id, or None when there is no enabled
    user of that name."""
    row = conn.execute("UPDATE app_user SET disabled = true, disabled_at = clock_timestamp() "
                       "WHERE username = %s AND NOT disabled RETURNING id", (username,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM web_session WHERE user_id = %s", (row[0],))
    return int(row[0])


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every user with role, state, the number of live tokens and when sign-ins locked them."""
    rows = conn.execute(
        "SELECT u.username, u.display_name, u.role, u.disabled, u.created_at, "
        "(SELECT count(*) FROM api_token t WHERE t.user_id = u.id AND t.revoked_at IS NULL "
        " AND t.expires_at > clock_timestamp()), f.locked_at "
        "FROM app_user u LEFT JOIN signin_failure f ON f.kind = 'user' AND f.subject = u.username "
        "ORDER BY u.username").fetchall()
    return [{"username": r[0], "display_name": r[1], "role": r[2], "disabled": r[3],
             "created_at": r[4], "tokens": int(r[5]), "locked_at": r[6]} for r in rows]


def insert_token(conn: psycopg.Connection, user_id: int, name: str, token_hash: str, prefix: str,
                 days: int) -> tuple[int, datetime]:
    """A token valid for `days` days from now; its id and expiry."""
    row = conn.execute(
        "INSERT INTO api_token (user_id, name, token_hash, prefix, expires_at) VALUES "
        "(%s, %s, %s, %s, clock_timestamp() + make_interval(days => %s)) RETURNING id, expires_at",
        (user_id, name, token_hash, prefix, days)).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def tokens_of(conn: psycopg.Connection, username: str) -> list[dict[str, Any]]:
    """The user's tokens, newest first, with their state (live, expired, revoked)."""
    rows = conn.execute(
        "SELECT t.id, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, "
        "CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked' WHEN t.expires_at <= clock_timestamp() "
        "THEN 'expired' ELSE 'live' END FROM api_token t JOIN app_user u ON u.id = t.user_id "
        "WHERE u.username = %s ORDER BY t.id DESC", (username,)).fetchall()
    return [{"id": r[0], "name": r[1], "prefix": r[2], "created_at": r[3], "expires_at": r[4],
             "last_used_at": r[5], "revoked_at": r[6], "state": r[7]} for r in rows]


def revoke_token(conn: psycopg.Connection, username: str, token_id: int) -> tuple[str, str] | None:
    """Revoke the user's live token `token_id`; its (name, prefix), or None when the user has
    no such live token."""
    row = conn.execute(
        "UPDATE api_token t SET revoked_at = clock_timestamp() FROM app_user u "
        "WHERE t.id = %s AND u.id = t.user_id AND u.username = %s AND t.revoked_at IS NULL "
        "RETURNING t.name, t.prefix", (token_id, username)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def has_token(conn: psycopg.Connection, username: str, token_id: int) -> bool:
    """Whether `token_id` is one of the user's tokens (live or not)."""
    row = conn.execute("SELECT 1 FROM api_token t JOIN app_user u ON u.id = t.user_id "
                       "WHERE t.id = %s AND u.username = %s", (token_id, username)).fetchone()
    return row is not None


def live_tokens_named(conn: psycopg.Connection, username: str, name: str) -> list[int]:
    return [int(r[0]) for r in conn.execute(
        "SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE u.username = %s "
        "AND t.name = %s AND t.revoked_at IS NULL", (username, name)).fetchall()]


def account_by_token(conn: psycopg.Connection, token_hash: str,
                     note_every_s: int) -> tuple[Account, int, bool] | None:
    """The enabled user a live (unrevoked, unexpired) token belongs to, the token's id, and
    whether its last use is older than `note_every_s` seconds (or never noted)."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.display_name, t.id, t.last_used_at IS NULL OR "
        "t.last_used_at < clock_timestamp() - make_interval(secs => %s) FROM api_token t "
        "JOIN app_user u ON u.id = t.user_id WHERE t.token_hash = %s AND t.revoked_at IS NULL "
        "AND t.expires_at > clock_timestamp() AND NOT u.disabled",
        (note_every_s, token_hash)).fetchone()
    if row is None:
        return None
    return (int(row[0]), row[1], row[2], row[3]), int(row[4]), bool(row[5])


def note_token_use(conn: psycopg.Connection, token_id: int, every_s: int) -> None:
    """Set last_used_at now unless another request did within `every_s` seconds."""
    conn.execute("UPDATE api_token SET last_used_at = clock_timestamp() WHERE id = %s AND "
                 "(last_used_at IS NULL OR last_used_at < clock_timestamp() - "
                 "make_interval(secs => %s))", (token_id, every_s))


def password_of(conn: psycopg.Connection, username: str) -> tuple[Account, str | None] | None:
    """The enabled user and their password hash (None: token-only); None if no such user."""
    row = conn.execute("SELECT id, username, role, display_name, password_hash FROM app_user "
                       "WHERE username = %s AND NOT disabled", (username,)).fetchone()
    return None if row is None else ((int(row[0]), row[1], row[2], row[3]), row[4])


def insert_session(conn: psycopg.Connection, cookie_hash: str, user_id: int, csrf: str,
                   hours: int) -> None:
    conn.execute("INSERT INTO web_session (id_hash, user_id, csrf_token, expires_at) VALUES "
                 "(%s, %s, %s, clock_timestamp() + make_interval(hours => %s))",
                 (cookie_hash, user_id, csrf, hours))


def session_of(conn: psycopg.Connection, cookie_hash: str) -> tuple[Account, str] | None:
    """The live session's enabled user and its CSRF token."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.display_name, s.csrf_token FROM web_session s "
        "JOIN app_user u ON u.id = s.user_id WHERE s.id_hash = %s "
        "AND s.expires_at > clock_timestamp() AND NOT u.disabled", (cookie_hash,)).fetchone()
    return None if row is None else ((int(row[0]), row[1], row[2], row[3]), row[4])


def delete_session(conn: psycopg.Connection, cookie_hash: str) -> None:
    conn.execute("DELETE FROM web_session WHERE id_hash = %s", (cookie_hash,))
