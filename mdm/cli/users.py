"""`mdm users add|list|disable|unlock|token|tokens|revoke`: who may sign in, with which role,
and their API tokens. These talk to the hub database directly (the first admin has to come
from somewhere); every change is audited. What the use cases refuse (NotFound, Conflict,
InvalidRequest) is printed by the CLI's one handler as `Error: …`."""
from __future__ import annotations

import getpass
import sys
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from mdm.cli.hub import DatabaseOpt, _settings
from mdm.cli.main import console
from mdm.steward.signin import unlock
from mdm.steward.users import (
    MAX_TOKEN_DAYS,
    ROLES,
    add_user,
    disable_user,
    issue,
    list_tokens,
    list_users,
    revoke_token,
)

users_app = typer.Typer(help="Users and API tokens: steward, auditor, admin, service.",
                        no_args_is_help=True)


def _connect(database_url: str | None) -> psycopg.Connection:
    from mdm.store.database import libpq_url, upgrade_database

    url = _settings(None, database_url).require_database()
    upgrade_database(url)
    return psycopg.connect(libpq_url(url), autocommit=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@users_app.command("add")
def add_cmd(username: Annotated[str, typer.Argument(help="Sign-in name, e.g. li.na.")],
            role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
            display_name: Annotated[str | None, typer.Option(help="Name shown in the workbench.")] = None,
            password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
            no_password: Annotated[bool, typer.Option(help="Token-only (services).")] = False,
            database_url: DatabaseOpt = None) -> None:
    """Add a user. Asks for a password (or reads it from stdin); services may go without."""
    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {username}: ")
    with _connect(database_url) as conn:
        add_user(conn, username, role, password, display_name, actor=_actor())
    console.print(f"added {username} ({role})")


@users_app.command("token")
def token_cmd(username: str,
              name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
              days: Annotated[int | None, typer.Option(
                  min=1, max=MAX_TOKEN_DAYS,
                  help="Lifetime in days (default: MDM_API_TOKEN_DAYS, else 90).")] = None,
              database_url: DatabaseOpt = None) -> None:
    """Issue an API token for a user; printed once, as `export MDM_TOKEN=…`.

    Its id and expiry go to stderr; `mdm users revoke NAME ID` revokes it."""
    from mdm.runtime.settings import ApiLimits

    with _connect(database_url) as conn:
        made = issue(conn, username, name, actor=_actor(),
                     days=days or ApiLimits.from_env().token_days)
    console.print(f"export MDM_TOKEN={made.token}", highlight=False, soft_wrap=True)
    Console(stderr=True).print(f"token {made.id} ({made.prefix}…) expires {made.expires_at:%Y-%m-%d %H:%M %Z}",
                               highlight=False)


@users_app.command("tokens")
def tokens_cmd(username: str, database_url: DatabaseOpt = None) -> None:
    """A user's API tokens, newest first: id, state (live, expired, revoked), expiry, last use."""
    with _connect(database_url) as conn:
        found = list_tokens(conn, username)
    table = Table(title=f"{len(found)} token(s) of {username}")
    for column in ("id", "name", "prefix", "state", "created", "expires", "last used"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for t in found:
        table.add_row(str(t["id"]), t["name"], f"{t['prefix']}…", t["state"],
                      f"{t['created_at']:%Y-%m-%d %H:%M}",
                      f"{t['expires_at']:%Y-%m-%d}" if t["expires_at"] else "never",
                      f"{t['last_used_at']:%Y-%m-%d %H:%M}" if t["last_used_at"] else "—")
    console.print(table)


@users_app.command("revoke")
def revoke_cmd(username: str,
               token_id: Annotated[int, typer.Argument(help="The token's id (see 'mdm users tokens NAME').")],
               database_url: DatabaseOpt = None) -> None:
    """Revoke one API token of a user: it stops working at once."""
    with _connect(database_url) as conn:
        revoke_token(conn, username, token_id, actor=_actor())
    console.print(f"revoked token {token_id} of {username}")


@users_app.command("unlock")
def unlock_cmd(username: str, database_url: DatabaseOpt = None) -> None:
    """Lift the lockout after too many failed sign-ins (and forget the name's failures)."""
    with _connect(database_url) as conn:
        was_locked = unlock(conn, username, actor=_actor())
    console.print(f"unlocked {username}" if was_locked else f"{username} was not locked; failures forgotten")


@users_app.command("list")
def list_cmd(database_url: DatabaseOpt = None) -> None:
    """Every user with role, state and live tokens."""
    with _connect(database_url) as conn:
        users = list_users(conn)
    table = Table(title=f"{len(users)} user(s)")
    for column in ("username", "name", "role", "state", "live tokens", "since"):
        table.add_column(column)
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        table.add_row(u["username"], u["display_name"] or "", u["role"],
                      state + (", locked" if u["locked_at"] else ""), str(u["tokens"]),
                      f"{u['created_at']:%Y-%m-%d}")
    console.print(table)


@users_app.command("disable")
def disable_cmd(username: str, database_url: DatabaseOpt = None) -> None:
    """Disable a user: their tokens and sessions stop working at once."""
    with _connect(database_url) as conn:
        disable_user(conn, username, actor=_actor())
    console.print(f"disabled {username}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
