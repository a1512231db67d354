"""Wait until the pipeline has absorbed everything committed so far (tests, bench, demo).

A transactional logical-decoding message written to the ERP after the changes of interest
travels through the replication stream behind them; once capture has seen its LSN, every
earlier commit is in the inbox. Then wait for the inbox and the outbox to drain.
"""
from __future__ import annotations

import time

import psycopg


def emit_marker(erp_url: str, prefix: str = "mdm-sync") -> int:
    """Write a marker into the ERP's WAL; return its LSN as an integer."""
    with psycopg.connect(erp_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_logical_emit_message(true, %s, clock_timestamp()::text) - '0/0'::pg_lsn",
            (prefix,)).fetchone()
    assert row is not None
    return int(row[0])


def wait_captured(hub_url: str, lsn: int, timeout: float = 120.0, source: str = "erp") -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(hub_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT last_lsn FROM capture_state WHERE source = %s", (source,)).fetchone()
            if row and row[0] is not None and row[0] >= lsn:
                return
            time.sleep(0.05)
    raise TimeoutError(f"capture did not reach LSN {lsn} within {timeout:.0f}s")


def wait_drained(hub_url: str, timeout: float = 120.0, outbox: bool = True) -> None:
    """Until no inbox row is pending and (optionally) no delivery is pending or failed."""
    deadline = time.monotonic() + timeout
    query = ("SELECT (SELECT count(*) FROM inbox WHERE status = 'pending')"
             + (" + (SELECT count(*) FROM delivery WHERE status IN ('pending', 'failed'))" if outbox else ""))
    with psycopg.connect(hub_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query).fetchone()
            if row and row[0] == 0:
                return
            time.sleep(0.05)
    raise TimeoutError(f"pipeline did not drain within {timeout:.0f}s")


def wait_idle(erp_url: str, hub_url: str, timeout: float = 120.0, outbox: bool = True) -> None:
    """Everything committed to the ERP before this call is golden (and delivered)."""
    started = time.monotonic()
    wait_captured(hub_url, emit_marker(erp_url), timeout)
    wait_drained(hub_url, max(1.0, timeout - (time.monotonic() - started)), outbox)


DEMO_ENTITIES = ("supplier", "material", "customer", "employee", "department")


def erp_main_rows(erp_url: str) -> dict[str, int]:
    """Rows of the demo ERP's main tables by entity: one golden record each once the
    snapshot is in."""
    counts = {}
    with psycopg.connect(erp_url) as conn:
        for entity in DEMO_ENTITIES:
            row = conn.execute(f"SELECT count(*) FROM {entity}").fetchone()
            counts[entity] = int(row[0]) if row else 0
    return counts


def sync_progress(hub_url: str) -> tuple[int, int, int]:
    """(golden records, records acked per target, open deliveries) for the demo's progress bars."""
    with psycopg.connect(hub_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM golden_record), "
            "(SELECT count(DISTINCT (golden_id, target)) FROM delivery WHERE status = 'acked'), "
            "(SELECT count(*) FROM delivery WHERE status IN ('pending', 'failed'))").fetchone()
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def wait_observed(db_url: str, hub_url: str, source: str, timeout: float = 60.0) -> None:
    """Everything committed to a target's own database (captured as `source`) before this
    call has been compared with the golden records."""
    started = time.monotonic()
    wait_captured(hub_url, emit_marker(db_url), timeout, source=source)
    wait_drained(hub_url, max(1.0, timeout - (time.monotonic() - started)), outbox=False)
