"""What the fault scenarios measure: counts in the hub's delivery table while a fault plays
out (HubCounts), and afterwards, per target kind, what the hub attempted and delivered beside
what the target itself saw (duplicates, lost, out of order). Used by mdm/bench/faults.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from mdm.demo.receivers import count_received, drain_queue, read_stream
from mdm.demo.stack import DemoStack

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"
KINDS = {"rest": "oa", "sql": "oa_db", "amqp": "events", "nats": "stream"}


@dataclass
class Figures:
    attempted: int = 0
    delivered: int = 0
    duplicates_at_target: int = 0
    lost: int = 0
    out_of_order: int = 0
    dead: int = 0
    received: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Marks:
    """Where a scenario starts: the newest delivery id and the receipts each target held."""

    delivery: int
    rest: int
    sql: int
    nats: int


@dataclass(frozen=True)
class HubCounts:
    """Counts in the hub database, each read on a connection of its own (PostgreSQL may be
    restarted between two of them)."""

    hub_url: str

    def count(self, query: str, *params: Any) -> int:
        with psycopg.connect(self.hub_url) as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def acked(self, target: str) -> int:
        return self.count("SELECT count(*) FROM delivery WHERE target = %s AND status = 'acked'", target)

    def acked_since(self, mark: int) -> int:
        return self.count("SELECT count(*) FROM delivery WHERE id > %s AND status = 'acked'", mark)

    def failed_attempts(self, target: str, mark: int) -> int:
        """Deliveries since `mark` at `target` with a failed attempt on record."""
        return self.count("SELECT count(*) FROM delivery WHERE target = %s AND id > %s AND "
                          "(last_error IS NOT NULL OR attempts > 1 OR status IN ('failed', 'dead'))",
                          target, mark)

    def pending(self, target: str) -> int:
        return self.count("SELECT count(*) FROM delivery WHERE target = %s AND status IN "
                          "('pending', 'failed')", target)

    def versions(self) -> int:
        return self.count("SELECT count(*) FROM golden_version")

    def newest_dead(self, key: str) -> set[str]:
        """The targets where the newest golden version of employee `key` is dead."""
        with psycopg.connect(self.hub_url) as conn:
            found = conn.execute(
                "SELECT d.target FROM delivery d JOIN golden_record g ON g.id = d.golden_id "
                "AND g.version = d.version WHERE g.entity = 'employee' AND g.business_key = %s "
                "AND d.status = 'dead'", (key,)).fetchall()
        return {str(r[0]) for r in found}


def measure(stack: DemoStack, employees: list[tuple[int, str]], kind: str, marks: Marks,
            queue: str, stream: str) -> Figures:
    """The figures of one kind's target since `marks`."""
    target = KINDS[kind]
    keys = sorted({key for _, key in employees})
    with psycopg.connect(stack.hub_url) as hub:
        row = hub.execute(
            "SELECT coalesce(sum(attempts), 0), count(*) FILTER (WHERE status = 'acked'), "
            "count(*) FILTER (WHERE status = 'dead') FROM delivery "
            "WHERE target = %s AND entity = 'employee' AND id > %s",
            (target, marks.delivery)).fetchone()
        acked = hub.execute(
            "SELECT business_key, version FROM delivery WHERE target = %s AND entity = "
            "'employee' AND id > %s AND status = 'acked'", (target, marks.delivery)).fetchall()
        newest: dict[str, int] = dict(hub.execute(
            "SELECT g.business_key, g.version FROM golden_record g WHERE g.entity = 'employee' "
            "AND g.business_key = ANY(%s) AND EXISTS (SELECT 1 FROM delivery d WHERE "
            "d.golden_id = g.id AND d.target = %s AND d.id > %s) AND NOT EXISTS (SELECT 1 "
            "FROM delivery d WHERE d.golden_id = g.id AND d.version = g.version AND "
            "d.target = %s AND d.status = 'dead')",
            (keys, target, marks.delivery, target)).fetchall())
    attempted, delivered, dead = (int(v) for v in row) if row else (0, 0, 0)
    got = received(stack, kind, marks, queue, stream)
    duplicates, out_of_order, versions = count_received(got)
    lost = sum(1 for key, version in newest.items() if version not in versions.get(key, ()))
    lost += sum(1 for key, version in acked if version not in versions.get(key, ()))
    return Figures(attempted, delivered, duplicates, lost, out_of_order, dead, len(got))


def received(stack: DemoStack, kind: str, marks: Marks, queue: str,
             stream: str) -> list[tuple[str, int, str]]:
    """(key, version, message id) of every employee message the target took, in order."""
    if kind == "rest":
        with psycopg.connect(stack.pg.url("oa")) as conn:
            rows = conn.execute(
                "SELECT record_key, version, idempotency_key FROM api_receipt "
                "WHERE collection = 'staff' AND id > %s ORDER BY id", (marks.rest,)).fetchall()
        return [(str(k), int(v or 0), str(i)) for k, v, i in rows]
    if kind == "sql":  # no message id in a table: the same version written twice is a duplicate
        with psycopg.connect(stack.pg.url("oa")) as conn:
            rows = conn.execute("SELECT emp_no, version FROM fault_receipt WHERE id > %s "
                                "ORDER BY id", (marks.sql,)).fetchall()
        return [(str(k), int(v or 0), f"{k}-v{v}") for k, v in rows]
    messages = (drain_queue(AMQP_URL, queue) if kind == "amqp"
                else read_stream(NATS_URL, stream)[marks.nats:])
    return [(m["key"], int(m["version"]), str(m["message_id"])) for m in messages
            if m["entity"] == "employee"]
