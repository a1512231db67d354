"""`mdm users add|list|disable|token`: who may sign in, with which role. These talk to the hub
database directly (the first admin has to come from somewhere); every change is audited."""
from __future__ import annotations

import getpass
import sys
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from mdm.cli.hub import DatabaseOpt, _settings
from mdm.cli.main import console
from mdm.errors import MdmError
from mdm.steward.users import ROLES, UserError, add_user, disable_user, issue_token, list_users

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
        try:
            add_user(conn, username, role, password, display_name, actor=_actor())
        except UserError as exc:
            raise MdmError(str(exc)) from exc
    console.print(f"added {username} ({role})")


@users_app.command("token")
def token_cmd(username: str,
              name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
              database_url: DatabaseOpt = None) -> None:
    """Issue an API token for a user; printed once, as `export MDM_TOKEN=…`."""
    with _connect(database_url) as conn:
        try:
            token = issue_token(conn, username, name, actor=_actor())
        except UserError as exc:
            raise MdmError(str(exc)) from exc
    console.print(f"export MDM_TOKEN={token}", highlight=False, soft_wrap=True)


@users_app.command("list")
def list_cmd(database_url: DatabaseOpt = None) -> None:
    """Every user with role, state and live tokens."""
    with _connect(database_url) as conn:
        users = list_users(conn)
    table = Table(title=f"{len(users)} user(s)")
    for column in ("username", "name", "role", "state", "tokens", "since"):
        table.add_column(column)
    for u in users:
        table.add_row(u["username"], u["display_name"] or "", u["role"],
                      "disabled" if u["disabled"] else "active", str(u["tokens"]),
                      f"{u['created_at']:%Y-%m-%d}")
    console.print(table)


@users_app.command("disable")
def disable_cmd(username: str, database_url: DatabaseOpt = None) -> None:
    """Disable a user: their tokens and sessions stop working at once."""
    with _connect(database_url) as conn:
        try:
            disable_user(conn, username, actor=_actor())
        except UserError as exc:
            raise MdmError(str(exc)) from exc
    console.print(f"disabled {username}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
