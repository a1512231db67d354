"""`mdm check [--live]`: every problem of every project file at once, grouped by file; with
--live, the project compared with the databases it names (tables, columns, types, filters)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from mdm.cli.hub import ProjectOpt, _settings
from mdm.cli.main import console, err_console
from mdm.config.live_check import Finding
from mdm.config.live_tables import Level
from mdm.config.loader import Project, read_project
from mdm.errors import ConfigError

LIVE_HELP = (
    "Also connect to each source's database (cdc/*.yaml url) and each kind: sql target's, "
    "and check every mapped table and column against them: tables and columns exist "
    "(attributes, primary_key, retired_when, children's table, primary_key, parent_column "
    "and order_by, ignore_columns), column types fit the declared attribute types, where: "
    "filters run (EXPLAIN, read-only), a child's parent_column has the type of its parent's "
    "key; columns neither mapped nor ignored are notes; a signal_table: has text columns "
    "id, type, data first (absent: a note, capture creates it), a source without one runs "
    "PostgreSQL 13+. Reads catalogs only, never rows. "
    "PostgreSQL, MySQL and MariaDB sources are read; sqlserver, oracle and "
    "db2 sources are noted as not checked (no client for them in the hub).")
LiveOpt = Annotated[bool, typer.Option("--live", help=LIVE_HELP)]
EXPLAIN_HELP = (
    "Also print, per source, the Debezium engine properties the hub derives from its "
    "cdc/*.yaml (every connector: postgresql, sqlserver, oracle, db2 …), passwords masked, "
    "as `key = value` lines; a ${VAR} that is not set is shown as written.")
ExplainOpt = Annotated[bool, typer.Option("--explain", help=EXPLAIN_HELP)]


def check(project: ProjectOpt = None, live: LiveOpt = False,
          explain: ExplainOpt = False) -> None:
    """Validate the project files: every problem of every file at once, each naming the file,
    the key and what was expected. Exits 1 if there is any. --live also checks the databases."""
    settings = _settings(project)
    loaded, problems = read_project(settings.project_dir)
    problems += _expectation_problems(loaded)
    problems += _connector_problems(loaded)
    _print_secrets_file_warning()
    if problems:
        _print_findings([Finding(f, "", p) for f, p in problems], err=True)
        _print_notes(loaded.notes, err=True)
        if live:
            err_console.print("--live skipped: fix the files first", highlight=False)
        raise typer.Exit(1)
    _print_summary(settings.project_dir, loaded)
    _print_notes(loaded.notes, err=False)
    if explain:
        _print_properties(loaded, settings.database_url)
    if live and not _check_live(loaded):
        raise typer.Exit(1)


def _expectation_problems(project: Project) -> list[tuple[str, str]]:
    """What only Great Expectations can say (each expectation's kwargs), for every rule file."""
    if not any(r.expectations for r in project.rules.values()):
        return []
    from mdm.rules.engine import validate_expectations

    problems: list[tuple[str, str]] = []
    for entity, rules in project.rules.items():
        try:
            validate_expectations(dataclasses.replace(project, rules={entity: rules}))
        except ConfigError as exc:
            problems += exc.entries
    return problems


def _connector_problems(project: Project) -> list[tuple[str, str]]:
    """What a source's connector needs beyond the schema (URL form, Db2's driver jar)."""
    from mdm.capture.explain import connector_problems

    return connector_problems(project)


def _print_properties(project: Project, hub_url: str | None) -> None:
    """`--explain`: each source's derived Debezium properties, `key = value`, secrets masked."""
    from mdm.capture.explain import EMBEDDED_HUB, explain

    if not hub_url:
        console.print(f"explain: hub database not set (MDM_DATABASE_URL): offsets shown for "
                      f"the embedded one, {EMBEDDED_HUB} (its port is chosen at start)",
                      highlight=False, soft_wrap=True)
    for item in explain(project, hub_url):
        unset = f" (not set, shown as written: {', '.join(item.unset)})" if item.unset else ""
        console.print(f"[bold]cdc/{item.source}.yaml[/bold] connector {item.connector}{unset}",
                      highlight=False, soft_wrap=True)
        if item.problem is not None:
            console.print(f"  properties not derived: {item.problem}", highlight=False,
                          soft_wrap=True, markup=False)
        for key, value in item.properties.items():
            console.print(f"  {key} = {value}", highlight=False, soft_wrap=True, markup=False)


def _check_live(project: Project) -> bool:
    """Read each database's catalog, compare, print; whether nothing is an error."""
    from mdm.capture.introspect import CatalogUnavailable, NoCatalogReader, read_catalog
    from mdm.config.live_check import compare, probes

    catalogs, findings, read = {}, [], []
    for probe in probes(project):
        try:
            catalogs[probe.database] = read_catalog(probe)
        except CatalogUnavailable as exc:
            level: Level = "note" if isinstance(exc, NoCatalogReader) else "error"
            findings.append(Finding(probe.file, "url", f"{probe.database}: {exc}", level))
            continue
        read.append(f"{probe.database} ({len(probe.tables)} table(s))")
    findings += compare(project, catalogs)
    console.print(f"live: {', '.join(read) or 'no database read'}", highlight=False,
                  soft_wrap=True)
    if findings:
        _print_findings(findings, err=False)
    errors = sum(f.level == "error" for f in findings)
    if not errors:
        console.print("[green]ok[/green] the databases have every table and column the project "
                      "maps, with fitting types", highlight=False, soft_wrap=True)
    return errors == 0


def _print_findings(findings: Sequence[Finding], err: bool) -> None:
    """Grouped by file, in the order files first appear; a summary line last."""
    out = err_console if err else console
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    for file, items in by_file.items():
        out.print(f"[bold]{file}[/bold]", highlight=False)
        for f in items:
            if not f.key:  # a problem of the files: its message names its key
                out.print(f"  {f.message}", highlight=False, soft_wrap=True)
                continue
            tag = "[red]error[/red]" if f.level == "error" else "[yellow]note[/yellow] "
            out.print(f"  {tag} {f.line()}", highlight=False, soft_wrap=True)
    errors = sum(f.level == "error" for f in findings)
    notes = len(findings) - errors
    summary = f"{errors} problem(s)" if err else f"{errors} error(s), {notes} note(s)"
    out.print(f"{'[red]' if errors else ''}{summary} in {len(by_file)} file(s)"
              f"{'[/red]' if errors else ''}", highlight=False, soft_wrap=True)


def _print_notes(notes: Sequence[tuple[str, str]], err: bool) -> None:
    """What still works but should change (a deprecated key): `note  file: key: …`."""
    out = err_console if err else console
    for file, note in notes:
        out.print(f"[yellow]note[/yellow]  {file}: {note}", highlight=False, soft_wrap=True)


def _print_summary(root: Path, loaded: Project) -> None:
    rules = sum(len(r.expectations) + len(r.checks) + len(r.divergence)
                for r in loaded.rules.values())
    console.print(f"[green]ok[/green] {root}: {len(loaded.sources)} source(s), "
                  f"{len(loaded.entities)} entit(ies), {len(loaded.targets)} target(s), "
                  f"{rules} rule(s), {len(loaded.flows)} flow(s)", soft_wrap=True)
    for name, spec in loaded.entities.items():
        children = f" + {', '.join(spec.children)}" if spec.children else ""
        targets = ", ".join(spec.targets) or "no target"
        console.print(f"  {name}: {spec.table}{children} → {targets}", soft_wrap=True)
    for name, target in loaded.targets.items():
        where = target.base_url if target.kind == "rest" else target.url  # as written: ${VAR}
        console.print(f"  target {name}: {target.kind} {where}", highlight=False, soft_wrap=True)
    for flow in loaded.flows.values():
        for hop in flow.hops:
            back = f", back to {hop.back.target}" if hop.back is not None else ""
            does = [f"{hop.to.operation} at {hop.to.target}"] if hop.to is not None else []
            does += [f"a task for {hop.task.team}"] if hop.task is not None else []
            console.print(f"  flow {flow.flow}.{hop.name}: {hop.from_} ({hop.when.describe()}) "
                          f"→ {' and '.join(does)}{back}", highlight=False, soft_wrap=True)
        for link in flow.links:
            console.print(f"  flow {flow.flow}.{link.name}: link {link.entity} under "
                          f"{link.origin.entity} (by {link.origin.by})", highlight=False,
                          soft_wrap=True)
    for name, rec in loaded.reconciliations.items():
        figures = ", ".join(f"{n} from {f.entity}" for n, f in rec.figures().items())
        console.print(f"  reconciliation {name}: {rec.order.entity}.{rec.order.lines} — {figures}",
                      highlight=False, soft_wrap=True)


def _print_secrets_file_warning() -> None:
    from mdm.config.secret_files import secrets_file_problem

    problem = secrets_file_problem()
    if problem:
        console.print(f"[yellow]warning: {problem}[/yellow]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(check)
