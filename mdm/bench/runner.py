"""The benchmark: N ERP row changes through capture alone, then through the whole hub, in one
embedded stack; then single edits at rest for end-to-end latency. See DESIGN.md, Performance."""
from __future__ import annotations

import json
import logging
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

from mdm.demo.journey import Journey, follow, run_edit
from mdm.demo.stack import DemoStack
from mdm.demo.sync import emit_marker, wait_captured, wait_drained, wait_idle
from mdm.runtime.supervisor import _die_with_parent

logger = logging.getLogger(__name__)
ROWS_PER_TRANSACTION = 100
# changes/s, issue 16's figure. With the whole demo project (rules, OA's and WMS's databases
# captured) the hub sustains about this on 2 cores, so the paced p99 also shows how far a
# backlog grows: a few per cent of throughput move it by hundreds of milliseconds.
PACED_RATE = 1000.0


@dataclass
class BenchResult:
    changes: int
    capture_only_eps: float = 0.0
    hub_eps: float = 0.0
    hub_eps_rules_off: float = 0.0
    hub_eps_rules_on: float = 0.0
    commit_to_golden_ms: dict[str, float] = field(default_factory=dict)
    paced_rate: float = 0.0
    commit_to_golden_paced_ms: dict[str, float] = field(default_factory=dict)
    commit_to_golden_at_rest_ms: dict[str, float] = field(default_factory=dict)
    commit_to_ack_ms: dict[str, float] = field(default_factory=dict)
    commit_to_ack_by_target_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    drain_to_targets_s: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def ratio(self) -> float:
        return self.hub_eps / self.capture_only_eps if self.capture_only_eps else 0.0

    @property
    def rules_cost(self) -> float:
        """Share of hub throughput the demo rules cost (0.2 = rules on is 20 % slower)."""
        if not self.hub_eps_rules_off:
            return 0.0
        return 1.0 - self.hub_eps_rules_on / self.hub_eps_rules_off

    @property
    def divergence_capture_cost(self) -> float:
        """Share the whole demo (rules + capturing OA's and WMS's databases) costs."""
        if not self.hub_eps_rules_off:
            return 0.0
        return 1.0 - self.hub_eps / self.hub_eps_rules_off

    def as_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "capture_only_eps": round(self.capture_only_eps, 1),
                "hub_eps": round(self.hub_eps, 1), "ratio": round(self.ratio, 3),
                "hub_eps_rules_off": round(self.hub_eps_rules_off, 1),
                "hub_eps_rules_on": round(self.hub_eps_rules_on, 1),
                "rules_cost": round(self.rules_cost, 3),
                "whole_demo_cost": round(self.divergence_capture_cost, 3),
                "commit_to_golden_ms": self.commit_to_golden_ms,
                "paced_rate": self.paced_rate,
                "commit_to_golden_paced_ms": self.commit_to_golden_paced_ms,
                "commit_to_golden_at_rest_ms": self.commit_to_golden_at_rest_ms,
                "commit_to_ack_ms": self.commit_to_ack_ms,
                "commit_to_ack_by_target_ms": self.commit_to_ack_by_target_ms,
                "drain_to_targets_s": round(self.drain_to_targets_s, 2),
                "peak_rss_mb": round(self.peak_rss_mb, 1)}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan")}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1)}


def apply_workload(erp_url: str, changes: int, salt: int, rate: float | None = None) -> None:
    """`changes` row updates on material, ROWS_PER_TRANSACTION rows per transaction; as fast
    as possible, or paced at `rate` changes per second."""
    with psycopg.connect(erp_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM material ORDER BY id")]
        done = 0
        started = time.monotonic()
        while done < changes:
            if rate:
                ahead = done / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            take = min(ROWS_PER_TRANSACTION, changes - done)
            chunk = [ids[(done + k) % len(ids)] for k in range(take)]
            conn.execute("UPDATE material SET standard_price = standard_price + %s, "
                         "spec = %s WHERE id = ANY(%s)", (0.0001, f"bench-{salt}-{done}", chunk))
            conn.commit()
            done += take


class RssSampler:
    """Peak resident memory of a process tree, sampled in a thread."""

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            total = 0
            for pid in list(self.roots):
                try:
                    root = psutil.Process(pid)
                    total += sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                except psutil.Error:
                    continue
            self.peak_mb = max(self.peak_mb, total / 1024 / 1024)


def measure_capture_only(stack: DemoStack, changes: int) -> float:
    """Events/s through Debezium with a handler that does nothing."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdm.bench.noop_capture", stack.erp_url, "bench_noop",
         str(stack.state_dir / "noop")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
    assert proc.stdout is not None and proc.stdin is not None
    try:
        lines = _line_reader(proc.stdout)
        _wait_for(lines, lambda d: "started_at" in d, 120)
        for _ in range(120):  # streaming has begun once a marker comes back
            emit_marker(stack.erp_url, "mdm-bench")
            if _wait_for(lines, lambda d: "marker_at" in d, 1.0, raise_on_timeout=False):
                break
        started = time.time()
        apply_workload(stack.erp_url, changes, salt=1)
        # the end has a marker of its own: a late warm-up marker must not be taken for it
        emit_marker(stack.erp_url, "mdm-bench-end")
        seen = _wait_for(lines, lambda d: bool(d.get("end")), 600)
        assert seen is not None
        return changes / (float(seen["marker_at"]) - started)
    finally:
        proc.stdin.close()
        proc.wait(30)
        _drop_slot(stack.erp_url, "bench_noop")


def _line_reader(stream: Any) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []

    def read() -> None:
        for line in stream:
            if line.startswith("{"):
                lines.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for(lines: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool], timeout: float,
              raise_on_timeout: bool = True) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while lines:
            item = lines.pop(0)
            if match(item):
                return item
        time.sleep(0.005)
    if raise_on_timeout:
        raise TimeoutError("the capture-only engine did not report in time (see its log)")
    return None


def _drop_slot(erp_url: str, slot: str) -> None:
    with psycopg.connect(erp_url, autocommit=True) as conn:
        for _ in range(50):
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
            if row is None:
                break
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                break
            time.sleep(0.2)
        conn.execute("DROP PUBLICATION IF EXISTS bench_noop")


def measure_hub(stack: DemoStack, changes: int, result: BenchResult) -> None:
    started_wall = time.time()
    started = time.monotonic()
    apply_workload(stack.erp_url, changes, salt=2)
    wait_captured(stack.hub_url, emit_marker(stack.erp_url), timeout=1200)
    wait_drained(stack.hub_url, timeout=1200, outbox=False)
    result.hub_eps = changes / (time.monotonic() - started)
    wait_drained(stack.hub_url, timeout=1200, outbox=True)
    result.drain_to_targets_s = time.monotonic() - started
    result.commit_to_golden_ms = percentiles(_golden_latencies(stack.hub_url, started_wall))


def measure_paced(stack: DemoStack, changes: int, rate: float, result: BenchResult) -> None:
    """Commit → golden when the ERP writes at a steady rate the hub can sustain."""
    started_wall = time.time()
    apply_workload(stack.erp_url, changes, salt=3, rate=rate)
    wait_idle(stack.erp_url, stack.hub_url, timeout=1200, outbox=False)
    result.paced_rate = rate
    result.commit_to_golden_paced_ms = percentiles(_golden_latencies(stack.hub_url, started_wall))


def _golden_latencies(hub_url: str, since: float) -> list[float]:
    with psycopg.connect(hub_url) as conn:
        return [float(r[0]) for r in conn.execute(
            "SELECT extract(epoch FROM recorded_at - cause_commit_ts) * 1000 FROM golden_version "
            "WHERE entity = 'material' AND cause_commit_ts >= to_timestamp(%s)", (since,))]


def measure_single_edits(stack: DemoStack, targets_of: Callable[[str], list[str]], count: int,
                         result: BenchResult) -> None:
    golden: list[float] = []
    acks: dict[str, list[float]] = {}
    for n in range(count):
        sql = (f"UPDATE supplier SET phone = '0512-{6000_0000 + n}' WHERE code = 'S{1 + n % 50:04d}'"
               if n % 2 else
               f"UPDATE material SET uom = '{'箱件'[n % 4 // 2]}', spec = 'single-{n}' WHERE code = 'M-{1001 + n % 50}'")
        journey = follow(stack.hub_url, Journey(f"edit {n}", run_edit(stack.erp_url, sql)), targets_of)
        if journey.golden_ms is not None:
            golden.append(journey.golden_ms)
        for target, ms in journey.acks_ms.items():
            acks.setdefault(target, []).append(ms)
        time.sleep(0.1)
    result.commit_to_golden_at_rest_ms = percentiles(golden)
    result.commit_to_ack_by_target_ms = {t: percentiles(v) for t, v in sorted(acks.items())}
    result.commit_to_ack_ms = percentiles(acks.get("oa", []))


def project_variant(project: Path, copy: Path, rules: bool) -> Path:
    """A copy of the project without observed tables (the same capture of record, mapping and
    targets), with or without rules/: what the rules' cost is measured with. A source that
    only observes is left out; one that is also a system of record loses its `tables:`."""
    import yaml

    if copy.exists():
        shutil.rmtree(copy)
    for folder in ("cdc", "golden_records", "targets", *(("rules",) if rules else ())):
        shutil.copytree(project / folder, copy / folder)
    of_record = {yaml.safe_load(p.read_text(encoding="utf-8")).get("source", "erp")
                 for p in (copy / "golden_records").glob("*.y*ml")}
    for path in (copy / "cdc").glob("*.y*ml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not spec.get("tables"):
            continue
        if spec.get("name") not in of_record:
            path.unlink()
            continue
        for key in ("tables", "observes", "authority"):
            spec.pop(key, None)
        path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return copy


def run_bench(state_dir: Path, changes: int, single_edits: int,
              progress: Callable[[str], None]) -> BenchResult:
    from mdm.config.loader import load_project

    result = BenchResult(changes=changes)
    stack = DemoStack(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    sampler = RssSampler()
    try:
        progress("starting embedded PostgreSQL and the demo databases")
        stack.start_databases(fresh=True)
        stack.start_targets(niceness=10)  # stands for OA and WMS on machines of their own
        progress(f"capture only: {changes} changes through Debezium with a no-op handler")
        result.capture_only_eps = measure_capture_only(stack, changes)
        demo_project = stack.project_dir
        for rules in (False, True):
            stack.project_dir = project_variant(demo_project, state_dir / f"project-rules-{rules}",
                                                rules)
            progress(f"rules {'on' if rules else 'off'}: the hub "
                     f"{'with' if rules else 'without'} rules/, not capturing OA's and WMS's databases")
            stack.start_hub()
            wait_idle(stack.erp_url, stack.hub_url, timeout=600)
            part = BenchResult(changes=changes)
            measure_hub(stack, changes, part)
            setattr(result, "hub_eps_rules_on" if rules else "hub_eps_rules_off", part.hub_eps)
            stack.stop_process("hub")
        stack.project_dir = demo_project
        progress("the whole demo project (rules, and OA's and WMS's databases captured for "
                 "divergence); waiting for the hub to catch up with OA and WMS")
        stack.start_hub()
        sampler.roots = [stack.processes["hub"].pid]
        sampler.start()
        wait_idle(stack.erp_url, stack.hub_url, timeout=600)
        progress(f"single edits at rest: {single_edits} edits, commit → golden → OA/WMS ack")
        project = load_project(stack.project_dir)
        measure_single_edits(stack, lambda e: sorted(project.entities[e].targets), single_edits, result)
        progress(f"hub: {changes} changes through capture, processing and propagation")
        measure_hub(stack, changes, result)
        paced = max(1000, changes // 5)
        progress(f"paced: {paced} changes at {PACED_RATE:.0f}/s for commit → golden latency")
        measure_paced(stack, paced, PACED_RATE, result)
    finally:
        sampler.stop()
        result.peak_rss_mb = sampler.peak_mb
        stack.stop()
    return result
