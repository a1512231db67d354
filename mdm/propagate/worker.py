"""The propagation process: one asyncio loop per target, woken by NOTIFY on the outbox.

A slow or failing target only slows its own loop: each target has its own connection,
client (HTTP, database, broker), concurrency limit and rate limit. A fault in one loop (a
target that cannot be opened, an answer the hub cannot record, a propagator's bug) is logged
and retried in that loop alone; it never ends the process, so it never stops the others.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable

import psycopg

from mdm.config.loader import Project
from mdm.config.references import is_awaited_elsewhere
from mdm.config.targets import AnyTarget
from mdm.propagate.base import Propagator, RateLimiter, failed, open_propagator
from mdm.model.deliveries import OUTBOX_CHANNEL, Delivery, Outcome
from mdm.propagate.outbox import record_outcomes
from mdm.propagate.storable import clean_text, storable, unrecordable
from mdm.store.repositories import inbox
from mdm.store.repositories.outbox import claim_due

logger = logging.getLogger(__name__)
CLAIM_LIMIT = 500
LOADED_BATCH = 100  # a claim this large means the hub is under load
LOADED_LINGER_S = 1.0
FAULT_PAUSE_S = (1.0, 30.0)  # after a loop's unexpected error: first and longest pause
# What the hub's database refuses for the data in it (not for being unreachable).
REFUSED = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError,
           psycopg.InternalError, psycopg.NotSupportedError, ValueError)


class TargetLoop:
    def __init__(self, target: AnyTarget, project: Project, hub_url: str) -> None:
        self.target = target
        self.project = project
        self.hub_url = hub_url
        self._propagator: Propagator | None = None
        self.wake = asyncio.Event()
        self.limiter = RateLimiter(target.rate_limit_per_s) if target.rate_limit_per_s else None
        # deliveries to other targets wait for acks here: acks wake their loops
        self.wakes = is_awaited_elsewhere(project.entities, target.name)

    @property
    def propagator(self) -> Propagator:
        """Opened on first use, inside the loop: a target that cannot be opened (a bad URL)
        fails its own loop, not the start of the others."""
        if self._propagator is None:
            self._propagator = open_propagator(self.target, self.project)
        return self._propagator

    async def _deliver(self, due: list[Delivery]) -> list[Outcome]:
        try:
            return await self._deliver_limited(due)
        except Exception as exc:  # noqa: BLE001 — a propagator's bug must not stop the others
            # Classified like any failure: a TerminalError is dead, anything else retried.
            logger.exception("propagator error target=%s; the claim is recorded as failed",
                             self.target.name)
            return [failed(d, exc) for d in due]

    async def _record(self, conn: psycopg.AsyncConnection, outcomes: list[Outcome]) -> None:
        """Record the outcomes together; if the database refuses the batch for its data, one
        by one, and an outcome it refuses alone becomes that delivery's terminal failure."""
        outcomes = [storable(o) for o in outcomes]
        try:
            await record_outcomes(conn, outcomes, self.target.max_attempts, self.target.backoff,
                                  self.wakes)
            return
        except REFUSED as exc:
            logger.warning("outcomes refused as a batch target=%s deliveries=%d: %s; "
                           "recording them one by one", self.target.name, len(outcomes),
                           clean_text(str(exc), 300))
        for outcome in outcomes:
            try:
                await record_outcomes(conn, [outcome], self.target.max_attempts,
                                      self.target.backoff, self.wakes)
            except REFUSED as exc:
                logger.warning("outcome refused target=%s delivery=%d: %s; recorded as dead",
                               self.target.name, outcome.delivery.id, clean_text(str(exc), 300))
                await record_outcomes(conn, [unrecordable(outcome, exc)],
                                      self.target.max_attempts, self.target.backoff)

    async def _deliver_limited(self, due: list[Delivery]) -> list[Outcome]:
        if self.limiter is None:
            return await self.propagator.deliver_many(due)
        outcomes: list[Outcome] = []
        step = max(1, int(self.limiter.per_s / 4))  # a quarter second's worth at a time
        for start in range(0, len(due), step):
            chunk = due[start:start + step]
            await self.limiter.acquire(len(chunk))
            outcomes += await self.propagator.deliver_many(chunk)
        return outcomes

    async def run(self, stop: asyncio.Event) -> None:
        conn: psycopg.AsyncConnection | None = None
        pause = FAULT_PAUSE_S[0]
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.hub_url, autocommit=False)
                    # A lost ack only means one more push with the same idempotency key.
                    await conn.execute("SET synchronous_commit = off")
                    await conn.commit()
                if not await self._round(conn, stop):
                    await self._sleep(stop, 1.0)
                pause = FAULT_PAUSE_S[0]
            except psycopg.OperationalError as exc:
                logger.warning("hub database unavailable target=%s: %s; retrying", self.target.name, exc)
                await _discard(conn)
                conn = None
                await self._sleep(stop, 1.0)
            except Exception as exc:  # noqa: BLE001 — one target's fault must not end the others
                logger.exception("target loop error target=%s: %s; this target pauses %.0fs, the "
                                 "others go on", self.target.name, clean_text(str(exc), 300), pause)
                await _discard(conn)
                conn = None
                await _pause(stop, pause)
                pause = min(pause * 2, FAULT_PAUSE_S[1])
        if self._propagator is not None:
            await self._propagator.aclose()
        await _discard(conn)

    async def _round(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> bool:
        """Claim, push, record; True when there may be more due right away."""
        self.wake.clear()  # before the claim: a NOTIFY during the push is not lost
        due = await claim_due(conn, self.project, self.target.name, CLAIM_LIMIT)
        if not due:
            return False
        acked = await self._push(conn, due)
        if lingers(due) and await inbox.has_pending(conn):
            await self._linger(conn, stop)
        return acked == len(due)

    async def _push(self, conn: psycopg.AsyncConnection, due: list[Delivery]) -> int:
        """Deliver and record a claim; how many were acknowledged."""
        outcomes = await self._deliver(due)
        await self._record(conn, outcomes)
        acked = sum(o.acked for o in outcomes)
        logger.info("pushed target=%s deliveries=%d acked=%d", self.target.name, len(due), acked)
        return acked

    async def _linger(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        """Under load, let newer versions of master data pile up and supersede older ones:
        fewer pushes of states that are already stale, more CPU for capture. A flow's
        commands do not wait: each wake-up meanwhile claims and sends the commands due."""
        clock = asyncio.get_running_loop()
        deadline = clock.time() + LOADED_LINGER_S
        while not stop.is_set() and (left := deadline - clock.time()) > 0:
            await self._sleep(stop, left)
            if stop.is_set() or not self.wake.is_set():
                continue  # the time is up (or stopping)
            self.wake.clear()
            due = await claim_due(conn, self.project, self.target.name, CLAIM_LIMIT,
                                  commands_only=True)
            if due:
                await self._push(conn, due)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), timeout=seconds)
        except TimeoutError:
            pass


def lingers(due: list[Delivery]) -> bool:
    """Whether a claim means master data is arriving under load: as many of the record's own
    deliveries (commands never supersede each other's documents) as LOADED_BATCH."""
    return sum(d.hop is None for d in due) >= LOADED_BATCH


async def _discard(conn: psycopg.AsyncConnection | None) -> None:
    """Close a connection whose state is unknown after an error (a new one is opened)."""
    if conn is not None and not conn.closed:
        try:
            await conn.close()
        except psycopg.Error:
            pass


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


async def propagate_forever(project: Project, hub_url: str, stop_flag: threading.Event,
                            *alongside: Awaitable[None]) -> None:
    """Run one loop per target until `stop_flag` is set (and `alongside` with them: the
    targets' read-back, see mdm/pipeline/propagation.py)."""
    targets = list(project.targets.values())
    stop = asyncio.Event()
    loops = [TargetLoop(t, project, hub_url) for t in targets]
    logger.info("propagation starting targets=%s", ",".join(t.name for t in targets))

    async def watch_stop() -> None:
        while not stop_flag.is_set():
            await asyncio.sleep(0.2)
        stop.set()
        for loop in loops:
            loop.wake.set()

    await asyncio.gather(watch_stop(), _listen(hub_url, loops, stop), *(l.run(stop) for l in loops),
                         *alongside)
