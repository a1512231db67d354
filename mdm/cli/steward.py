"""Steward commands: `mdm tasks list|show|resolve` (through the hub's API with MDM_TOKEN),
`mdm tasks change-requests` and `mdm rules run ENTITY`."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mdm.cli.client import call
from mdm.cli.hub import DatabaseOpt, ProjectOpt, _settings
from mdm.cli.main import console
from mdm.config.loader import Project, load_project
from mdm.errors import MdmError
from mdm.store.database import libpq_url

tasks_app = typer.Typer(help="Steward tasks: rule violations, divergences and dead deliveries "
                             "to decide on.",
                        no_args_is_help=True)
rules_app = typer.Typer(help="Validation rules (rules/*.yaml).", no_args_is_help=True)


class Action(str, Enum):
    approve = "approve"
    approve_edited = "approve_edited"
    push = "push"
    change_request = "change_request"
    retry = "retry"
    waive = "waive"


def _connect(project: Any, database_url: str | None) -> tuple[Project, psycopg.Connection]:
    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    return loaded, psycopg.connect(libpq_url(settings.require_database()), autocommit=True)


@tasks_app.command("list")
def list_cmd(status: Annotated[str, typer.Option(help="open | resolved | waived | all")] = "open",
             type: Annotated[str | None, typer.Option(
                 help="rule_violation | divergence | dead_delivery | key_clash | "
                 "unknown_reference")] = None,
             entity: str | None = None, system: str | None = None, limit: int = 50) -> None:
    """List tasks, newest first, with the open count per type (through the hub's API)."""
    params = {k: v for k, v in {"status": status, "type": type, "entity": entity,
                                "system": system, "limit": limit}.items() if v is not None}
    answer = call("GET", "/api/v1/tasks", params=params)
    counts, found = answer["open"], answer["tasks"]
    table = Table(title="tasks (" + ", ".join(f"{t}: {n} open" for t, n in counts.items()) + ")"
                  if counts else "tasks (none open)")
    for column in ("id", "type", "system", "entity", "key", "severity", "status", "summary"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(str(t["id"]), t["type"], t["system"], t["entity"], t["business_key"],
                      t["severity"], t["status"], t["summary"])
    console.print(table)


@tasks_app.command("show")
def show_cmd(task_id: int) -> None:
    """Show one task: what fired, the values involved, and the decisions taken on it."""
    task = call("GET", f"/api/v1/tasks/{task_id}")
    console.print_json(json.dumps(task, default=str, ensure_ascii=False))


@tasks_app.command("resolve")
def resolve_cmd(task_id: int,
                action: Annotated[Action, typer.Argument(
                    help="approve | approve_edited | push | change_request | retry | waive")],
                reason: Annotated[str | None, typer.Option(help="Why (required to waive).")] = None,
                set_: Annotated[list[str] | None, typer.Option(
                    "--set", help="approve_edited: ATTRIBUTE=VALUE (repeatable).")] = None) -> None:
    """Decide on a task as the token's user. Every decision is in the audit log."""
    values = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--set expects ATTRIBUTE=VALUE, got {item!r}")
        values[name.strip()] = value
    body: dict[str, Any] = {"action": action.value, "reason": reason}
    if values:
        body["values"] = values
    decision = call("POST", f"/api/v1/tasks/{task_id}/resolve", json=body)
    console.print(f"task {task_id}: {decision['action']} → {decision['status']}"
                  + (f" (version {decision['version']})" if decision.get("version") else ""))


@tasks_app.command("change-requests")
def change_requests_cmd(
        status: Annotated[str, typer.Option(help="open | applied | all")] = "open",
        csv_path: Annotated[Path | None, typer.Option("--csv", help="Write them here as CSV (UTF-8 with BOM).")] = None,
) -> None:
    """System values stewards accepted as change requests to the ERP, for the ERP team.

    Asks the running hub, like the other tasks commands."""
    from mdm.steward import change_requests

    found = call("GET", "/api/v1/change-requests", params={"status": status})
    if csv_path:
        csv_path.write_text(change_requests.as_csv(found), encoding="utf-8")
        console.print(f"wrote {len(found)} change request(s) to {csv_path}")
        return
    table = Table(title=f"{len(found)} change request(s)")
    for column in ("#", "record", "system", "field", "golden", "requested", "by", "reason"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(str(r["id"]), f"{r['entity']} {r['business_key']}", r["system"], r["field"] or "",
                      str(r["golden_value"]), str(r["requested_value"]), r["requested_by"], r["reason"] or "")
    console.print(table)


@rules_app.command("run")
def rules_run(entity: Annotated[str, typer.Argument(help="Entity whose current records to judge.")],
              batch: Annotated[int, typer.Option(help="Records per micro-batch.")] = 1000,
              project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Re-judge every current golden record of ENTITY (after a rule change); print counts."""
    from mdm.rules.engine import RuleEngine, validate_expectations
    from mdm.rules.judging import RerunCounts, rerun_batch
    from mdm.steward.workbench import count_current_records

    loaded, conn = _connect(project, database_url)
    if entity not in loaded.entities:
        raise MdmError(f"unknown entity {entity!r}; known: {', '.join(sorted(loaded.entities))}")
    validate_expectations(loaded)
    engine, counts, last = RuleEngine(loaded), RerunCounts(), 0
    with conn:
        total = count_current_records(conn, entity)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            bar = progress.add_task(f"judging {entity}", total=total)
            while True:
                with conn.transaction():
                    next_id = rerun_batch(conn, engine, entity, last, batch, counts)
                if next_id is None:
                    break
                last = next_id
                progress.update(bar, completed=counts.records)
    _print_counts(entity, counts)


def _print_counts(entity: str, counts: Any) -> None:
    table = Table(title=f"{entity}: {counts.records} current records judged")
    for column in ("rule", "passed", "failed", "error"):
        table.add_column(column, justify="right" if column != "rule" else "left")
    names = sorted({*counts.passed, *counts.failed, *counts.errors})
    for name in names:
        table.add_row(name, str(counts.passed.get(name, 0)), str(counts.failed.get(name, 0)),
                      str(counts.errors.get(name, 0)))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(rules_app, name="rules")
