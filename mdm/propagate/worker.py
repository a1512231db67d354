"""The propagation process: one asyncio loop per target, woken by NOTIFY on the outbox.

A slow or failing target only slows its own loop: each target has its own connection,
HTTP client and concurrency limit.
"""
from __future__ import annotations

import asyncio
import logging
import threading

import psycopg

from mdm.config.loader import Project
from mdm.config.models import RestTarget
from mdm.propagate.outbox import OUTBOX_CHANNEL, Delivery, Outcome, claim_due, record_outcomes
from mdm.propagate.rest import RestPropagator
from mdm.rules.reconcile import reconcile_forever

logger = logging.getLogger(__name__)
CLAIM_LIMIT = 500
LOADED_BATCH = 100  # a claim this large means the hub is under load
LOADED_LINGER_S = 1.0


class TargetLoop:
    def __init__(self, target: RestTarget, project: Project, hub_url: str) -> None:
        self.target = target
        self.project = project
        self.hub_url = hub_url
        self.propagator = RestPropagator(target, project)
        self.wake = asyncio.Event()
        self.semaphore = asyncio.Semaphore(target.concurrency)

    async def _push(self, d: Delivery) -> Outcome:
        async with self.semaphore:
            return await self.propagator.deliver(d)

    async def run(self, stop: asyncio.Event) -> None:
        conn: psycopg.AsyncConnection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.hub_url, autocommit=False)
                    # A lost ack only means one more push with the same idempotency key.
                    await conn.execute("SET synchronous_commit = off")
                    await conn.commit()
                self.wake.clear()  # before the claim: a NOTIFY during the push is not lost
                due = await claim_due(conn, self.project, self.target.name, CLAIM_LIMIT)
                if due:
                    outcomes = await asyncio.gather(*(self._push(d) for d in due))
                    await record_outcomes(conn, outcomes, self.target.max_attempts,
                                          self.target.backoff)
                    acked = sum(o.acked for o in outcomes)
                    logger.info("pushed target=%s deliveries=%d acked=%d", self.target.name,
                                len(due), acked)
                    if len(due) >= LOADED_BATCH and await _inbox_busy(conn):
                        # Under load, let newer versions pile up and supersede older ones:
                        # fewer pushes of states that are already stale, more CPU for capture.
                        await _pause(stop, LOADED_LINGER_S)
                    if acked == len(due):
                        continue
                await self._sleep(stop, 1.0)
            except psycopg.OperationalError as exc:
                logger.warning("hub database unavailable target=%s: %s; retrying", self.target.name, exc)
                conn = None
                await self._sleep(stop, 1.0)
        await self.propagator.aclose()
        if conn is not None:
            await conn.close()

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), timeout=seconds)
        except TimeoutError:
            pass


async def _inbox_busy(conn: psycopg.AsyncConnection) -> bool:
    """True while processing still has change events to turn into versions."""
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM inbox WHERE status = 'pending')")
    row = await cur.fetchone()
    await conn.commit()
    return bool(row and row[0])


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _listen(hub_url: str, loops: list[TargetLoop], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(hub_url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                while not stop.is_set():
                    async for _ in conn.notifies(timeout=1.0):
                        for loop in loops:
                            loop.wake.set()
        except psycopg.OperationalError:
            await asyncio.sleep(1.0)


async def propagate_forever(project: Project, hub_url: str, stop_flag: threading.Event) -> None:
    targets = [t for t in project.targets.values() if isinstance(t, RestTarget)]
    stop = asyncio.Event()
    loops = [TargetLoop(t, project, hub_url) for t in targets]
    logger.info("propagation starting targets=%s", ",".join(t.name for t in targets))

    async def watch_stop() -> None:
        while not stop_flag.is_set():
            await asyncio.sleep(0.2)
        stop.set()
        for loop in loops:
            loop.wake.set()

    readers = [asyncio.to_thread(reconcile_forever, project, t, hub_url, stop_flag)
               for t in targets if t.reconcile is not None]
    await asyncio.gather(watch_stop(), _listen(hub_url, loops, stop), *(l.run(stop) for l in loops),
                         *readers)


def run_propagation(project: Project, hub_url: str, stop: threading.Event) -> None:
    asyncio.run(propagate_forever(project, hub_url, stop))
