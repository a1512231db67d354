"""`mdm resync ENTITY [KEY…]`: re-read an entity (all its tables) or some of its records from
the source while capture goes on, and the snapshot tables of `mdm status`.

An operator command on the project and the hub database: it queues a request in the hub
(`snapshot_request`), which the capture process sends to its Debezium engine as an incremental
snapshot. So it works wherever capture runs (another process or machine), needs no access to
the source database, and a request made while capture is down waits for it.
"""
from __future__ import annotations

import getpass
import time
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from mdm.capture.snapshots import resync_plan
from mdm.cli.hub import DatabaseOpt, ProjectOpt, _settings
from mdm.cli.main import console
from mdm.config.loader import load_project
from mdm.errors import MdmError
from mdm.store.repositories.capture import add_request, get_request, request_progress

FINISHED = ("done", "failed")


def resync_cmd(
    entity: Annotated[str, typer.Argument(help="Entity to re-read, e.g. supplier.")],
    keys: Annotated[list[str] | None, typer.Argument(
        help="Business keys of the records to re-read (default: every record).")] = None,
    project: ProjectOpt = None,
    database_url: DatabaseOpt = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Wait until capture has re-read the rows, and say how many.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: seconds to wait at most.")] = 3600,
) -> None:
    """Re-read ENTITY's rows from its source (the main table and every child list), or only
    the records with these business keys, while capture goes on.

    Capture reads them as a Debezium incremental snapshot, in chunks between the changes it
    streams; each row goes through processing like any change, so an unchanged record makes
    no new version and a record that differs gets one. A re-read of the whole entity also
    retires the records whose rows were deleted at the source unseen (a row it did not read
    and no change touched: a delete is appended for it); one of some keys does not.
    `mdm status` shows the request and each table's progress. A request
    the engine does not start, or whose snapshot skips a table, is sent again, up to the
    source's `snapshot_attempts`; then it fails with the reasons and the next one goes on.
    """
    settings = _settings(project, database_url)
    source, tables, conditions = resync_plan(load_project(settings.project_dir), entity,
                                             keys or ())
    with _connect(settings.require_database()) as conn:
        request_id = add_request(conn, source, "resync", tables, conditions, entity,
                                 keys or None, requested_by=f"cli:{getpass.getuser()}")
    what = f"{entity} {', '.join(keys)}" if keys else f"every {entity} record"
    console.print(f"resync #{request_id} queued: {what} ({', '.join(tables)} from {source}); "
                  "the capture process sends it ('mdm status' shows its progress)")
    if wait:
        _wait(settings.require_database(), request_id, timeout)


def _connect(url: str) -> psycopg.Connection:
    from mdm.store.database import libpq_url

    return psycopg.connect(libpq_url(url), autocommit=True)


def _wait(url: str, request_id: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with _connect(url) as conn:
        while True:
            request = get_request(conn, request_id)
            if request is not None and request.status in FINISHED:
                break
            if time.monotonic() > deadline:
                raise MdmError(f"resync #{request_id} not finished within {timeout:.0f}s (status "
                               f"{request.status if request else '?'}); is capture running? "
                               "'mdm status' shows it")
            time.sleep(0.5)
        progress = request_progress(conn, request_id)
    assert request is not None
    rows = ", ".join(f"{table} {n}" for table, (_state, n) in sorted(progress.items()))
    if request.status == "failed":
        raise MdmError(f"resync #{request_id} failed: {request.error or 'no reason recorded'} "
                       f"(rows re-read: {rows or 'none'}); 'mdm status' shows the request")
    console.print(f"resync #{request_id} done: rows re-read {rows or 'none'}")


def print_snapshots(result: Any) -> None:
    """`mdm status`: each table's latest snapshots and the snapshot requests."""
    if result.snapshots:
        table = Table(title="snapshots (per table: the latest initial and incremental)")
        for col in ("source", "table", "kind", "state", "rows", "request", "finished"):
            table.add_column(col)
        for s in result.snapshots:
            state = {"running": "[yellow]running[/yellow]",
                     "aborted": "[red]aborted[/red]"}.get(s.state, s.state)
            table.add_row(s.source, s.table, s.kind, state, str(s.rows),
                          f"#{s.request_id}" if s.request_id else "-",
                          str(s.finished_at or "-"))
        console.print(table)
    if result.snapshot_requests:
        requests = Table(title="snapshot requests (new tables, mdm resync)")
        for col in ("#", "source", "reason", "what", "status", "requested", "error"):
            requests.add_column(col)
        for r in result.snapshot_requests:
            what = r["entity"] or ", ".join(r["tables"])
            if r["keys"]:
                what += " " + ", ".join(r["keys"])
            requests.add_row(str(r["id"]), r["source"], r["reason"], what, r["status"],
                             str(r["requested_at"]), r["error"] or "")
        console.print(requests)


def register(app: typer.Typer) -> None:
    app.command("resync")(resync_cmd)
