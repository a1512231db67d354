"""The processing role: drain the inbox batch by batch (one transaction each, see
processing.py), woken by NOTIFY from capture; history retention when idle."""
from __future__ import annotations

import gc
import logging
import threading
import time

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from mdm.config.loader import Project
from mdm.lineage.retention import prune
from mdm.model.inbox import INBOX_CHANNEL
from mdm.pipeline.processing import Processor
from mdm.rules.engine import validate_expectations

logger = logging.getLogger(__name__)
PROCESSOR_LOCK = 727275  # one processor at a time keeps per-record ordering simple


def run_processing(project: Project, hub_url: str, stop: threading.Event,
                   batch_size: int = 5000) -> None:
    processor = Processor(project)
    if any(r.expectations for r in project.rules.values()):
        validate_expectations(project)  # a bad rule file stops here, naming file and key
        started = time.perf_counter()
        _ = processor.rules.runner  # import Great Expectations now, not in the first batch
        logger.info("rules ready entities=%d ms=%d", len(project.rules),
                    (time.perf_counter() - started) * 1000)
    # Great Expectations (and pandas) leave ~10^6 long-lived objects; without this every full
    # garbage collection walks them all, and batches of thousands of versions trigger many.
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    while not stop.is_set():
        try:
            _drain_forever(processor, hub_url, stop, batch_size)
        except psycopg.OperationalError as exc:
            logger.warning("hub database unavailable: %s; reconnecting", exc)
            stop.wait(1.0)


PRUNE_EVERY_S = 3600.0
HOLDS_EVERY_S = 1.0  # how often held versions are checked for their unknown_reference task


def _drain_forever(processor: Processor, hub_url: str, stop: threading.Event,
                   batch_size: int) -> None:
    with psycopg.connect(hub_url) as conn, psycopg.connect(hub_url, autocommit=True) as listener:
        # Off by default: a batch that only moves mirrors and inbox status is redone
        # identically if the server loses it. A batch that writes golden records, versions,
        # deliveries or tasks turns it back on for its own commit (processing's
        # _commit_synchronously): a redo would allocate other golden ids and idempotency keys
        # after the lost ones were pushed, so those must be durable before anyone sees them.
        set_json_loads(orjson.loads, conn)  # inbox rows and mirrors are JSON-heavy
        conn.execute("SET synchronous_commit = off")
        conn.commit()
        listener.execute(f"LISTEN {INBOX_CHANNEL}")
        _take_lock(conn, stop)
        logger.info("processing started")
        pruned_at = holds_at = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - holds_at > HOLDS_EVERY_S:
                processor.open_reference_tasks(conn)
                holds_at = time.monotonic()
            started = time.perf_counter()
            result = processor.process_batch(conn, batch_size)
            if result.events:
                logger.info(
                    "applied batch events=%d versions=%d deliveries=%d failed=%d skipped=%d ms=%d",
                    result.events, result.versions, result.deliveries, result.failed,
                    result.skipped, (time.perf_counter() - started) * 1000)
                continue
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:  # idle: apply the history policies
                prune(conn, processor.project, max_batches=1)
                pruned_at = time.monotonic()
            for _ in listener.notifies(timeout=0.5, stop_after=1):
                pass


def _take_lock(conn: psycopg.Connection, stop: threading.Event) -> None:
    """Session advisory lock: a second processor waits instead of interleaving batches."""
    warned = False
    while not stop.is_set():
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (PROCESSOR_LOCK,)).fetchone()
        conn.commit()
        if row and row[0]:
            return
        if not warned:
            logger.info("another processor holds the lock; waiting")
            warned = True
        stop.wait(1.0)
