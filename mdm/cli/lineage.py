"""Lineage and audit commands: `mdm history`, `mdm lineage ENTITY KEY [--field F] [--target T]`,
`mdm audit tx|decisions`, `mdm prune`."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Connection

from mdm.cli.hub import DatabaseOpt, ProjectOpt, _settings, instant
from mdm.cli.main import console
from mdm.config.loader import Project, load_project
from mdm.errors import MdmError

audit_app = typer.Typer(help="Audit: what one ERP transaction changed, what stewards decided.",
                        no_args_is_help=True)


@contextmanager
def _db(project: Any, database_url: str | None) -> Iterator[tuple[Project, Connection]]:
    from mdm.store.database import create_hub_engine

    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    engine = create_hub_engine(settings.require_database())
    try:
        with engine.connect() as conn:
            yield loaded, conn
    finally:
        engine.dispose()


def _record(conn: Connection, project: Project, entity: str, key: str) -> dict[str, Any]:
    from mdm.golden.queries import find_record

    if entity not in project.entities:
        raise MdmError(f"unknown entity {entity!r}; known: {', '.join(sorted(project.entities))}")
    found = find_record(conn, entity, key)
    if found is None:
        raise MdmError(f"no {entity} with business key or golden id {key!r}")
    return found


def _cause(cause: dict[str, Any]) -> str:
    if cause["kind"] == "decision":
        return f"decision by {cause['actor']} (task {cause['task_id']})"
    if cause["kind"] == "write_back":
        return f"answer from {cause['target']}"
    when = f"{cause['commit_ts']:%Y-%m-%d %H:%M:%S%z}" if cause["commit_ts"] else "snapshot"
    return (f"{cause['source']} tx {cause['tx_id']} {cause['op']} {cause['table']} "
            f"row {cause['row_key']} at {when}")


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def history_cmd(entity: Annotated[str, typer.Argument(help="Entity, e.g. supplier.")],
                key: Annotated[str, typer.Argument(help="Business key or golden id.")],
                limit: Annotated[int, typer.Option(help="Newest versions to show.")] = 20,
                project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Every version of a record, newest first: what made it and what it changed."""
    from mdm.lineage.queries import history

    with _db(project, database_url) as (loaded, conn):
        found = _record(conn, loaded, entity, key)
        versions = history(conn, found["golden_id"], limit)
    table = Table(title=f"{entity} {found['business_key']} — {found['version']} version(s)")
    for column in ("v", "valid from", "made by", "changes"):
        table.add_column(column, overflow="fold")
    for v in versions:
        changes = ("(the version before was dropped by the history policy)" if v["changes"] is None
                   else "\n".join(f"{a}: {_value(c['from'])} → {_value(c['to'])}"
                                  for a, c in v["changes"].items()) or "(first version)")
        table.add_row(str(v["version"]), f"{v['valid_from']:%Y-%m-%d %H:%M:%S%z}",
                      _cause(v["cause"]), changes)
    console.print(table)


def lineage_cmd(
        entity: Annotated[str, typer.Argument(help="Entity, e.g. material.")],
        key: Annotated[str, typer.Argument(help="Business key or golden id.")],
        field: Annotated[str | None, typer.Option("--field", "-f", help="An attribute: each value it took; "
                                                  "with --target, that target's field.")] = None,
        target: Annotated[str | None, typer.Option("--target", "-t", help="With --field: why this target "
                                                   "shows what it shows, back to the ERP commit.")] = None,
        project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Where a record's values came from: its versions, what made each, where each went.

    --field F: each value of attribute F, what set it, when each target received it.
    --target T --field F: why target T shows what it shows in its field F.
    The same as a picture: /records/ENTITY/KEY/lineage on the API."""
    with _db(project, database_url) as (loaded, conn):
        found = _record(conn, loaded, entity, key)
        if target is not None:
            if field is None:
                raise MdmError("--target needs --field (the target's field, e.g. item_name)")
            _why(conn, loaded, found, target, field)
        elif field is not None:
            _field(conn, loaded, found, field)
        else:
            _versions(conn, found)


def _versions(conn: Connection, found: dict[str, Any]) -> None:
    from mdm.lineage.graph import build

    graph = build(conn, found["entity"], found["business_key"], found["golden_id"], 10)
    console.print(f"[bold]{found['entity']} {found['business_key']}[/bold] (newest 10 versions; "
                  f"the picture: /records/{found['entity']}/{found['business_key']}/lineage)")
    versions = sorted((n for n, d in graph.nodes(data=True) if d["kind"] == "version"),
                      key=lambda n: -graph.nodes[n]["order"])
    for node in versions:
        data = graph.nodes[node]
        causes = [graph.nodes[c]["label"] for c in graph.predecessors(node)
                  if graph.nodes[c]["kind"] == "cause"]
        console.print(f"  {data['label']}  ← {'; '.join(causes)}", highlight=False)
        for delivery in graph.successors(node):
            d = graph.nodes[delivery]
            if d["kind"] != "delivery":
                continue
            acks = [graph.nodes[a]["detail"] for a in graph.successors(delivery)]
            console.print(f"      {d['label']} {d['detail']}" + (f" → ack {acks[0]}" if acks else ""),
                          highlight=False)


def _field(conn: Connection, loaded: Project, found: dict[str, Any], attribute: str) -> None:
    from mdm.lineage.queries import field_lineage

    entity = found["entity"]
    spec = loaded.entities[entity]
    if attribute not in spec.attributes and attribute not in spec.children:
        raise MdmError(f"{entity} has no attribute {attribute!r}")
    segments = field_lineage(conn, spec, found["golden_id"], attribute)
    table = Table(title=f"{entity} {found['business_key']}.{attribute}")
    for column in ("value", "versions", "set by", "received by"):
        table.add_column(column, overflow="fold")
    for s in segments:
        received = "\n".join(
            f"{t}.{r['field']} at {r['at']:%Y-%m-%d %H:%M:%S} (v{r['version']})" if r["at"]
            else f"{t}: not received ({', '.join(d['status'] for d in r['deliveries']) or 'not sent'})"
            for t, r in s["received"].items()) or "(no target maps it)"
        span = f"v{s['set_in_version']}" + (f"–v{s['until_version']}" if s["until_version"] != s["set_in_version"] else "")
        table.add_row(_value(s["value"]), span, _cause(s["set_by"]), received)
    console.print(table)


def _why(conn: Connection, loaded: Project, found: dict[str, Any], target: str, field: str) -> None:
    from mdm.lineage.queries import why

    entity = found["entity"]
    spec = loaded.entities[entity]
    if target not in spec.targets:
        raise MdmError(f"{entity} is not sent to {target!r}; its targets: {', '.join(sorted(spec.targets))}")
    if field not in spec.targets[target].fields:
        raise MdmError(f"{target} has no field {field!r} for {entity}; its fields: "
                       f"{', '.join(sorted(spec.targets[target].fields))}")
    answer = why(conn, spec, found["golden_id"], target, field)
    console.print(answer["explanation"], highlight=False)


@audit_app.command("tx")
def tx_cmd(source: Annotated[str, typer.Argument(help="Source, e.g. erp.")],
           tx_id: Annotated[int, typer.Argument(help="The source's transaction id.")],
           project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Everything one ERP transaction changed, and where each change was delivered."""
    from mdm.lineage.queries import transaction

    with _db(project, database_url) as (_, conn):
        changed = transaction(conn, source, tx_id)
    if not changed:
        raise MdmError(f"no version was made by {source} transaction {tx_id}")
    table = Table(title=f"{source} transaction {tx_id}: {len(changed)} version(s)")
    for column in ("record", "v", "row", "changes", "delivered"):
        table.add_column(column, overflow="fold")
    for c in changed:
        table.add_row(f"{c['entity']} {c['business_key']}", str(c["version"]),
                      f"{c['op']} {c['table']} {c['row_key']}",
                      "\n".join(f"{a}: {_value(x['from'])} → {_value(x['to'])}" for a, x in c["changes"].items()),
                      ", ".join(f"{d['target']} {d['status']}" for d in c["deliveries"]))
    console.print(table)


@audit_app.command("decisions")
def decisions_cmd(since: Annotated[str, typer.Option(help="From this instant (ISO 8601 with offset).")],
                  until: Annotated[str | None, typer.Option(help="Up to this instant (default: now).")] = None,
                  actor: Annotated[str | None, typer.Option(help="Only this steward's decisions.")] = None,
                  project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Everything stewards decided in a period: task, action, reason, version."""
    from datetime import UTC

    from mdm.lineage.queries import decisions

    start = instant(since, "--since")
    end = instant(until, "--until") if until else datetime.now(UTC)
    with _db(project, database_url) as (_, conn):
        rows = decisions(conn, start, end, actor)
    table = Table(title=f"{len(rows)} decision(s) from {start.isoformat()} to {end.isoformat()}")
    for column in ("when", "actor", "action", "task", "record", "reason"):
        table.add_column(column, overflow="fold")
    for d in rows:
        table.add_row(f"{d['decided_at']:%Y-%m-%d %H:%M:%S%z}", d["actor"], d["action"],
                      f"#{d['task_id']} {d['task_type']}", f"{d['entity']} {d['business_key']}"
                      + (f" v{d['version']}" if d["version"] else ""), d["reason"] or "")
    console.print(table)


@audit_app.command("verify")
def verify_cmd(expect_head: Annotated[str | None, typer.Option(
                   help="The head hash recorded at an earlier verify: also catches a chain "
                        "rewritten from some entry on.")] = None,
               project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Check the audit log's hash chain; name the first entry altered or removed (exit 1)."""
    import psycopg

    from mdm.steward.audit import verify
    from mdm.store.database import libpq_url

    settings = _settings(project, database_url)
    with psycopg.connect(libpq_url(settings.require_database())) as conn:
        result = verify(conn, expect_head)
    if not result.ok:
        raise MdmError(f"audit log broken after {result.entries:,} good entries: {result.problem}")
    console.print(f"[green]ok[/green] audit log: {result.entries:,} entries, chain intact; "
                  f"head {result.head}")


def prune_cmd(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
              project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Drop superseded versions past each entity's `history:` policy (never the current one,
    nor one an open task or a due delivery needs)."""
    import psycopg

    from mdm.lineage.retention import prune
    from mdm.store.database import libpq_url

    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    with psycopg.connect(libpq_url(settings.require_database()), autocommit=True) as conn:
        counts = prune(conn, loaded, dry_run=dry_run)
    if not counts:
        console.print("no entity has a history policy (history: {keep_days, keep_versions})")
        return
    verb = "would drop" if dry_run else "dropped"
    for entity, count in counts.items():
        policy = loaded.entities[entity].history
        console.print(f"{entity}: {verb} {count:,} version(s) (keep_days={policy.keep_days if policy else None}, "
                      f"keep_versions={policy.keep_versions if policy else None})")


def register(app: typer.Typer) -> None:
    app.command("history")(history_cmd)
    app.command("lineage")(lineage_cmd)
    app.add_typer(audit_app, name="audit")
    app.command("prune")(prune_cmd)
