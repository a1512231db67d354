"""Crash safety: kill -9 of the hub mid-stream loses no change and duplicates no version;
a redelivered change event changes nothing."""
from __future__ import annotations

import threading

import psycopg

from mdm.capture.inbox import append_events
from mdm.capture.models import ChangeEvent
from mdm.config.loader import load_project
from mdm.demo.sync import wait_drained, wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.helpers import convergence_problems, eventually, rows, target_databases

PROJECT = load_project(REPO_ROOT)


class Writer(threading.Thread):
    """ERP transactions in a stream: at least `minimum`, and on until `stop` is set plus
    `after` more, so a kill made meanwhile lands mid-stream however fast the machine is."""

    def __init__(self, erp_url: str, minimum: int, after: int) -> None:
        super().__init__()
        self.erp_url, self.minimum, self.after = erp_url, minimum, after
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        with psycopg.connect(self.erp_url) as conn:
            stopped_at: int | None = None
            while self.written < self.minimum or stopped_at is None or self.written < stopped_at + self.after:
                if stopped_at is None and self.stop.is_set():
                    stopped_at = self.written
                n = self.written
                conn.execute("UPDATE material SET standard_price = standard_price + 1 WHERE id = %s", (1 + n % 40,))
                conn.execute("UPDATE customer SET name = %s WHERE id = %s", (f"客户{n}", 1 + n % 15))
                conn.commit()
                self.written += 1


def _duplicated_versions(hub_url: str) -> list[dict]:
    return rows(hub_url, """
        SELECT golden_id, cause_tx_id, count(*) FROM golden_version
        WHERE cause_kind = 'change_event'
        GROUP BY golden_id, cause_source, cause_tx_id HAVING count(*) > 1""")


def _gaps(hub_url: str) -> list[dict]:
    return rows(hub_url, """
        SELECT g.id, g.version, count(v.version) AS versions FROM golden_record g
        JOIN golden_version v ON v.golden_id = g.id GROUP BY g.id, g.version
        HAVING count(v.version) <> g.version OR max(v.version) <> g.version""")


def test_kill_9_mid_stream_loses_nothing_and_duplicates_nothing(stack):
    snapshot_reads = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'r'")[0]["n"]
    captured_before = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'u'")[0]["n"]
    writer = Writer(stack.erp_url, minimum=1500, after=300)
    writer.start()
    # the kill lands once the stream is being captured, and the writer goes on past it
    assert eventually(lambda: rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'u'")[0]["n"]
                      > captured_before + 100, timeout=180), "capture never saw the stream"
    stack.kill_hub()  # supervisor and its children, no chance to clean up
    writer.stop.set()
    writer.join()
    stack.start_hub()
    wait_idle(stack.erp_url, stack.hub_url, timeout=300)
    # durable offsets: the restarted capture resumed streaming, it did not snapshot again
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'r'")[0]["n"] == snapshot_reads
    problems = convergence_problems(PROJECT, stack.erp_url, stack.hub_url,
                                    target_databases(stack))
    assert problems == [], "\n".join(problems[:20])
    assert _duplicated_versions(stack.hub_url) == []
    assert _gaps(stack.hub_url) == []
    # every ERP transaction that changed a customer's name left exactly one version
    names = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version WHERE entity = 'customer' "
                                "AND cause_op = 'u' AND attributes->>'name' LIKE '客户%%'")[0]["n"]
    assert names == writer.written


def test_redelivered_event_changes_nothing(stack):
    wait_idle(stack.erp_url, stack.hub_url)
    before = rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"]
    deliveries = rows(stack.hub_url, "SELECT count(*) AS n FROM delivery")[0]["n"]
    last = rows(stack.hub_url, "SELECT * FROM inbox WHERE status = 'done' AND op = 'u' ORDER BY id DESC LIMIT 1")[0]
    event = ChangeEvent(source=last["source"], table=last["table_name"], op=last["op"],
                        row_key=last["row_key"], position=last["position"], before=last["before"],
                        after=last["after"], tx_id=last["tx_id"], lsn=last["lsn"],
                        commit_ts=last["commit_ts"], is_snapshot=False)
    with psycopg.connect(stack.hub_url) as conn:
        assert append_events(conn, "erp", [event]) == 0  # the inbox dedupes it
        # and even processed a second time, it makes no version and no delivery
        conn.execute("UPDATE inbox SET status = 'pending' WHERE id = %s", (last["id"],))
        conn.execute("NOTIFY mdm_inbox")
        conn.commit()
    wait_drained(stack.hub_url)
    assert rows(stack.hub_url, "SELECT status FROM inbox WHERE id = %s", (last["id"],))[0]["status"] == "done"
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM golden_version")[0]["n"] == before
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM delivery")[0]["n"] == deliveries


def test_lost_replication_slot_is_recovered_by_a_new_snapshot(stack):
    """If the slot is gone (dropped by a DBA, or invalidated for retaining too much WAL),
    capture re-snapshots (snapshot.mode=when_needed) and the hub converges again."""
    stack.stop_process("hub")
    with psycopg.connect(stack.erp_url, autocommit=True) as conn:
        conn.execute("UPDATE supplier SET name = '停机期间更名' WHERE code = 'S0005'")
        # a row whose mirror holds a streaming position: the new snapshot must still win
        conn.execute("UPDATE material SET standard_price = 1.2345 WHERE id = 1")
        conn.execute("SELECT pg_drop_replication_slot('mdm_erp')")
    snapshot_reads = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'r'")[0]["n"]
    stack.start_hub()
    wait_idle(stack.erp_url, stack.hub_url, timeout=300)
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE op = 'r'")[0]["n"] > snapshot_reads
    problems = convergence_problems(PROJECT, stack.erp_url, stack.hub_url,
                                    target_databases(stack))
    assert problems == [], "\n".join(problems[:20])
    assert _duplicated_versions(stack.hub_url) == [] and _gaps(stack.hub_url) == []
