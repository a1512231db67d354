"""Fault scenarios against one target of each kind, with figures measured at the targets.

One stack (the demo project with OA's REST API, OA's HR table over SQL, RabbitMQ and NATS
JetStream each behind a FaultProxy; WMS direct as the bystander) runs a scenario while the
ERP's employees are edited, then waits until the hub is idle and counts, per kind, what the
hub attempted and delivered and what the target saw: duplicates, records whose newest version
never arrived (lost) and versions that arrived after a newer one (out of order).
The counting is in fault_figures.py. Used by tests/integration/test_faults.py (which asserts
the zeros) and `mdm bench --faults`.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import yaml

from mdm.bench.fault_figures import AMQP_URL, KINDS, NATS_URL, Figures, HubCounts, Marks, measure
from mdm.bench.faultproxy import FaultProxy
from mdm.bench.project_files import without_sources
from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.receivers import bind_queue, drain_queue, read_stream
from mdm.demo.stack import DEMO_PROJECT, DemoStack
from mdm.demo.sync import wait_idle

logger = logging.getLogger(__name__)
SCENARIOS = ("target_down", "flaky", "rejected", "worker_killed", "postgres_restarted")
FAULT_TIMEOUT_S = 300.0  # a fault that has not happened by then never will
FAST_RETRY = {"timeout_s": 2, "max_attempts": 1000,
              "backoff": {"initial_ms": 50, "max_ms": 1000, "multiplier": 2.0}}
# The broker targets (as in examples/brokers/targets/, which a wheel does not ship), employees only.
BROKER_TARGETS: dict[str, dict[str, Any]] = {
    "events": {"kind": "amqp", "exchange_type": "topic"},
    "stream": {"kind": "nats"},
}
RECEIPT_SQL = """
CREATE TABLE IF NOT EXISTS fault_receipt (id bigserial PRIMARY KEY, emp_no text, version int);
CREATE OR REPLACE FUNCTION fault_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO fault_receipt (emp_no, version) VALUES (NEW.emp_no, NEW.mdm_version);
RETURN NEW; END $$;
DROP TRIGGER IF EXISTS fault_receipt ON oa_hr_employee;
CREATE TRIGGER fault_receipt AFTER INSERT OR UPDATE ON oa_hr_employee
FOR EACH ROW EXECUTE FUNCTION fault_receipt();
"""


class FaultLab:
    def __init__(self, state_dir: Path, seed: dict[str, int], outage_s: float = 6.0) -> None:
        self.state_dir = state_dir
        self.seed = seed
        self.outage_s = outage_s
        run = uuid.uuid4().hex[:8]
        self.exchange, self.queue, self.stream = f"mdm.fault.{run}", f"mdm.fault.{run}", f"MDMFAULT{run.upper()}"
        self.subject_prefix = f"mdmfault{run}"
        self.stack = DemoStack(state_dir / "stack", project_dir=self._project(state_dir / "project"))
        self.proxies: dict[str, FaultProxy] = {}
        self.employees: list[tuple[int, str]] = []
        self._counter = 0

    # -- set-up ------------------------------------------------------------------------------
    def _project(self, root: Path) -> Path:
        if root.exists():
            shutil.rmtree(root)
        for folder in PROJECT_FOLDERS:
            shutil.copytree(DEMO_PROJECT / folder, root / folder)
        # the scenarios are about delivery, not divergence nor the documents born there
        without_sources(root, {"oa", "wms"})
        self._edit(root / "targets/oa.yaml", base_url="${MDM_FAULT_REST_URL}")
        self._edit(root / "targets/oa_db.yaml", url="${MDM_FAULT_SQL_URL}")
        for name, url, extra in (
                ("events", "${MDM_FAULT_AMQP_URL}", {"exchange": self.exchange}),
                ("stream", "${MDM_FAULT_NATS_URL}", {"stream": self.stream,
                                                     "subject_prefix": self.subject_prefix})):
            target = {"name": name, **BROKER_TARGETS[name], "url": url,
                      "entities": {"employee": {}}, **extra, **FAST_RETRY}
            (root / f"targets/{name}.yaml").write_text(yaml.safe_dump(target), encoding="utf-8")
        return root

    @staticmethod
    def _edit(path: Path, **changes: Any) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data.update(FAST_RETRY, **changes)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def start(self, progress: Callable[[str], None] = lambda _: None) -> None:
        stack = self.stack
        progress("starting PostgreSQL, the ERP, OA and WMS")
        stack.start_databases(False, True, **self.seed)
        with psycopg.connect(stack.pg.url("oa"), autocommit=True) as conn:
            conn.execute(RECEIPT_SQL)
        stack.start_targets()
        upstream = {"rest": stack.oa_port, "sql": stack.pg.port, "amqp": 5672, "nats": 4222}
        for kind, port in upstream.items():
            self.proxies[kind] = FaultProxy(port, name=f"{kind} proxy")
            self.proxies[kind].start()
        sql_url = stack.pg.url("oa").replace(f":{stack.pg.port}/", f":{self.proxies['sql'].port}/")
        stack.extra_env = {
            "MDM_FAULT_REST_URL": f"http://127.0.0.1:{self.proxies['rest'].port}",
            "MDM_FAULT_SQL_URL": sql_url,
            "MDM_FAULT_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{self.proxies['amqp'].port}/",
            "MDM_FAULT_NATS_URL": f"nats://127.0.0.1:{self.proxies['nats'].port}",
        }
        bind_queue(AMQP_URL, self.exchange, self.queue)
        progress("starting the hub (initial snapshot to every target)")
        stack.start_hub()
        wait_idle(stack.erp_url, stack.hub_url, timeout=600)
        with psycopg.connect(stack.erp_url) as conn:
            self.employees = [(int(r[0]), str(r[1])) for r in conn.execute(
                "SELECT id, code FROM employee ORDER BY id").fetchall()]

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.stack.stop()
        try:
            drain_queue(AMQP_URL, self.queue, delete=True)
            read_stream(NATS_URL, self.stream, delete=True)
        except Exception as exc:  # noqa: BLE001 — best effort; the broker may be gone
            logger.warning("fault lab cleanup: %s", exc)
        self.stack.pg.remove()

    # -- a scenario --------------------------------------------------------------------------
    def run(self, scenario: str, changes: int, rate: float) -> dict[str, Figures]:
        """Edit at least `changes` employee rows at `rate` per second while the fault plays
        out; wait until everything is delivered (or dead); return the figures per target kind.

        Each fault waits for the condition it needs (edits flowing, a batch in flight, the
        failed attempts it is about) rather than for a fixed time, and the edits go on until
        the fault is over, so the fault happens whatever the machine's speed.
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        marks = self._marks()
        drain_queue(AMQP_URL, self.queue)  # what arrived before this scenario is not counted
        self.extra: dict[str, Any] = {}
        self._written = 0
        self._fault_over = threading.Event()
        self._writer = threading.Thread(target=self._edit_employees, args=(changes, rate))
        self._writer.start()
        try:
            getattr(self, f"_{scenario}")(marks)
        finally:
            self._fault_over.set()
            self._writer.join()
            self._all_clear()
        wait_idle(self.stack.erp_url, self.stack.hub_url, timeout=600)
        return {kind: measure(self.stack, self.employees, kind, marks, self.queue, self.stream)
                for kind in KINDS}

    def _edit_employees(self, changes: int, rate: float) -> None:
        """Idempotent edits (each sets a value), re-run after a lost connection: PostgreSQL
        may be restarted underneath. At least `changes` edits, and on until the fault is over
        (bounded: ten times `changes` at most)."""
        started = time.monotonic()
        conn: psycopg.Connection | None = None
        try:
            while self._written < changes or (not self._fault_over.is_set()
                                              and self._written < 10 * changes):
                self._counter += 1
                emp_id, _ = self.employees[self._counter % len(self.employees)]
                mobile = f"139{self._counter % 10**8:08d}"
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.stack.erp_url, autocommit=True, connect_timeout=5)
                    conn.execute("UPDATE employee SET mobile = %s WHERE id = %s", (mobile, emp_id))
                except psycopg.OperationalError:
                    conn = None
                    time.sleep(0.5)
                    continue
                self._written += 1
                delay = started + self._written / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        finally:
            if conn is not None:
                conn.close()

    def _marks(self) -> Marks:
        stack = self.stack
        with psycopg.connect(stack.hub_url) as hub, psycopg.connect(stack.pg.url("oa")) as oa:
            delivery = hub.execute("SELECT coalesce(max(id), 0) FROM delivery").fetchone()
            rest = oa.execute("SELECT coalesce(max(id), 0) FROM api_receipt").fetchone()
            sql = oa.execute("SELECT coalesce(max(id), 0) FROM fault_receipt").fetchone()
        stream = read_stream(NATS_URL, self.stream)
        return Marks(int(delivery[0]) if delivery else 0, int(rest[0]) if rest else 0,
                     int(sql[0]) if sql else 0, len(stream))

    def _until(self, what: str, condition: Callable[[], bool], timeout: float = FAULT_TIMEOUT_S) -> None:
        """Wait for `condition`, polling; a fault that cannot happen is an error, not a pass."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"fault scenario: {what} did not happen within {timeout:.0f} s")
            time.sleep(0.1)

    def _edits_flowing(self, marks: Marks, at_least: int = 20) -> None:
        """Edits are being written and the hub is delivering them."""
        self._until(f"{at_least} edits written", lambda: self._written >= at_least)
        self._until("a delivery of this scenario acked",
                    lambda: self._hub.acked_since(marks.delivery) > 0)

    # -- the faults ----------------------------------------------------------------------------
    def _target_down(self, marks: Marks) -> None:
        """Every proxied target goes down, for at least `outage_s` and until each has failed
        an attempt; then it comes back. WMS (direct) must keep receiving meanwhile: a dead
        target slows only its own loop."""
        self._edits_flowing(marks)
        for proxy in self.proxies.values():
            proxy.set("down")
        down_at = time.monotonic()
        failed_before = {t: self._hub.failed_attempts(t, marks.delivery) for t in KINDS.values()}
        before, versions = self._hub.acked("wms"), self._hub.versions()
        self._until("an attempt failed at every proxied target, WMS acked and golden moved on",
                    lambda: time.monotonic() - down_at >= self.outage_s
                    and all(self._hub.failed_attempts(t, marks.delivery) > failed_before[t]
                            for t in KINDS.values())
                    and self._hub.acked("wms") > before and self._hub.versions() > versions)
        self.extra["bystander_acked_during_outage"] = self._hub.acked("wms") - before
        self.extra["golden_versions_during_outage"] = self._hub.versions() - versions
        for proxy in self.proxies.values():
            proxy.set("up")

    def _flaky(self, marks: Marks) -> None:
        """Connections cut and stalled past the timeout; OA answers 500 to one call in six.
        Lasts until connections were cut and OA's 500s were retried, and the edits are done."""
        self._arm_rest({"fail_next": 10**6, "status": 500, "rate": 0.17})
        for proxy in self.proxies.values():
            proxy.set("flaky", cut_rate=0.03, stall_rate=0.03, stall_s=3.0)
        self._until("connections cut and a 500 from OA retried",
                    lambda: sum(p.cuts for p in self.proxies.values()) > 0
                    and self._hub.failed_attempts("oa", marks.delivery) > 0)
        self.extra["connections_cut"] = sum(p.cuts for p in self.proxies.values())

    def _rejected(self, marks: Marks) -> None:
        """One employee is refused for good: OA's API answers 422 for it, OA's HR table has a
        CHECK it fails. Its newest version goes dead there with a task (the refusal holds
        until it has); everyone else flows on."""
        emp_id, key = self.employees[len(self.employees) // 2]
        self.extra["rejected_key"] = key
        self._arm_rest({"fail_next": 10**6, "status": 422, "keys": [key]})
        with psycopg.connect(self.stack.pg.url("oa"), autocommit=True) as conn:
            conn.execute("ALTER TABLE oa_hr_employee DROP CONSTRAINT IF EXISTS fault_reject")
            conn.execute(f"ALTER TABLE oa_hr_employee ADD CONSTRAINT fault_reject "
                         f"CHECK (emp_no <> '{key}') NOT VALID")
        with psycopg.connect(self.stack.erp_url, autocommit=True) as conn:  # edited whatever the rotation
            conn.execute("UPDATE employee SET mobile = '13900000000' WHERE id = %s", (emp_id,))
        self._edits_flowing(marks)
        self._fault_over.set()  # the edits end; then the newest version is the one to see dead
        self._writer.join()
        wait_idle(self.stack.erp_url, self.stack.hub_url, timeout=FAULT_TIMEOUT_S)
        self._until(f"the newest version of {key} dead at OA's API and OA's HR table",
                    lambda: self._hub.newest_dead(key) == {"oa", "oa_db"})

    def _worker_killed(self, marks: Marks) -> None:
        """kill -9 of the propagation process, three times, each while OA holds a call 150 ms
        (a batch in flight); the supervisor starts a new one."""
        self._arm_rest({"fail_next": 10**6, "status": 0, "delay_ms": 150})
        self._edits_flowing(marks)
        kills = 0
        for _ in range(3):
            process = self._wait_role("propagate", 120)
            self._until("a call to OA in flight", self._call_in_flight)
            process.kill()
            process.wait(30)  # gone, so the next wait finds the restarted one
            kills += 1
        self._wait_role("propagate", 120)
        self._until("deliveries acked after the last kill",
                    lambda: self._hub.acked_since(marks.delivery) > 0)
        self.extra["kills"] = kills

    def _postgres_restarted(self, marks: Marks) -> None:
        """PostgreSQL (hub, ERP and OA's database alike) stopped in immediate mode — a crash —
        mid-stream, started again on the same port; the edits go on after it is back."""
        self._edits_flowing(marks)
        pg = self.stack.pg
        port = pg.port
        pg.stop("immediate")
        written = self._written
        pg.start(port)
        self._until("edits written after the restart", lambda: self._written > written + 20)
        self.extra["restarts"] = 1

    def _all_clear(self) -> None:
        for proxy in self.proxies.values():
            proxy.set("up")
        self._arm_rest({"fail_next": 0})
        with psycopg.connect(self.stack.pg.url("oa"), autocommit=True) as conn:
            conn.execute("ALTER TABLE oa_hr_employee DROP CONSTRAINT IF EXISTS fault_reject")

    def _arm_rest(self, spec: dict[str, Any]) -> None:
        httpx.post(f"{self.stack.oa_url}/_faults", json=spec, timeout=10).raise_for_status()

    @property
    def _hub(self) -> HubCounts:
        return HubCounts(self.stack.hub_url)

    def _call_in_flight(self) -> bool:
        """Whether the REST proxy holds an open connection with a call OA is delaying."""
        return self.proxies["rest"].open_connections() > 0 and self._hub.pending("oa") > 0

    def _role_process(self, role: str) -> psutil.Process | None:
        hub = self.stack.processes.get("hub")
        if hub is None:
            return None
        for child in psutil.Process(hub.pid).children():
            try:
                if child.cmdline()[3:5] == ["run", role]:  # python -m mdm.cli.main run ROLE
                    return child
            except psutil.Error:
                continue
        return None

    def _wait_role(self, role: str, timeout: float) -> psutil.Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self._role_process(role)
            if process is not None:
                return process
            time.sleep(0.2)
        raise TimeoutError(f"the supervisor did not restart {role} within {timeout:.0f}s")

    # -- throughput ----------------------------------------------------------------------------
    def deliveries_per_s(self, kind: str) -> tuple[int, float]:
        """Re-send every employee to the kind's target; (deliveries, per second until acked)."""
        from mdm.config.loader import load_project
        from mdm.propagate.replay import replay

        project = load_project(self.stack.project_dir)
        target = KINDS[kind]
        if kind == "amqp":
            drain_queue(AMQP_URL, self.queue)
        with psycopg.connect(self.stack.hub_url, autocommit=True) as conn:
            started = time.monotonic()
            queued = replay(conn, project, "employee", target).queued
            while True:
                row = conn.execute("SELECT count(*) FROM delivery WHERE target = %s AND status "
                                   "IN ('pending', 'failed')", (target,)).fetchone()
                if row and row[0] == 0:
                    break
                if time.monotonic() - started > 600:
                    raise TimeoutError(f"{target}: replay not delivered within 600 s")
                time.sleep(0.02)
        elapsed = time.monotonic() - started
        if kind == "amqp":
            drain_queue(AMQP_URL, self.queue)
        return queued, queued / elapsed if elapsed > 0 else 0.0
