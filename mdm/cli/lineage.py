"""Lineage and audit commands: `mdm history`, `mdm lineage ENTITY KEY [--field F] [--target T]`,
`mdm audit tx|decisions` ask the running hub's API (token in MDM_TOKEN, address in MDM_API_URL);
`mdm audit verify|seal` and `mdm prune` work on the hub database directly."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from mdm.cli.client import call
from mdm.cli.hub import (
    DatabaseOpt,
    GoldenIdOpt,
    ProjectOpt,
    _settings,
    instant,
    lookup,
    record_name,
    record_path,
    when,
)
from mdm.cli.main import console
from mdm.config.loader import load_project
from mdm.errors import MdmError

audit_app = typer.Typer(help="Audit: what one ERP transaction changed, what stewards decided.",
                        no_args_is_help=True)


def _cause(cause: dict[str, Any]) -> str:
    if cause["kind"] == "decision":
        return f"decision by {cause['actor']} (task {cause['task_id']})"
    if cause["kind"] == "write_back":
        return f"answer from {cause['target']}"
    committed = when(cause["commit_ts"])
    at = f"{committed:%Y-%m-%d %H:%M:%S%z}" if committed else "snapshot"
    return (f"{cause['source']} tx {cause['tx_id']} {cause['op']} {cause['table']} "
            f"row {cause['row_key']} at {at}")


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def history_cmd(entity: Annotated[str, typer.Argument(help="Entity, e.g. supplier.")],
                key: Annotated[str, typer.Argument(help="Business key (a golden id with --golden-id).")],
                limit: Annotated[int, typer.Option(help="Newest versions to show.")] = 20,
                by_golden_id: GoldenIdOpt = False) -> None:
    """Every version of a record, newest first: what made it and what it changed.

    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    by = lookup(by_golden_id)
    found = call("GET", record_path(entity, key), params=by)
    versions = call("GET", record_path(entity, key) + "/history", params={**by, "limit": limit})
    table = Table(title=f"{record_name(found)} — {found['version']} version(s)")
    for column in ("v", "valid from", "made by", "changes"):
        table.add_column(column, overflow="fold")
    for v in versions:
        changes = ("(the version before was dropped by the history policy)" if v["changes"] is None
                   else "\n".join(f"{a}: {_value(c['from'])} → {_value(c['to'])}"
                                  for a, c in v["changes"].items()) or "(first version)")
        table.add_row(str(v["version"]), f"{when(v['valid_from']):%Y-%m-%d %H:%M:%S%z}",
                      _cause(v["cause"]), changes)
    console.print(table)


def lineage_cmd(
        entity: Annotated[str, typer.Argument(help="Entity, e.g. material.")],
        key: Annotated[str, typer.Argument(help="Business key (a golden id with --golden-id).")],
        field: Annotated[str | None, typer.Option("--field", "-f", help="An attribute: each value it took; "
                                                  "with --target, that target's field.")] = None,
        target: Annotated[str | None, typer.Option("--target", "-t", help="With --field: why this target "
                                                   "shows what it shows, back to the ERP commit.")] = None,
        by_golden_id: GoldenIdOpt = False,
) -> None:
    """Where a record's values came from: its versions, what made each, where each went.

    --field F: each value of attribute F, what set it, when each target received it.
    --target T --field F: why target T shows what it shows in its field F.
    The same as a picture: /records/ENTITY/KEY/lineage on the API.
    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    if target is not None and field is None:
        raise MdmError("--target needs --field (the target's field, e.g. item_name)")
    by = lookup(by_golden_id)
    found = call("GET", record_path(entity, key), params=by)
    if target is not None and field is not None:
        answer = call("GET", record_path(entity, key) + "/why",
                      params={**by, "target": target, "field": field})
        console.print(answer["explanation"], highlight=False)
    elif field is not None:
        _field(found, key, field, by)
    else:
        _versions(found, key, by)


def _picture(found: dict[str, Any]) -> str:
    """The lineage page's path: by business key, or for a draft by golden id."""
    entity = quote(found["entity"], safe="")
    if found["business_key"] is None:
        return f"/records/{entity}/{found['golden_id']}/lineage?by=golden_id"
    return f"/records/{entity}/{quote(found['business_key'], safe='')}/lineage"


def _versions(found: dict[str, Any], key: str, by: dict[str, str]) -> None:
    graph = call("GET", record_path(found["entity"], key) + "/lineage", params={**by, "versions": 10})
    nodes = {n["id"]: n for n in graph["nodes"]}
    into: dict[str, list[str]] = {}
    out: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        into.setdefault(edge["target"], []).append(edge["source"])
        out.setdefault(edge["source"], []).append(edge["target"])
    console.print(f"[bold]{record_name(found)}[/bold] (newest 10 versions; "
                  f"the picture: {_picture(found)})")
    versions = sorted((n for n in nodes.values() if n["kind"] == "version"), key=lambda n: -n["order"])
    for data in versions:
        causes = [nodes[c]["label"] for c in into.get(data["id"], []) if nodes[c]["kind"] == "cause"]
        console.print(f"  {data['label']}  ← {'; '.join(causes)}", highlight=False)
        for delivery in out.get(data["id"], []):
            d = nodes[delivery]
            if d["kind"] != "delivery":
                continue
            acks = [nodes[a]["detail"] for a in out.get(delivery, [])]
            console.print(f"      {d['label']} {d['detail']}" + (f" → ack {acks[0]}" if acks else ""),
                          highlight=False)


def _received(target: str, r: dict[str, Any]) -> str:
    if r["at"]:
        return f"{target}.{r['field']} at {when(r['at']):%Y-%m-%d %H:%M:%S} (v{r['version']})"
    statuses = ", ".join(d["status"] for d in r["deliveries"]) or "not sent"
    return f"{target}: not received ({statuses})"


def _field(found: dict[str, Any], key: str, attribute: str, by: dict[str, str]) -> None:
    entity = found["entity"]
    segments = call("GET", record_path(entity, key) + f"/fields/{quote(attribute, safe='')}/lineage",
                    params=by)
    table = Table(title=f"{record_name(found)}: {attribute}" if found["business_key"] is None
                  else f"{record_name(found)}.{attribute}")
    for column in ("value", "versions", "set by", "received by"):
        table.add_column(column, overflow="fold")
    for s in segments:
        received = "\n".join(_received(t, r) for t, r in s["received"].items()) or "(no target maps it)"
        span = f"v{s['set_in_version']}" + (f"–v{s['until_version']}" if s["until_version"] != s["set_in_version"] else "")
        table.add_row(_value(s["value"]), span, _cause(s["set_by"]), received)
    console.print(table)


@audit_app.command("tx")
def tx_cmd(source: Annotated[str, typer.Argument(help="Source, e.g. erp.")],
           tx_id: Annotated[int, typer.Argument(help="The source's transaction id.")]) -> None:
    """Everything one ERP transaction changed, and where each change was delivered.

    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    changed = call("GET", f"/api/v1/transactions/{quote(source, safe='')}/{tx_id}")
    if not changed:
        raise MdmError(f"no version was made by {source} transaction {tx_id}")
    table = Table(title=f"{source} transaction {tx_id}: {len(changed)} version(s)")
    for column in ("record", "v", "row", "changes", "delivered"):
        table.add_column(column, overflow="fold")
    for c in changed:
        table.add_row(record_name(c), str(c["version"]),
                      f"{c['op']} {c['table']} {c['row_key']}",
                      "\n".join(f"{a}: {_value(x['from'])} → {_value(x['to'])}" for a, x in c["changes"].items()),
                      ", ".join(f"{d['target']} {d['status']}" for d in c["deliveries"]))
    console.print(table)


@audit_app.command("decisions")
def decisions_cmd(since: Annotated[str, typer.Option(help="From this instant (ISO 8601 with offset).")],
                  until: Annotated[str | None, typer.Option(help="Up to this instant (default: now).")] = None,
                  actor: Annotated[str | None, typer.Option(help="Only this steward's decisions.")] = None) -> None:
    """Everything stewards decided in a period: task, action, reason, version.

    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    from datetime import UTC

    start = instant(since, "--since")
    end = instant(until, "--until") if until else datetime.now(UTC)
    params = {"since": start.isoformat(), "until": end.isoformat()}
    if actor is not None:
        params["actor"] = actor
    rows = call("GET", "/api/v1/decisions", params=params)
    table = Table(title=f"{len(rows)} decision(s) from {start.isoformat()} to {end.isoformat()}")
    for column in ("when", "actor", "action", "task", "record", "reason"):
        table.add_column(column, overflow="fold")
    for d in rows:
        table.add_row(f"{when(d['decided_at']):%Y-%m-%d %H:%M:%S%z}", d["actor"], d["action"],
                      f"#{d['task_id']} {d['task_type']}", record_name(d)
                      + (f" v{d['version']}" if d["version"] else ""), d["reason"] or "")
    console.print(table)


HeadFileOpt = Annotated[Path | None, typer.Option(
    "--head-file", help="The audit head the hub records outside the database (default: "
                        "$MDM_AUDIT_HEAD_FILE, else STATE_DIR/audit-head).")]
KeyFileOpt = Annotated[Path | None, typer.Option(
    "--key-file", help="The audit key file, one key per line, newest last (default: "
                       "$MDM_AUDIT_KEY_FILE, else STATE_DIR/audit.key); $MDM_AUDIT_KEY is used too.")]


@audit_app.command("verify")
def verify_cmd(expect_head: Annotated[str | None, typer.Option(
                   help="An unkeyed head hash recorded at an earlier verify: the chain must "
                        "still pass through it.")] = None,
               head_file: HeadFileOpt = None, key_file: KeyFileOpt = None,
               project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Check the audit log: the hash chain, every entry's HMAC seal (with the audit key), the
    head recorded outside the database (catches deleted newest entries), and that every
    decision row matches the entry that recorded it. Names the first problem (exit 1)."""
    import psycopg

    from mdm.steward.audit import verify
    from mdm.steward.audit_key import load_ring
    from mdm.store.database import libpq_url

    settings = _settings(project, database_url).with_overrides(audit_head_file=head_file,
                                                               audit_key_file=key_file)
    ring = load_ring(settings)
    with psycopg.connect(libpq_url(settings.require_database())) as conn:
        result = verify(conn, expect_head, ring=ring, head_path=settings.audit_head_path)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    if not result.ok:
        raise MdmError(f"audit log broken after {result.entries:,} good entries: {result.problem}")
    recorded = (f"head entry {result.recorded.seq} as recorded in {settings.audit_head_path}"
                if result.recorded else f"no head recorded yet at {settings.audit_head_path}")
    keyed = (f"{result.sealed:,} sealed with key {ring.current_id if ring else '-'}, {recorded}"
             if result.sealed else "none sealed yet (the hub seals them; 'mdm audit seal' now)")
    console.print(f"[green]ok[/green] audit log: {result.entries:,} entries, chain intact; "
                  f"{keyed}; head {result.head}", highlight=False)


@audit_app.command("seal")
def seal_cmd(head_file: HeadFileOpt = None, key_file: KeyFileOpt = None,
             project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Seal the entries not sealed yet with the audit key and record the new head (what the
    running hub does after every append). Refuses if the log lost entries the head names."""
    from mdm.steward.audit_seal import seal_now
    from mdm.store.database import libpq_url

    settings = _settings(project, database_url).with_overrides(audit_head_file=head_file,
                                                               audit_key_file=key_file)
    head = seal_now(settings, libpq_url(settings.require_database()))
    if head is None:
        console.print("nothing to seal: every entry is sealed")
    else:
        console.print(f"sealed up to entry {head.seq}; head recorded in {settings.audit_head_path}")


def prune_cmd(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
              project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Drop superseded versions past each entity's `history:` policy (never the current one,
    nor one an open task or a due delivery needs), and the END rows of source transactions
    (heartbeats included) no version names, once a day old. The processing role does it hourly."""
    import psycopg

    from mdm.lineage.retention import TRANSACTION_ENDS_KEEP_DAYS, prune
    from mdm.store.database import libpq_url

    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    with psycopg.connect(libpq_url(settings.require_database()), autocommit=True) as conn:
        pruned = prune(conn, loaded, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    console.print(f"source transactions: {verb} {pruned.transactions:,} END row(s) no version "
                  f"names, older than {TRANSACTION_ENDS_KEEP_DAYS} day(s)")
    if not pruned.versions:
        console.print("no entity has a history policy (history: {keep_days, keep_versions})")
        return
    for entity, count in pruned.versions.items():
        policy = loaded.entities[entity].history
        console.print(f"{entity}: {verb} {count:,} version(s) (keep_days={policy.keep_days if policy else None}, "
                      f"keep_versions={policy.keep_versions if policy else None})")


def register(app: typer.Typer) -> None:
    app.command("history")(history_cmd)
    app.command("lineage")(lineage_cmd)
    app.add_typer(audit_app, name="audit")
    app.command("prune")(prune_cmd)
