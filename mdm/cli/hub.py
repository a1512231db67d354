"""Hub commands: init, up, run ROLE, status, records (the last through the hub's API);
`mdm check` is mdm/cli/check.py."""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from mdm.cli.main import configure_logging, console
from mdm.config.loader import PROJECT_FOLDERS, Project, load_project
from mdm.errors import MdmError
from mdm.runtime.settings import Settings, load_settings

ProjectOpt = Annotated[Path | None, typer.Option("--project", "-p",
                       help="Project folder (cdc/, golden_records/, targets/, rules/). Default: $MDM_PROJECT_DIR or .")]
DatabaseOpt = Annotated[str | None, typer.Option("--database-url", envvar="MDM_DATABASE_URL",
                        help="The hub's PostgreSQL database (postgresql://…).")]


class Role(str, Enum):
    capture = "capture"
    process = "process"
    propagate = "propagate"
    api = "api"


def _settings(project: Path | None, database_url: str | None = None) -> Settings:
    settings = load_settings()
    if project is not None:
        settings = settings.with_overrides(project_dir=project.resolve())
        if "MDM_STATE_DIR" not in os.environ:
            settings = settings.with_overrides(state_dir=project.resolve() / ".mdm")
    return settings.with_overrides(database_url=database_url)


def instant(text: str, option: str) -> datetime:
    """An ISO 8601 instant from the command line; it must carry a UTC offset."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MdmError(f"{option}: {text!r} is not an ISO 8601 instant (e.g. 2026-11-01T08:00+08:00)") from exc
    if when.tzinfo is None:
        raise MdmError(f"{option}: {text!r} has no UTC offset; write e.g. {text}+08:00")
    return when


GoldenIdOpt = Annotated[bool, typer.Option(
    "--golden-id", help="KEY is a golden id, not a business key (how a draft, a record without "
                        "a business key yet, is found).")]
DRAFT = "(draft, no number yet)"


def record_path(entity: str, key: str) -> str:
    """The API path of one record (entity and key escaped as path segments)."""
    return f"/api/v1/records/{quote(entity, safe='')}/{quote(key, safe='')}"


def lookup(by_golden_id: bool) -> dict[str, str]:
    """The query that makes a record path's key a golden id (`?by=golden_id`), or none."""
    return {"by": "golden_id"} if by_golden_id else {}


def key_text(business_key: str | None) -> str:
    """A business key as a person reads it; a draft's (None) says it has none yet."""
    return DRAFT if business_key is None else business_key


def record_name(record: dict[str, Any]) -> str:
    """`supplier S0001`; a draft `purchase_request (draft, no number yet) golden id 42` (or
    without the golden id where the answer does not carry it)."""
    if record.get("business_key") is not None:
        return f"{record['entity']} {record['business_key']}"
    golden_id = record.get("golden_id")
    return f"{record['entity']} {DRAFT}" + ("" if golden_id is None else f" golden id {golden_id}")


def when(text: str | None) -> datetime | None:
    """An instant as the API sends it (ISO 8601), or None."""
    return datetime.fromisoformat(text) if text else None


SourceOpt = Annotated[list[str] | None, typer.Option(
    "--source", "-s", metavar="KIND[:NAME]",
    help="Also write cdc/NAME.yaml, a commented source of this kind to fill in (repeatable). "
         "KIND: postgresql, mysql, mariadb, sqlserver, oracle, db2 (Debezium on the database); "
         "webhook-dingtalk, webhook-wecom, webhook-feishu, webhook-hmac (the system calls the "
         "hub back); poll (the hub pages an API modified since a cursor); amqp, nats (a queue). "
         "NAME defaults to the kind (dingtalk for webhook-dingtalk). Every kind is also written "
         "as cdc/KIND.yaml.example, which the hub does not read.")]


def init(directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
         source: SourceOpt = None) -> None:
    """Scaffold a project for your own systems: cdc/, golden_records/, targets/, rules/,
    flows/ from the demo's, a commented example of every kind of source
    (cdc/*.yaml.example), and with --source the sources you name (cdc/NAME.yaml).

    mdm init acme --source sqlserver:u8 --source webhook-dingtalk:ding_oa --source poll:yonsuite"""
    from mdm.cli.scaffolds import parse_source, render, write_examples, write_source

    directory = directory.resolve()
    existing = [f for f in PROJECT_FOLDERS if (directory / f).exists()]
    if existing:
        raise typer.BadParameter(f"not overwriting: {directory} already has {', '.join(existing)}/")
    chosen = [parse_source(s) for s in source or []]
    for kind, name in chosen:
        render(kind, name)  # a bad kind or name stops before anything is written
    _copy_starter_project(directory)
    write_examples(directory)
    written = [write_source(directory, kind, name) for kind, name in chosen]
    console.print(f"Created a project in {directory}. Next:\n"
                  + "".join(f"  - fill in {p.relative_to(directory)} (its comments say how)\n"
                            for p in written) +
                  f"  1. edit cdc/erp.yaml (url, slot) and golden_records/*.yaml for your ERP's tables;\n"
                  f"     another kind of source: copy a cdc/*.yaml.example to cdc/NAME.yaml\n"
                  f"  2. edit targets/*.yaml for your OA and WMS, rules/*.yaml for your checks;\n"
                  f"     cdc/oa.yaml and cdc/wms.yaml capture their databases (delete them if out of reach)\n"
                  f"  3. mdm check -p {directory}\n"
                  f"  4. MDM_ERP_URL=… MDM_DATABASE_URL=… mdm up -p {directory}")


def _copy_starter_project(directory: Path) -> None:
    """Copy the demo's project, shipped inside the package as mdm/project/ (in a checkout its
    folders are links to the repository's top-level cdc/, golden_records/ … ; a wheel holds
    copies), so `mdm init` works from an installed wheel as from the source tree."""
    with resources.as_file(resources.files("mdm") / "project") as starter:
        missing = [f for f in PROJECT_FOLDERS if not (starter / f).is_dir()]
        if missing:
            raise MdmError(f"the installed mdm package lacks its starter project ({starter}: no "
                           f"{', '.join(missing)}/); reinstall mdm")
        for folder in PROJECT_FOLDERS:
            shutil.copytree(starter / folder, directory / folder)


def up(project: ProjectOpt = None, database_url: DatabaseOpt = None,
       roles: Annotated[str, typer.Option(help="Comma-separated roles to run.")] = "capture,process,propagate,api") -> None:
    """Run the pipeline: capture, processing, propagation and the API, as supervised processes."""
    from mdm.runtime.supervisor import supervise
    from mdm.store.database import upgrade_database

    configure_logging()
    settings = _settings(project, database_url)
    load_project(settings.project_dir)
    upgrade_database(settings.require_database())
    from mdm.steward.audit_key import load_ring

    load_ring(settings, create=True)  # once, before the roles start (a bad key stops here)
    extra = ["--project", str(settings.project_dir)]
    raise typer.Exit(supervise([r.strip() for r in roles.split(",") if r.strip()], extra))


def run(role: Annotated[Role, typer.Argument(help="capture | process | propagate | api")],
        project: ProjectOpt = None, database_url: DatabaseOpt = None) -> None:
    """Run one role of the hub in this process (what `mdm up` and compose.yaml start)."""
    configure_logging()
    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    hub_url = settings.require_database()
    _run_role(role, settings, loaded, hub_url)


def _run_role(role: Role, settings: Settings, project: Project, hub_url: str) -> None:
    from mdm.config.secret_files import warn_if_secrets_file_open
    from mdm.lineage.openlineage import start_emitter
    from mdm.runtime.supervisor import run_role_forever
    from mdm.store.database import libpq_url, upgrade_database

    warn_if_secrets_file_open()
    upgrade_database(hub_url)
    url = libpq_url(hub_url)
    if role is not Role.capture:  # the roles that append audit entries seal them (audit_seal.py)
        from mdm.steward.audit_seal import start_sealer

        start_sealer(settings, url)
    finish = start_emitter(role.value, project, url) if role is not Role.api else None
    if role is Role.capture:
        from mdm.capture.service import run_capture

        run_role_forever(run_capture, project, url, settings.state_dir, on_exit=finish)
    elif role is Role.process:
        from mdm.pipeline.service import run_processing

        run_role_forever(run_processing, project, url, on_exit=finish)
    elif role is Role.propagate:
        from mdm.pipeline.propagation import run_propagation

        run_role_forever(run_propagation, project, url, on_exit=finish)
    else:
        import uvicorn

        from mdm.api.app import create_app

        uvicorn.run(create_app(settings, project), host=settings.api_host, port=settings.api_port,
                    log_level="warning")


def status(project: ProjectOpt = None, database_url: DatabaseOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Capture lag and replication slot, inbox and outbox backlog, failed rows, open tasks."""
    from datetime import UTC, datetime

    from mdm.store.database import create_hub_engine
    from mdm.store.repositories import feed_state
    from mdm.store.status import read_status

    settings = _settings(project, database_url)
    loaded = load_project(settings.project_dir)
    engine = create_hub_engine(settings.require_database())
    with engine.connect() as conn:
        result = read_status(conn)
        feeds = feed_state.read_all(conn)  # polls: cursor, last read to the end, last error
    engine.dispose()
    _overlay_live_slots(result, loaded)
    now = datetime.now(UTC)
    if as_json:
        console.print_json(json.dumps({**result.as_dict(),
                                       "feeds": [f.as_dict(now) for f in feeds]}, default=str))
        return
    _print_status(result, loaded)
    _print_feeds(feeds, now)
    _print_secrets_file_warning()


def _print_feeds(feeds: list[Any], now: Any) -> None:
    """A line per feed table: last complete read, cursor time, lag, last error (a poll's
    tombstone and key-diff bookkeeping rows, `table#…`, are left out)."""
    from rich.markup import escape

    for f in (f for f in feeds if "#" not in f.table):
        lag = f.lag_s(now)
        error = (f" [red]last error {f.last_error_at:%Y-%m-%d %H:%M:%S}: "
                 f"{escape(f.last_error)}[/red]") if f.last_error else ""
        ok = f"{f.last_ok_at:%Y-%m-%d %H:%M:%S}" if f.last_ok_at else "never"
        console.print(f"feed {f.source} {f.table}: last ok {ok}, cursor "
                      f"{f.cursor_time or '-'}, lag {'-' if lag is None else f'{lag:.0f}s'}"
                      + error, highlight=False, soft_wrap=True)


def _print_secrets_file_warning() -> None:
    from mdm.config.secret_files import secrets_file_problem

    problem = secrets_file_problem()
    if problem:
        console.print(f"[yellow]warning: {problem}[/yellow]", highlight=False)


def _overlay_live_slots(result: Any, project: Project) -> None:
    """Read each slot on the source itself when its URL is at hand: the figures stored by the
    capture process go stale exactly when capture is down and the slot starts to pile up."""
    from datetime import UTC, datetime

    import psycopg

    from mdm.capture.slot import read_slot
    from mdm.config.loader import expand_env
    from mdm.errors import ConfigError

    for s in result.sources:
        spec = project.sources.get(s.source)
        if spec is None:
            continue
        try:
            live = read_slot(expand_env(spec.url, f"cdc/{spec.name}.yaml"), spec.slot)
        except (ConfigError, psycopg.Error):
            continue
        if live.exists:
            s.slot_retained_bytes, s.slot_lag_bytes = live.retained_bytes, live.lag_bytes
            s.slot_checked_at = datetime.now(UTC)


def _print_status(result: Any, project: Project) -> None:
    table = Table(title="capture")
    for col in ("source", "events", "last event", "latency ms", "slot WAL retained", "slot lag"):
        table.add_column(col)
    for s in result.sources:
        spec = project.sources.get(s.source)
        retained = _bytes(s.slot_retained_bytes)
        if spec and (s.slot_retained_bytes or 0) > spec.lag_warning_bytes:
            retained = f"[red]{retained} (over {_bytes(spec.lag_warning_bytes)})[/red]"
        table.add_row(s.source, str(s.events_total), str(s.last_event_at or "-"),
                      str(s.last_latency_ms or "-"), retained, _bytes(s.slot_lag_bytes))
    console.print(table)
    console.print("inbox: " + (", ".join(f"{k}={v}" for k, v in sorted(result.inbox.items())) or "empty"))
    for target, counts in sorted(result.outbox.items()):
        console.print(f"outbox {target}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for entity, counts in sorted(result.golden.items()):
        console.print(f"golden {entity}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for hop, counts in sorted(result.flows.items()):  # held: waiting for their origin document
        console.print(f"flow {hop}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
                      highlight=False)
    console.print(f"quarantined (held back from the targets): {result.quarantined}; held on an "
                  f"unknown reference: {result.held}; open tasks: "
                  + (", ".join(f"{k}={v}" for k, v in sorted(result.open_tasks.items())) or "none")
                  + ("  → mdm tasks list" if result.open_tasks else ""))
    from mdm.cli.resync import print_snapshots

    print_snapshots(result)
    if result.failed_events:
        failed = Table(title="failed change events (kept in the inbox)")
        for col in ("inbox id", "table", "row key", "op", "reason"):
            failed.add_column(col)
        for f in result.failed_events:
            failed.add_row(str(f["id"]), f["table_name"], f["row_key"], f["op"], f["error"] or "")
        console.print(failed)


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def records(entity: Annotated[str, typer.Argument(help="Entity, e.g. supplier.")],
            key: Annotated[str | None, typer.Argument(help="Business key (a golden id with --golden-id).")] = None,
            as_of: Annotated[str | None, typer.Option("--as-of", help="ISO instant, e.g. 2026-11-01T08:00+08:00")] = None,
            limit: int = 20, by_golden_id: GoldenIdOpt = False) -> None:
    """Show golden records of an entity, or one record with its xrefs and versions.

    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    from mdm.cli.client import call

    if key is None:
        rows = call("GET", f"/api/v1/records/{quote(entity, safe='')}", params={"limit": limit})
        table = Table(title=f"{entity} (first {limit})")
        for col in ("key", "golden id", "version", "status", "name"):
            table.add_column(col)
        for r in rows:
            table.add_row(key_text(r["business_key"]), str(r["golden_id"]), str(r["version"]), r["status"],
                          str(r["attributes"].get("name", "")))
        console.print(table)
        return
    by = lookup(by_golden_id)
    params = {"as_of": instant(as_of, "--as-of").isoformat()} if as_of else {"limit": 10}
    found = call("GET", record_path(entity, key), params=by)
    versions = call("GET", record_path(entity, key) + "/history", params={**by, **params})
    _print_record(found, versions, as_of)


def _print_record(found: dict[str, Any], versions: list[dict[str, Any]], as_of: str | None) -> None:
    console.print(f"[bold]{found['entity']} {key_text(found['business_key'])}[/bold]  golden id "
                  f"{found['golden_id']}  version {found['version']}  status {found['status']}")
    console.print("xrefs: " + ", ".join(f"{k}={v}" for k, v in found["xrefs"].items()))
    shown = versions[0]["attributes"] if as_of and versions else found["attributes"]
    if as_of:
        console.print(f"as of {as_of}: " + (f"version {versions[0]['version']}" if versions else "no version"))
    console.print_json(json.dumps(shown, ensure_ascii=False, default=str))
    table = Table(title="versions")
    for col in ("v", "status", "valid from", "valid to", "cause"):
        table.add_column(col)
    for v in versions[:10]:
        table.add_row(str(v["version"]), v["status"], str(when(v["valid_from"])),
                      str(when(v["valid_to"]) or ""), _version_cause(v["cause"]))
    console.print(table)


def _version_cause(cause: dict[str, Any]) -> str:
    if cause["kind"] == "decision":
        return f"decision by {cause['actor']} (task {cause['task_id']})"
    if cause["kind"] == "write_back":
        return f"answer from {cause['target']} (inbox {cause['inbox_id']})"
    return (f"{cause['source']} {cause['table']} {cause['op']} row {cause['row_key']} "
            f"tx {cause['tx_id']} lsn {cause['lsn']}")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(up)
    app.command()(run)
    app.command()(status)
    app.command()(records)
