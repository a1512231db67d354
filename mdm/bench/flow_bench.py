"""`mdm bench --flows`: flow 1 (OA approval → ERP purchase order made by the hub → the PO number
on the OA request) on a demo stack of its own, at rest and under a load of documents.

At rest, requests go one at a time: each is created and submitted through OA's API and the hub
has absorbed OA's database (not timed), then it is approved and OA's database is polled every
5 ms until the PO number is on it. Under load, M requests are created and submitted first, then
approved in a burst or at a paced rate, straight in OA's database (the UPDATE OA's API runs, one
transaction each, so the bench's own calls do not queue in the demo targets process in front of
the ERP's API the hub calls), and the chains completed per minute are counted. Latencies come from PostgreSQL's own timestamps (mdm/bench/flow_figures.py), so
the polling adds no error to them; the polled figure at rest is a cross-check.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from mdm.bench.flow_figures import latencies, per_minute, read_chains
from mdm.bench.runner import percentiles
from mdm.demo.oa_requests import TRANSITIONS
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed

SEED = {"suppliers": 20, "materials": 50, "employees": 20, "customers": 20}
POLL_AT_REST_S = 0.005
POLL_UNDER_LOAD_S = 0.05
APPROVERS = 8  # requests created and submitted at once before the load
CHAIN_DEADLINE_S = 120.0  # one chain at rest
GOAL_P99_AT_REST_MS = 1000.0
CHAIN = "approval_to_po_number"
CHAIN_NOTE = ("flow 1 only: OA approval → ERP purchase order → the PO number on the OA request; "
              "the whole purchase → payment chain is counted once its later flows exist")
TIMESTAMPS = {
    "approval": "OA's approved_at: now() of the approval's one-UPDATE transaction (its start)",
    "erp_po": "the ERP's purchase_order.created_at: localtimestamp of the API's INSERT transaction",
    "oa_po_number": "OA's api_receipt.received_at of the hub's first PATCH of the request: "
                    "clock_timestamp() after its UPDATE, just before its commit",
    "wal_commit": "golden_version.cause_commit_ts: the commit instants in OA's WAL, as captured",
}


class Documents:
    """Purchase requests made through OA's API, for active ERP suppliers and materials."""

    def __init__(self, stack: DemoStack) -> None:
        with psycopg.connect(stack.erp_url) as conn:
            self.vendors = [r[0] for r in conn.execute("SELECT code FROM supplier WHERE active ORDER BY code")]
            self.materials = [r[0] for r in conn.execute("SELECT code FROM material WHERE active ORDER BY code")]
        self.client = httpx.Client(base_url=stack.oa_url, timeout=60,
                                   limits=httpx.Limits(max_connections=APPROVERS))
        self.needed_by = (date.today() + timedelta(days=14)).isoformat()

    def submitted(self, n: int) -> str:
        """Request number n, created and submitted; its request number."""
        lines = [{"material_code": self.materials[(n * 3 + k) % len(self.materials)],
                  "quantity": f"{1 + (n + k) % 40}.5", "unit_price": f"{3 + k}.{n % 10000:04d}",
                  "needed_by": self.needed_by} for k in range(1 + n % 3)]
        body = {"title": f"bench 采购申请 {n}", "requester": "E0003", "dept_code": "D01",
                "vendor_code": self.vendors[n % len(self.vendors)], "lines": lines}
        number = str(self._post("/api/purchase-requests", body, 201)["request_no"])
        self._post(f"/api/purchase-requests/{number}/submit", {}, 200)
        return number

    def close(self) -> None:
        self.client.close()

    def approve(self, number: str) -> None:
        self._post(f"/api/purchase-requests/{number}/approve",
                   {"approver": "王经理", "comment": "bench"}, 200)

    def _post(self, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        answer = self.client.post(path, json=body)
        if answer.status_code != status:
            raise RuntimeError(f"OA answered {answer.status_code} to POST {path}: {answer.text}")
        return dict(answer.json())


def _poll_po_number(conn: psycopg.Connection[Any], number: str, interval: float,
                    timeout: float) -> float | None:
    """The server clock (epoch s) at the first read that shows the request's PO number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT po_no IS NOT NULL, extract(epoch FROM clock_timestamp()) "
                           "FROM oa_purchase_request WHERE request_no = %s", (number,)).fetchone()
        if row and row[0]:
            return float(row[1])
        time.sleep(interval)
    return None


def at_rest(stack: DemoStack, docs: Documents, count: int,
            progress: Callable[[str], None]) -> dict[str, Any]:
    oa_db = stack.pg.url("oa")
    seen: dict[str, float] = {}
    numbers = []
    with psycopg.connect(oa_db, autocommit=True) as conn:
        for n in range(count):
            number = docs.submitted(n)
            numbers.append(number)
            wait_observed(oa_db, stack.hub_url, "oa", timeout=120)  # the hub is idle again
            docs.approve(number)
            found = _poll_po_number(conn, number, POLL_AT_REST_S, CHAIN_DEADLINE_S)
            if found is not None:
                seen[number] = found
            if (n + 1) % 10 == 0:
                progress(f"at rest: {n + 1} of {count} chains")
    wait_observed(oa_db, stack.hub_url, "oa", timeout=120)  # the write-backs' WAL commits too
    chains = read_chains(oa_db, stack.erp_url, stack.hub_url, numbers)
    polled = [(seen[c.request_no] - c.approved) * 1000 for c in chains if c.request_no in seen]
    return {"requests": count, "completed": len(chains), **latencies(chains),
            "polled_approval_to_oa_po_number_ms": {**percentiles(polled), "count": len(polled)},
            "poll_interval_ms": POLL_AT_REST_S * 1000}


def _approve_all(oa_db: str, numbers: list[str], rate: float) -> float:
    """Approve every request straight in OA's database, each in a transaction of its own with
    the UPDATE OA's API runs (so the bench's own calls do not queue in the targets process in
    front of the ERP's API), at `rate` per second (0: one after the other, at once); the
    seconds it took."""
    source, target, sets = TRANSITIONS["approve"]
    query = (f"UPDATE oa_purchase_request SET status = %(target)s, {sets}, updated_at = now() "
             "WHERE request_no = %(no)s AND status = %(source)s")
    started = time.monotonic()
    with psycopg.connect(oa_db, autocommit=True) as conn:
        for i, number in enumerate(numbers):
            if rate and (ahead := started + i / rate - time.monotonic()) > 0:
                time.sleep(ahead)
            done = conn.execute(query, {"no": number, "source": source, "target": target,
                                        "approver": "王经理", "comment": "bench"})
            if done.rowcount != 1:
                raise RuntimeError(f"request {number} was not submitted: not approved")
    return time.monotonic() - started


def _wait_po_numbers(oa_db: str, numbers: list[str], timeout: float) -> int:
    """Until every request shows its PO number, or `timeout`; how many do."""
    deadline = time.monotonic() + timeout
    done = 0
    with psycopg.connect(oa_db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM oa_purchase_request WHERE request_no = ANY(%s) "
                               "AND po_no IS NOT NULL", (numbers,)).fetchone()
            done = int(row[0]) if row else 0
            if done == len(numbers):
                break
            time.sleep(POLL_UNDER_LOAD_S)
    return done


def under_load(stack: DemoStack, docs: Documents, count: int, rate: float, first: int,
               progress: Callable[[str], None]) -> dict[str, Any]:
    oa_db = stack.pg.url("oa")
    progress(f"under load: creating and submitting {count} requests (not timed)")
    with ThreadPoolExecutor(APPROVERS) as pool:
        numbers = list(pool.map(docs.submitted, range(first, first + count)))
    wait_observed(oa_db, stack.hub_url, "oa", timeout=600)
    how = (f"paced at {rate:g}/s" if rate else "burst") + " (committed in OA's database)"
    progress(f"under load: approving {count} requests, {how}")
    approving_s = _approve_all(oa_db, numbers, rate)
    _wait_po_numbers(oa_db, numbers, timeout=max(600.0, count * 2.0))
    wait_observed(oa_db, stack.hub_url, "oa", timeout=600)
    chains = read_chains(oa_db, stack.erp_url, stack.hub_url, numbers)
    cpm, span = per_minute(chains)
    return {"requests": count, "approvals": how, "approvals_took_s": round(approving_s, 2),
            "completed": len(chains), "first_approval_to_last_po_number_s": span,
            "chains_per_minute": cpm, **latencies(chains)}


def run_flow_bench(state_dir: Path, rest_count: int, load_count: int, rate: float,
                   progress: Callable[[str], None]) -> dict[str, Any]:
    stack = DemoStack(state_dir / f"run-{int(time.time())}")
    load_before = os.getloadavg()[0]  # other work on the machine meanwhile, for the record
    try:
        progress("starting a demo stack of its own (PostgreSQL, OA, WMS, the ERP's API, the hub)")
        stack.start_databases(True, True, **SEED)
        stack.start_targets(niceness=10)  # stands for OA and the ERP on machines of their own
        stack.start_hub()
        wait_idle(stack.erp_url, stack.hub_url, timeout=600)
        docs = Documents(stack)
        try:
            progress(f"at rest: {rest_count} requests one at a time, approval → PO number on OA")
            rest = at_rest(stack, docs, rest_count, progress)
            load = under_load(stack, docs, load_count, rate, rest_count, progress)
        finally:
            docs.close()
    finally:
        stack.stop()
        stack.pg.remove()
    p99 = rest["approval_to_oa_po_number_ms"]["p99"]
    return {"flows": {
        "chain": CHAIN, "chain_note": CHAIN_NOTE,
        "approval_to_oa_po_number_ms": rest["approval_to_oa_po_number_ms"],
        "chains_per_minute": load["chains_per_minute"],
        "goal_p99_at_rest_ms": GOAL_P99_AT_REST_MS, "goal_met": bool(p99 < GOAL_P99_AT_REST_MS),
        "at_rest": rest, "under_load": load, "timestamps": TIMESTAMPS,
        "load_average_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}}}
