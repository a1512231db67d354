"""`mdm bench --sources`: what a per-kind driver is. A driver sets up one source of its kind
(project files, its server or broker), sends the bench's events into it, and says where each
event's commit/send time comes from; mdm/bench/source_bench.py measures them all in one run.

Every driver writes the same document, one new record per event, into an entity of its own:
`id` (an integer key), `code`, `qty` (a decimal), `note` (Chinese text) and `sent_us` — the
bench's wall clock in microseconds at the moment it committed, POSTed, published or upserted
the event.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mdm.demo.stack import DemoStack

# Where the commit → golden clock starts: the version's cause_commit_ts (the source's own
# commit time, as captured) or the document's sent_us (the bench's clock at the send).
LatencyFrom = Literal["cause_commit_ts", "sent_us"]

ENTITY_FILE = """\
entity: {entity}
description: mdm bench --sources, {kind} ({what}).
source: {source}
table: {table}
primary_key: id
business_key: code
attributes:
  code: {{type: string, required: true}}
  qty: {{type: decimal}}
  note: {{type: string}}
  sent_us: {{type: integer}}
"""


def entity_file(entity: str, kind: str, what: str, source: str, table: str) -> str:
    return ENTITY_FILE.format(entity=entity, kind=kind, what=what, source=source, table=table)


def document(key: int, phase: str) -> dict[str, Any]:
    """The bench's event `key` as a document, stamped now (sent_us)."""
    return {"id": key, "code": f"{phase}{key:07d}", "qty": f"{key % 1000}.2500",
            "note": f"基准测试 {key}", "sent_us": now_us()}


def now_us() -> int:
    return time.time_ns() // 1000


def pace(rate: float | None) -> Callable[[int], None]:
    """A function called before event n (from 0) that sleeps until its turn at `rate` per
    second; with no rate it returns at once (a burst)."""
    started = time.monotonic()

    def wait(n: int) -> None:
        if rate:
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    return wait


class SourceDriver(Protocol):
    """One source kind's part of the bench."""

    kind: str  # the key in the JSON's "sources" (postgresql, mariadb, webhook, poll, queue)
    variant: str  # e.g. "amqp" for a queue; "" when the kind has one
    label: str  # the table's row label
    entity: str  # golden_records/<entity>.yaml, taking this source only
    latency_from: LatencyFrom
    note: str  # how the events are sent, and the setting that bounds the latency

    def unavailable(self) -> str | None:
        """Why this kind cannot run on this machine (a broker not listening …), or None."""

    def project_files(self) -> dict[str, str]:
        """Project-relative path → text: the source's cdc/ file and the entity's file."""

    def env(self) -> dict[str, str]:
        """The hub's environment for the source (its URLs and secrets)."""

    def start(self, stack: DemoStack) -> None:
        """Before the hub starts: the tables, server, queue or stream the source reads."""

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        """Send one event per key (a burst, or paced at `rate` per second); returns how many
        the source accepted (a refused POST is not counted)."""

    def stop(self) -> None:
        """After the hub stopped: remove what start made outside the stack."""


@dataclass
class KindFigures:
    """One driver's measured figures."""

    kind: str
    variant: str
    label: str
    events: int = 0  # burst events sent and accepted
    arrived: int = 0  # burst events with their golden version
    eps: float = 0.0
    burst_ms: dict[str, float] = field(default_factory=dict)
    paced_events: int = 0
    paced_arrived: int = 0
    paced_rate: float = 0.0
    commit_to_golden_ms: dict[str, float] = field(default_factory=dict)
    inbox_ms: dict[str, float] = field(default_factory=dict)  # the part until the inbox commit
    burst_inbox_ms: dict[str, float] = field(default_factory=dict)
    latency_from: str = ""
    note: str = ""
    unavailable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.unavailable is not None:
            return {"available": False, "why": self.unavailable}
        return {"eps": round(self.eps, 1), "commit_to_golden_ms": self.commit_to_golden_ms,
                "events": self.events, "arrived": self.arrived,
                "paced_events": self.paced_events, "paced_arrived": self.paced_arrived,
                "paced_rate_per_s": self.paced_rate,
                "commit_to_golden_burst_ms": self.burst_ms,
                "commit_to_inbox_ms": self.inbox_ms,
                "commit_to_inbox_burst_ms": self.burst_inbox_ms,
                "latency_from": self.latency_from, "note": self.note}
