"""`mdm bench --flows` on a demo stack of its own: flow 1 (OA approval → ERP purchase order
made by the hub → the PO number on the OA request) at rest, and the whole purchase → payment
chain under a load of documents.

At rest, requests go one at a time: each is created and submitted through OA's API and the hub
has absorbed OA's database (not timed), then it is approved and OA's database is polled every
5 ms until the PO number is on it. Under load, M requests are created and submitted first, then
approved in a burst or at a paced rate, and the bench plays the buyer, the warehouse and the
finance approver as each document shows up, pipelined, every human action straight in its
system's database (mdm/bench/flow_chain.py), until every chain shows 已付款 on OA; the chains
completed per minute are counted. Latencies come from PostgreSQL's own timestamps
(mdm/bench/flow_figures.py, flow_chain_figures.py), so the polling adds no error to them; the
polled figure at rest is a cross-check.
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

from mdm.bench.flow_chain import drive
from mdm.bench.flow_chain_figures import read_whole, whole_figures
from mdm.bench.flow_figures import latencies, read_chains
from mdm.bench.runner import percentiles
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed

SEED = {"suppliers": 20, "materials": 50, "employees": 20, "customers": 20}
POLL_AT_REST_S = 0.005
APPROVERS = 8  # requests created and submitted at once before the load
CHAIN_DEADLINE_S = 120.0  # one chain at rest
GOAL_P99_AT_REST_MS = 1000.0
CHAIN = "purchase_to_payment"
CHAIN_NOTE = ("under load, each request through the whole chain: OA approval → ERP PO (hub) → PO "
              "number on OA (hub) → the buyer releases the PO in the ERP → WMS pre-receipt (hub) "
              "→ the warehouse receives and completes the receipt → ERP stock-in (hub) and its "
              "payable (the ERP) → OA payment request (hub) → finance approves it in OA → ERP "
              "payment (hub) → 已付款 and the bank reference on OA (hub); chains_per_minute = "
              "completed chains × 60 / (last 已付款 on OA − first approval); the humans' actions "
              "are written straight in their system's database (mdm/bench/flow_chain.py)")
TIMESTAMPS = {
    "approval": "OA's approved_at: now() of the approval's one-UPDATE transaction (its start)",
    "erp_po": "the ERP's purchase_order.created_at: localtimestamp of the API's INSERT transaction",
    "oa_po_number": "OA's api_receipt.received_at of the hub's first PATCH of the request: "
                    "clock_timestamp() after its UPDATE, just before its commit",
    "wal_commit": "golden_version.cause_commit_ts: the commit instants in OA's WAL, as captured",
    "whole_chain": "released: now() of the buyer's UPDATE; WMS pre-receipt created_at; receipt "
                   "received_at; ERP stock_in.posted_at, payable.created_at, erp_payment.paid_at "
                   "(localtimestamp); OA payment request submitted_at, approved_at, and the "
                   "api_receipt.received_at of the hub's 已付款 write-back",
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


def under_load(stack: DemoStack, docs: Documents, count: int, rate: float, first: int,
               progress: Callable[[str], None]) -> dict[str, Any]:
    """M requests through the whole purchase → payment chain, the bench's humans pipelined
    (mdm/bench/flow_chain.py)."""
    dbs = {"oa": stack.pg.url("oa"), "erp": stack.erp_url, "wms": stack.pg.url("wms")}
    progress(f"under load: creating and submitting {count} requests (not timed)")
    with ThreadPoolExecutor(APPROVERS) as pool:
        numbers = list(pool.map(docs.submitted, range(first, first + count)))
    wait_observed(dbs["oa"], stack.hub_url, "oa", timeout=600)
    how = (f"paced at {rate:g}/s" if rate else "burst") + " (committed in OA's database)"
    progress(f"under load: approving {count} requests, {how}, and playing the buyer, the "
             "warehouse and finance as each document shows up")
    driven = drive(numbers, rate, dbs, progress)
    wait_observed(dbs["oa"], stack.hub_url, "oa", timeout=600)
    chains = read_chains(dbs["oa"], stack.erp_url, stack.hub_url, numbers)
    po_of = _po_of(stack.erp_url, numbers)
    whole = whole_figures(read_whole(chains, po_of, driven["released"], dbs), count)
    return {"requests": count, "approvals": how, "approvals_took_s": driven["approvals_took_s"],
            "stalled": driven["stalled"], "whole_chain": whole,
            "completed": whole["completed"], "chains_per_minute": whole["chains_per_minute"],
            "flow_1_completed": len(chains), **latencies(chains)}


def _po_of(erp_url: str, numbers: list[str]) -> dict[str, str]:
    """request_no → the ERP PO made for it."""
    with psycopg.connect(erp_url) as conn:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT request_no, min(po_no) FROM purchase_order WHERE request_no = ANY(%s) "
            "GROUP BY request_no", (numbers,))}


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
    whole = load["whole_chain"]
    return {"flows": {
        "chain": CHAIN, "chain_note": CHAIN_NOTE,
        "approval_to_oa_po_number_ms": rest["approval_to_oa_po_number_ms"],
        "chains_per_minute": load["chains_per_minute"],
        "chains_started": whole["started"], "chains_completed": whole["completed"],
        "goal_p99_at_rest_ms": GOAL_P99_AT_REST_MS, "goal_met": bool(p99 < GOAL_P99_AT_REST_MS),
        "at_rest": rest, "under_load": load, "timestamps": TIMESTAMPS,
        "load_average_1m": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)}}}
