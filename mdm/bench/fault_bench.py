"""`mdm bench --faults`: every fault scenario against a target of each kind, then delivery
throughput per kind, in one run; figures per scenario as the issue defines them."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mdm.bench.fault_figures import KINDS
from mdm.bench.faults import SCENARIOS, FaultLab
from mdm.errors import RuntimeSetupError

BROKERS = {"RabbitMQ": 5672, "NATS JetStream": 4222}


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def require_brokers() -> None:
    for name, port in BROKERS.items():
        if not listening(port):
            service = "rabbitmq-server" if port == 5672 else "nats-server"
            raise RuntimeSetupError(
                f"{name} is not listening on 127.0.0.1:{port}; the fault bench publishes to "
                f"a real broker (start it, e.g. 'service {service} start')")


def run_fault_bench(state_dir: Path, changes: int, rate: float, employees: int,
                    progress: Callable[[str], None]) -> dict[str, Any]:
    require_brokers()
    seed = {"suppliers": 20, "materials": 50, "employees": employees, "customers": 20}
    lab = FaultLab(state_dir / f"run-{int(time.time())}", seed, outage_s=10.0)
    result: dict[str, Any] = {"changes_per_scenario": changes, "rate_per_s": rate,
                              "faults": {}, "deliveries_per_s": {}, "deliveries_measured": {}}
    try:
        lab.start(progress)
        for scenario in SCENARIOS:
            progress(f"scenario {scenario}: {changes:,} employee edits at {rate:.0f}/s")
            by_kind = lab.run(scenario, changes, rate)
            totals = {field: sum(getattr(f, field) for f in by_kind.values())
                      for field in ("attempted", "delivered", "duplicates_at_target", "lost",
                                    "out_of_order", "dead", "received")}
            result["faults"][scenario] = {**totals, "by_kind": {k: f.as_dict() for k, f in by_kind.items()},
                                          "notes": dict(lab.extra)}
        for kind in KINDS:
            progress(f"throughput: every employee re-sent to the {kind} target")
            count, per_s = lab.deliveries_per_s(kind)
            result["deliveries_per_s"][kind] = round(per_s, 1)
            result["deliveries_measured"][kind] = count
    finally:
        lab.stop()
    return result
