"""`mdm bench`: measure the hub against capture alone; print a table, write JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mdm.cli.main import configure_logging, console


def bench(changes: Annotated[int, typer.Option(help="ERP row changes to drive through.")] = 50_000,
          json_path: Annotated[Path | None, typer.Option("--json", help="Write the results here as JSON.")] = None,
          single_edits: Annotated[int, typer.Option(help="Single edits at rest for end-to-end latency.")] = 40,
          state_dir: Annotated[Path, typer.Option(help="Scratch folder for the bench's own stack.")] = Path(".mdm/bench"),
          faults: Annotated[bool, typer.Option("--faults", help="Run the delivery fault scenarios "
                                               "and per-kind delivery throughput instead (needs RabbitMQ "
                                               "and NATS JetStream on 127.0.0.1).")] = False,
          fault_changes: Annotated[int, typer.Option(help="--faults: employee edits per scenario.")] = 2000,
          fault_rate: Annotated[float, typer.Option(help="--faults: edits per second.")] = 200.0,
          fault_employees: Annotated[int, typer.Option(help="--faults: employees seeded (each is re-sent "
                                                       "once per kind for the throughput).")] = 3000,
          lineage: Annotated[bool, typer.Option("--lineage", help="Measure lineage and as-of queries "
                                                "on a generated store instead.")] = False,
          lineage_versions: Annotated[int, typer.Option(help="--lineage: versions in the store.")] = 1_000_000,
          lineage_runs: Annotated[int, typer.Option(help="--lineage: runs of each query.")] = 200,
          api: Annotated[bool, typer.Option("--api", help="Measure the API instead: requests/s and "
                                            "p50/p99 for 1, 10 and 50 concurrent signed-in readers "
                                            "(strangers knocking meanwhile in the 50 round).")] = False,
          api_requests: Annotated[int, typer.Option(help="--api: reads per reader in each round "
                                                    "(at least 200 a round).")] = 40,
          api_strangers: Annotated[int, typer.Option(help="--api: anonymous requests in flight "
                                                     "during the 50-reader round.")] = 50,
          flows: Annotated[bool, typer.Option("--flows", help="Measure the business flows instead: "
                                              "OA approval → ERP PO → PO number on the OA request "
                                              "p50/p99 at rest and under load, and whole purchase → "
                                              "payment chains per minute under load.")] = False,
          flow_requests: Annotated[int, typer.Option(help="--flows: requests approved one at a "
                                                     "time, at rest.")] = 50,
          flow_load: Annotated[int, typer.Option(help="--flows: requests driven through the "
                                                     "whole purchase → payment chain under load.")] = 300,
          flow_rate: Annotated[float, typer.Option(help="--flows: approvals per second under load "
                                                   "(0: all in a burst), committed in OA's database.")] = 0.0,
          sources: Annotated[bool, typer.Option("--sources", help="Measure every source kind "
                                                "instead (postgresql, mariadb, webhook, poll, "
                                                "queue): events/s and commit → golden p50/p99.")] = False,
          source_events: Annotated[int, typer.Option(help="--sources: events per kind in the "
                                                     "burst (events/s).")] = 3000,
          source_paced: Annotated[int, typer.Option(help="--sources: events per kind sent at "
                                                    "--source-rate (commit → golden at rest).")] = 100,
          source_rate: Annotated[float, typer.Option(help="--sources: events per second of "
                                                     "the paced ones.")] = 20.0) -> None:
    """Drive N ERP row changes through capture alone and through the whole hub, in one run.

    With --faults: run each delivery fault scenario against a REST, SQL, AMQP and NATS target and
    report attempted / delivered / duplicates at the target / lost / out of order, then each
    kind's deliveries per second.

    With --flows: on a demo stack of its own, flow 1 (OA approval → ERP purchase order → the PO
    number on the OA request) p50/p99 at rest (one request at a time), then a load of documents
    (approved in a burst, or paced with --flow-rate) driven through the whole purchase → payment
    chain, the bench playing the buyer, the warehouse and finance: whole chains completed per
    minute and each hop's p50/p99, from PostgreSQL's own timestamps.

    With --sources: one hub with a source of every kind, each sent a burst of new records
    (events/s) and then paced ones (commit → golden p50/p99 at rest)."""
    configure_logging("WARNING")
    if sources:
        _source_bench(state_dir, source_events, source_paced, source_rate, json_path)
        return
    if flows:
        _flow_bench(state_dir, flow_requests, flow_load, flow_rate, json_path)
        return
    if api:
        _api_bench(state_dir, api_requests, api_strangers, json_path)
        return
    if lineage:
        _lineage_bench(state_dir, lineage_versions, lineage_runs, json_path)
        return
    if faults:
        _fault_bench(state_dir, fault_changes, fault_rate, fault_employees, json_path)
        return
    from mdm.bench.runner import run_bench

    result = run_bench(state_dir.resolve(), changes, single_edits,
                       lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    data = result.as_dict()
    table = Table(title=f"mdm bench — {changes:,} ERP row changes")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("capture only (events/s)", f"{data['capture_only_eps']:,.0f}")
    table.add_row("hub, whole demo: commit → golden durable (events/s)", f"{data['hub_eps']:,.0f}")
    table.add_row("ratio hub / capture only", f"{data['ratio']:.2f}")
    table.add_row("hub, rules off (events/s)", f"{data['hub_eps_rules_off']:,.0f}")
    table.add_row("hub, rules on (events/s)", f"{data['hub_eps_rules_on']:,.0f}")
    table.add_row("throughput the rules cost", f"{data['rules_cost']:.0%}")
    table.add_row("… with OA's and WMS's databases captured too", f"{data['whole_demo_cost']:.0%}")
    table.add_row("commit → golden, all at once p50 / p99 (ms)",
                  f"{data['commit_to_golden_ms']['p50']} / {data['commit_to_golden_ms']['p99']}")
    table.add_row(f"commit → golden paced at {data['paced_rate']:.0f}/s p50 / p99 (ms)",
                  f"{data['commit_to_golden_paced_ms']['p50']} / {data['commit_to_golden_paced_ms']['p99']}")
    table.add_row("commit → golden at rest p50 / p99 (ms)",
                  f"{data['commit_to_golden_at_rest_ms']['p50']} / {data['commit_to_golden_at_rest_ms']['p99']}")
    for target, p in data["commit_to_ack_by_target_ms"].items():
        table.add_row(f"commit → {target.upper()} ack at rest p50 / p99 (ms)", f"{p['p50']} / {p['p99']}")
    table.add_row("load fully delivered to OA and WMS after (s)", f"{data['drain_to_targets_s']}")
    table.add_row("peak RSS of the hub, JVM included (MB)", f"{data['peak_rss_mb']:,.0f}")
    console.print(table)
    if json_path:
        json_path.write_text(json.dumps(data, indent=2))
        console.print(f"wrote {json_path}")


def _fault_bench(state_dir: Path, changes: int, rate: float, employees: int,
                 json_path: Path | None) -> None:
    from mdm.bench.fault_bench import run_fault_bench

    data = run_fault_bench(state_dir.resolve() / "faults", changes, rate, employees,
                           lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    table = Table(title=f"mdm bench --faults — {changes:,} edits per scenario at {rate:.0f}/s")
    for column in ("scenario", "kind", "attempted", "delivered", "duplicates at target", "lost",
                   "out of order", "dead"):
        table.add_column(column, justify="left" if column in ("scenario", "kind") else "right")
    for scenario, figures in data["faults"].items():
        for kind, f in figures["by_kind"].items():
            table.add_row(scenario, kind, *(f"{f[k]:,}" for k in (
                "attempted", "delivered", "duplicates_at_target", "lost", "out_of_order", "dead")))
    console.width = max(console.width, 112)  # the table's eight columns, unabridged
    console.print(table)
    speed = Table(title="deliveries per second (outbox → target ack, one kind at a time)")
    speed.add_column("kind")
    speed.add_column("deliveries", justify="right")
    speed.add_column("per second", justify="right")
    for kind, per_s in data["deliveries_per_s"].items():
        speed.add_row(kind, f"{data['deliveries_measured'][kind]:,}", f"{per_s:,.0f}")
    console.print(speed)
    if json_path:
        json_path.write_text(json.dumps(data, indent=2))
        console.print(f"wrote {json_path}")


def _lineage_bench(state_dir: Path, versions: int, runs: int, json_path: Path | None) -> None:
    from mdm.bench.lineage_bench import run_lineage_bench

    data = run_lineage_bench(state_dir.resolve() / "lineage", versions, runs,
                             lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    table = Table(title=f"mdm bench --lineage — {data['versions']:,} versions, "
                        f"{data['records']:,} records, one with {data['big_record_versions']:,}")
    for column in ("query", "p50 (ms)", "p99 (ms)"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for name, value in data.items():
        if isinstance(value, dict):
            table.add_row(name, f"{value['p50']:,.1f}", f"{value['p99']:,.1f}")
    console.print(table)
    if json_path:
        json_path.write_text(json.dumps({"lineage": data}, indent=2))
        console.print(f"wrote {json_path}")


def _api_bench(state_dir: Path, requests: int, strangers: int, json_path: Path | None) -> None:
    from mdm.bench.api_bench import run_api_bench

    data = run_api_bench(state_dir.resolve() / "api", requests, strangers,
                         lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    table = Table(title="mdm bench --api — signed-in readers (GET records, status, tasks, history)")
    for column in ("concurrent readers", "requests", "requests/s", "p50 (ms)", "p99 (ms)",
                   "not 200", "strangers (401)"):
        table.add_column(column, justify="right")
    for readers, f in data["api"].items():
        failed = ", ".join(f"{k}: {v}" for k, v in f["failed"].items()) or "0"
        table.add_row(readers, f"{f['requests']:,}", f"{f['rps']:,.1f}", f"{f['p50_ms']:,.1f}",
                      f"{f['p99_ms']:,.1f}", failed, str(f["strangers"]))
    console.width = max(console.width, 100)  # the table's seven columns, unabridged
    console.print(table)
    if json_path:
        json_path.write_text(json.dumps(data, indent=2))
        console.print(f"wrote {json_path}")


def _flow_bench(state_dir: Path, requests: int, load: int, rate: float,
                json_path: Path | None) -> None:
    from mdm.bench.flow_bench import run_flow_bench
    from mdm.bench.flow_chain_figures import HUB_HOPS, HUMANS

    data = run_flow_bench(state_dir.resolve() / "flows", requests, load, rate,
                          lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    flows, rest, loaded = data["flows"], data["flows"]["at_rest"], data["flows"]["under_load"]
    whole = loaded["whole_chain"]
    table = Table(title="mdm bench --flows — at rest: flow 1 (OA approval → ERP PO → PO number on "
                        "OA); under load: the whole purchase → payment chain",
                  caption=f"under load: {loaded['approvals']}; the bench plays the buyer, the "
                          "warehouse and finance as each document shows up, in their databases")
    for column in ("p50 / p99 (ms)", f"at rest ({rest['completed']} of {rest['requests']})",
                   f"under load ({loaded['flow_1_completed']} of {loaded['requests']})"):
        table.add_column(column, justify="left" if column.startswith("p50") else "right")
    for name, label in FLOW_ROWS:
        table.add_row(label, _p(_at(rest, name)), _p(_at(loaded, name)))
    table.add_row(f"polled every {rest['poll_interval_ms']:g} ms: approval → PO number seen on OA",
                  _p(rest["polled_approval_to_oa_po_number_ms"]), "")
    table.add_row("[bold]whole chain: approval → 已付款 on OA[/bold]", "",
                  _p(whole["approval_to_oa_paid_ms"]))
    for group, rows in (("hub_hops_ms", HUB_HOPS), ("humans_ms", HUMANS)):
        for name, _, _, label in rows:
            table.add_row(f"  {label}", "", _p(whole[group][name]))
    table.add_row("whole chains completed / started", "", f"{whole['completed']} / {whole['started']}")
    table.add_row("whole chains completed per minute", "",
                  f"{flows['chains_per_minute']:,.0f} (over {whole['first_approval_to_last_paid_s']} s)")
    console.width = max(console.width, 112)  # the measures' labels, unabridged
    console.print(table)
    met = "met" if flows["goal_met"] else "NOT met"
    console.print(f"goal p99 approval → PO number on OA at rest < {flows['goal_p99_at_rest_ms']:.0f} ms: {met}")
    if json_path:
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        console.print(f"wrote {json_path}")


def _source_bench(state_dir: Path, events: int, paced: int, rate: float,
                  json_path: Path | None) -> None:
    from mdm.bench.source_bench import run_source_bench

    data = run_source_bench(state_dir.resolve() / "sources", events, paced, rate,
                            lambda step: console.print(f"[cyan]›[/cyan] {step}"))
    table = Table(title=f"mdm bench --sources — {events:,} events per kind in a burst, "
                        f"{paced:,} paced at {rate:g}/s",
                  caption="commit → golden: golden_version.recorded_at − the source's commit "
                          "time (cause_commit_ts) or the bench's send (sent_us)")
    for column in ("source", "events/s", "commit → golden at rest p50 / p99 (ms)",
                   "in the burst p50 / p99 (ms)", "→ inbox p50, rest / burst (ms)", "arrived",
                   "from"):
        table.add_column(column, justify="left" if column in ("source", "from") else "right")
    missing = []
    for kind, f in data["sources"].items():
        for name, figures in (f.get("brokers") or {kind: f}).items():
            label = kind if name == kind else f"{kind} — {name}"
            if not figures.get("available", True):
                table.add_row(label, "not available", "—", "—", "—", "—", "")
                missing.append(f"{label}: not available ({figures['why']})")
                continue
            at_rest, burst = figures["commit_to_golden_ms"], figures["commit_to_golden_burst_ms"]
            table.add_row(label, f"{figures['eps']:,.0f}", f"{at_rest['p50']:,.1f} / {at_rest['p99']:,.1f}",
                          f"{burst['p50']:,.1f} / {burst['p99']:,.1f}",
                          f"{figures['commit_to_inbox_ms']['p50']:,.1f} / "
                          f"{figures['commit_to_inbox_burst_ms']['p50']:,.1f}",
                          f"{figures['arrived'] + figures['paced_arrived']:,} of "
                          f"{figures['events'] + figures['paced_events']:,}",
                          figures["latency_from"])
    console.width = max(console.width, 140)  # the table's seven columns, unabridged
    console.print(table)
    for line in missing:
        console.print(f"[yellow]{line}[/yellow]")
    if json_path:
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        console.print(f"wrote {json_path}")


FLOW_ROWS = (
    ("approval_to_oa_po_number_ms", "approval → PO number on the OA request"),
    ("approval_to_erp_po_ms", "approval → ERP PO committed"),
    ("erp_po_to_oa_po_number_ms", "ERP PO → PO number on OA"),
    ("stages_ms.approval_to_command_queued", "  approval → create command queued (OA capture, processing)"),
    ("stages_ms.command_queued_to_erp_po", "  command queued → ERP PO (propagation, ERP API)"),
    ("stages_ms.erp_po_to_write_back_queued", "  ERP PO → write-back queued (ERP capture, processing)"),
    ("stages_ms.write_back_queued_to_oa_po_number", "  write-back queued → on OA (propagation, OA API)"),
    ("wal_commit_approval_to_oa_po_number_ms", "WAL commits: approval → write-back (cross-check)"),
)


def _at(figures: dict[str, Any], dotted: str) -> dict[str, Any]:
    for part in dotted.split("."):
        figures = figures[part]
    return figures


def _p(f: dict[str, Any]) -> str:
    return f"{f['p50']:,.1f} / {f['p99']:,.1f}" if f["count"] else "—"


def register(app: typer.Typer) -> None:
    app.command()(bench)
