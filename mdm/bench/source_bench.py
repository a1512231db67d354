"""`mdm bench --sources`: events/s and commit → golden p50/p99 of every source kind, in one run
on one stack of its own: one hub whose project has one source of each kind (drivers in
SOURCE_DRIVERS, one module each) and one entity per source, no rules, no targets.

Kinds run one after the other on the same hub (the idle feeds meanwhile cost a poll now and
then). Each sends a burst of N new records as fast as the source takes them — events/s = N /
(the last of their golden versions − the first send) — then M records paced at a modest rate
for commit → golden at rest. Commit → golden is golden_version.recorded_at (clock_timestamp()
at the version's insert, inside its processing transaction) minus the driver's start:
the source's commit time as captured (cause_commit_ts) or the document's sent_us.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from mdm.bench.runner import percentiles
from mdm.bench.source_kinds import KindFigures, SourceDriver
from mdm.bench.source_mariadb import MariadbDriver
from mdm.bench.source_poll import PollDriver
from mdm.bench.source_postgresql import PostgresqlDriver
from mdm.bench.source_queue import AmqpDriver, NatsDriver
from mdm.bench.source_webhook import WebhookDriver
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle

logger = logging.getLogger(__name__)
# name → driver; the JSON's key is the driver's `kind` (amqp and nats are both "queue").
SOURCE_DRIVERS: dict[str, Callable[[], SourceDriver]] = {
    "postgresql": PostgresqlDriver,
    "mariadb": MariadbDriver,
    "webhook": WebhookDriver,
    "poll": PollDriver,
    "amqp": AmqpDriver,
    "nats": NatsDriver,
}
KINDS = ("postgresql", "mariadb", "webhook", "poll", "queue")
WARM_UP_S = 600.0  # JVM starts and snapshots on a busy 2-core machine
HEADLINE_QUEUE = "amqp"  # whose figures the JSON's "queue" carries (both are under "brokers")


def write_project(root: Path, drivers: list[SourceDriver]) -> Path:
    for folder in ("cdc", "golden_records"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for driver in drivers:
        for relative, text in driver.project_files().items():
            (root / relative).write_text(text, encoding="utf-8")
    return root


Row = tuple[float, float, float, float]  # recorded_at, sent_us, cause_commit_ts, inbox received_at


def versions_of(hub_url: str, entity: str, phase: str) -> list[Row]:
    """(recorded_at, sent_us, cause_commit_ts, the inbox's received_at of the event that made
    it) in epoch seconds, of each version of the phase's records (NaN where not known)."""
    with psycopg.connect(hub_url) as conn:
        return [(_seconds(r[0]), _seconds(r[1]), _seconds(r[2]), _seconds(r[3]))
                for r in conn.execute(
                    "SELECT extract(epoch FROM v.recorded_at), (v.attributes->>'sent_us')::bigint "
                    "/ 1e6, extract(epoch FROM v.cause_commit_ts), extract(epoch FROM "
                    "i.received_at) FROM golden_version v LEFT JOIN inbox i ON i.id = "
                    "v.cause_inbox_id WHERE v.entity = %s AND v.business_key LIKE %s",
                    (entity, f"{phase}%"))]


def _seconds(value: object) -> float:
    return float("nan") if value is None else float(str(value))


def wait_versions(hub_url: str, entity: str, phase: str, count: int, timeout: float) -> int:
    """Until `count` versions of the phase's records are there, or the deadline; how many."""
    deadline = time.monotonic() + timeout
    found = 0
    with psycopg.connect(hub_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM golden_version WHERE entity = %s AND "
                               "business_key LIKE %s", (entity, f"{phase}%")).fetchone()
            found = int(row[0]) if row else 0
            if found >= count:
                break
            time.sleep(0.05)
    return found


def latencies_ms(rows: list[Row], driver: SourceDriver, end: int = 0) -> list[float]:
    """Milliseconds from the driver's start to the version (end 0) or to the inbox (end 3)."""
    start = 2 if driver.latency_from == "cause_commit_ts" else 1
    return [(r[end] - r[start]) * 1000 for r in rows if r[end] == r[end]]


def measure(stack: DemoStack, driver: SourceDriver, events: int, paced: int, rate: float,
            first_key: int) -> KindFigures:
    figures = KindFigures(driver.kind, driver.variant, driver.label,
                          latency_from=driver.latency_from, note=driver.note, paced_rate=rate)
    burst = list(range(first_key, first_key + events))
    started = time.time()
    figures.events = driver.send(burst, "B", None)
    figures.arrived = wait_versions(stack.hub_url, driver.entity, "B", figures.events,
                                    120 + events / 20)
    rows = versions_of(stack.hub_url, driver.entity, "B")
    if rows:
        figures.eps = len(rows) / max(1e-3, max(r[0] for r in rows) - started)
    figures.burst_ms = percentiles(latencies_ms(rows, driver))
    figures.burst_inbox_ms = percentiles(latencies_ms(rows, driver, end=3))
    time.sleep(1.0)  # the hub back at rest
    keys = list(range(first_key + events, first_key + events + paced))
    figures.paced_events = driver.send(keys, "P", rate)
    figures.paced_arrived = wait_versions(stack.hub_url, driver.entity, "P",
                                          figures.paced_events, 120)
    rows = versions_of(stack.hub_url, driver.entity, "P")
    figures.commit_to_golden_ms = percentiles(latencies_ms(rows, driver))
    figures.inbox_ms = percentiles(latencies_ms(rows, driver, end=3))
    return figures


def warm_up(stack: DemoStack, drivers: list[SourceDriver], first_key: int,
            progress: Callable[[str], None]) -> None:
    """One event through every source, until each is golden: every engine has started and
    taken its snapshot, every consumer and poller runs, before any kind is timed (a second
    Debezium engine starting would otherwise share the cores with the first kind's burst)."""
    for n, driver in enumerate(drivers):
        driver.send([first_key + n], "W", None)
    for driver in drivers:
        if wait_versions(stack.hub_url, driver.entity, "W", 1, WARM_UP_S) < 1:
            raise TimeoutError(f"{driver.label}: its warm-up event did not become golden "
                               f"within {WARM_UP_S:.0f}s (see {stack.state_dir / 'hub.log'})")
    progress(f"every source streams ({len(drivers)} warm-up events golden)")


def _stop(driver: SourceDriver) -> None:
    """Stop a driver without hiding the error that ended the run (one whose start failed has
    nothing to remove)."""
    try:
        driver.stop()
    except Exception as exc:  # noqa: BLE001 — logged; the bench's own error, if any, goes on
        logger.warning("could not stop the %s driver: %r", driver.label, exc)


def as_json(figures: list[KindFigures], settings: dict[str, Any]) -> dict[str, Any]:
    """{"sources": {kind: {"eps", "commit_to_golden_ms": {"p50", "p99"}, …}}, …}: a kind
    that could not run is {"available": false, "why": …}."""
    sources: dict[str, Any] = {}
    for f in figures:
        if f.kind != "queue":
            sources[f.kind] = f.as_dict()
    queues = {f.variant: f for f in figures if f.kind == "queue"}
    if queues:
        ran = [v for v in (HEADLINE_QUEUE, *queues) if v in queues and queues[v].unavailable is None]
        headline = queues[ran[0]] if ran else next(iter(queues.values()))
        sources["queue"] = {**headline.as_dict(), "broker": headline.variant,
                            "brokers": {v: f.as_dict() for v, f in queues.items()}}
    return {"sources": sources, "settings": settings}


def run_source_bench(state_dir: Path, events: int, paced: int, rate: float,
                     progress: Callable[[str], None]) -> dict[str, Any]:
    drivers = [make() for make in SOURCE_DRIVERS.values()]
    missing = {id(d): d.unavailable() for d in drivers}
    running = [d for d in drivers if missing[id(d)] is None]
    stack = DemoStack(state_dir / f"run-{int(time.time())}")
    stack.project_dir = write_project(stack.state_dir / "project", running)
    load_before = os.getloadavg()[0]
    figures: list[KindFigures] = []
    try:
        progress("starting embedded PostgreSQL and the sources' servers, queues and streams")
        stack.pg.start()
        for database in ("erp", "mdm_hub"):  # the bench's ERP (postgresql) and the hub's store
            stack.pg.create_database(database)
        for driver in running:
            driver.start(stack)
            stack.extra_env.update(driver.env())
        progress(f"starting the hub ({', '.join(d.label for d in running)})")
        stack.start_hub()
        wait_idle(stack.erp_url, stack.hub_url, timeout=600, outbox=False)
        warm_up(stack, running, 900_000_000, progress)
        for n, driver in enumerate(drivers):
            why = missing[id(driver)]
            if why is not None:
                progress(f"{driver.label}: not available ({why})")
                figures.append(KindFigures(driver.kind, driver.variant, driver.label,
                                           unavailable=why))
                continue
            progress(f"{driver.label}: {events} events in a burst, then {paced} at {rate:g}/s")
            figures.append(measure(stack, driver, events, paced, rate, 1 + n * 10_000_000))
    finally:
        stack.stop()
        for driver in running:
            _stop(driver)
        stack.pg.remove()
    settings = {"events_per_kind": events, "paced_events_per_kind": paced,
                "paced_rate_per_s": rate, "headline_queue": HEADLINE_QUEUE,
                "commit_to_golden": "golden_version.recorded_at minus latency_from",
                "load_average_1m": {"start": round(load_before, 2),
                                    "end": round(os.getloadavg()[0], 2)}}
    return as_json(figures, settings)
