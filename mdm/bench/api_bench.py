"""`mdm bench --api`: requests per second and latency (p50/p99) of the hub's API for 1, 10 and
50 concurrent signed-in readers, on a demo stack of its own, while a crowd of strangers
(anonymous requests, answered 401) knocks at the same time in the 50-reader round."""
from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle

CONCURRENCY = (1, 10, 50)
READS = ("/api/v1/records/supplier/S0001", "/api/v1/status", "/api/v1/tasks?limit=20",
         "/api/v1/records/supplier?limit=50", "/api/v1/records/supplier/S0002/history?limit=10")
SEED = {"suppliers": 200, "materials": 500, "employees": 200, "customers": 100}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def _round(base: str, token: str, readers: int, requests: int, strangers: int) -> dict[str, Any]:
    """`readers` workers share `requests` reads; the figures of their answers."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    todo = iter(range(requests))
    limits = httpx.Limits(max_connections=readers + strangers, max_keepalive_connections=readers)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        signed = {"Authorization": f"Bearer {token}"}

        async def reader() -> None:
            for i in todo:
                started = time.perf_counter()
                try:
                    answer = await client.get(READS[i % len(READS)], headers=signed)
                    outcome = None if answer.status_code == 200 else str(answer.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                if outcome:
                    failures[outcome] = failures.get(outcome, 0) + 1

        async def stranger(stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    await client.get("/api/v1/status")
                except httpx.HTTPError:
                    pass

        stop = asyncio.Event()
        crowd = [asyncio.create_task(stranger(stop)) for _ in range(strangers)]
        started = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(readers)))
        wall = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*crowd)
    return {"rps": round(len(latencies) / wall, 1), "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "requests": len(latencies),
            "failed": failures, "strangers": strangers}


def run_api_bench(state_dir: Path, requests_per_reader: int, strangers: int,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    stack = DemoStack(state_dir / f"run-{int(time.time())}")
    try:
        progress("starting a demo stack of its own (PostgreSQL, OA, WMS, the hub)")
        stack.start_databases(False, True, **SEED)
        stack.start_targets()
        stack.start_hub()
        wait_idle(stack.erp_url, stack.hub_url, timeout=600)
        token = stack.token("bench.reader", "auditor")
        result: dict[str, Any] = {}
        asyncio.run(_round(stack.api_url, token, 4, 40, 0))  # warm up
        for readers in CONCURRENCY:
            crowd = strangers if readers == max(CONCURRENCY) else 0
            progress(f"{readers} concurrent reader(s)" + (f", {crowd} strangers knocking" if crowd else ""))
            result[str(readers)] = asyncio.run(_round(
                stack.api_url, token, readers, max(200, readers * requests_per_reader), crowd))
        return {"api": result}
    finally:
        stack.stop()
        stack.pg.remove()
