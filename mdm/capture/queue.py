"""Queue sources (`kind: amqp | nats`): what both runners share.

A runner collects up to `batch_size` messages (waiting `batch_wait_ms` after the first),
turns each into its change event or failed record (queue_message.py), writes the batch to the
inbox in one transaction (append_batch) and only then acknowledges the batch to the broker. A
crash before the commit leaves the messages unacknowledged: the broker redelivers them and the
inbox's key (source, position = the message id, table, row key) stores each once. A message
that cannot be read is kept failed with its reason and acknowledged, so it never blocks the
queue and is never lost.

Test hook (off unless set): with MDM_QUEUE_HOLD_MARKER and MDM_QUEUE_HOLD_DIR in the
environment, a batch holding a message whose body contains the marker is held — before its
inbox commit — while <dir>/<feed>.held does not exist yet: the runner creates that file and
waits until it is killed (or stopped, leaving the batch unacknowledged). The next run finds
the file and goes on, so a test can kill -9 the hub between consume and commit whatever the
machine's speed (tests/integration/test_queue_source.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import psycopg

from mdm.capture.document_rows import Item, append_documents
from mdm.capture.documents import Document
from mdm.capture.inbox import Appended
from mdm.capture.models import Batch
from mdm.capture.queue_message import Mapping, Received, message_event

logger = logging.getLogger(__name__)

HOLD_MARKER_ENV, HOLD_DIR_ENV = "MDM_QUEUE_HOLD_MARKER", "MDM_QUEUE_HOLD_DIR"
STOP_POLL_S = 0.2  # how often a waiting runner looks at its stop event
M = TypeVar("M")  # a broker library's message


def items_of(mapping: Mapping, received: Sequence[Received]) -> list[Item]:
    """Each message's document, change event or failed record, in order."""
    return [message_event(mapping, msg) for msg in received]


def batch_of(mapping: Mapping, received: Sequence[Received]) -> Batch:
    """The messages' change events and failed records (the mapping splits no child lists)."""
    batch = Batch()
    for found in items_of(mapping, received):
        assert not isinstance(found, Document)
        batch.add(found)
    return batch


class InboxWriter:
    """The feed's connection to the hub database; each batch is one transaction."""

    def __init__(self, hub_url: str, source: str) -> None:
        self.hub_url = hub_url
        self.source = source
        self.conn: psycopg.Connection | None = None
        self.written = 0
        self.started = time.monotonic()

    def write(self, items: Sequence[Item]) -> Appended:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.hub_url)
        try:
            appended = append_documents(self.conn, self.source, items)
        except psycopg.Error:
            self.close()
            raise
        self.written += len(items)
        return appended

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def commit(writer: InboxWriter, mapping: Mapping, received: Sequence[Received],
                 stop: threading.Event) -> Appended | None:
    """The batch durable in the inbox (None: stopped while held by the test hook, nothing
    written). The caller acknowledges after this returns an Appended."""
    items = items_of(mapping, received)
    if not await _hold(mapping.source, received, stop):
        return None
    appended = await asyncio.to_thread(writer.write, items)
    logger.info("queue source=%s batch=%d new=%d failed=%d", mapping.source, len(received),
                appended.new, appended.failed)
    return appended


async def _hold(source: str, received: Sequence[Received], stop: threading.Event) -> bool:
    marker, folder = os.environ.get(HOLD_MARKER_ENV), os.environ.get(HOLD_DIR_ENV)
    if not marker or not folder:
        return True
    held = Path(folder) / f"{source}.held"
    token = marker.encode()
    if held.exists() or not any(token in m.body for m in received):
        return True
    held.write_text(f"{len(received)} messages held before the inbox commit\n", encoding="utf-8")
    logger.warning("queue source=%s holding a batch before its inbox commit (test hook %s)",
                   source, HOLD_MARKER_ENV)
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_S)
    return False


async def consume_batches(writer: InboxWriter, mapping: Mapping, stop: threading.Event, *,
                          fetch: Callable[[], Awaitable[Sequence[M]]],
                          received: Callable[[M], Received],
                          ack: Callable[[Sequence[M]], Awaitable[None]],
                          check: Callable[[], None]) -> None:
    """The runners' loop until `stop`: `check` the connection, `fetch` a batch, make it
    durable in the inbox (`commit`), and only then `ack` it to the broker. Returns at once when
    stopped while the test hook holds a batch: nothing written, nothing acknowledged."""
    while not stop.is_set():
        check()
        messages = await fetch()
        if not messages:
            continue
        if await commit(writer, mapping, [received(m) for m in messages], stop) is None:
            return
        await ack(messages)


async def wait_stop(stop: threading.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_S)


async def collect(pending: asyncio.Queue[object], limit: int, wait_ms: int,
                  stop: threading.Event) -> list[object]:
    """Up to `limit` items of `pending`: waits for the first (looking at `stop`), then up to
    `wait_ms` for the batch to fill. Empty when stopped or nothing came within STOP_POLL_S."""
    try:
        first = await asyncio.wait_for(pending.get(), STOP_POLL_S)
    except TimeoutError:
        return []
    items = [first]
    deadline = time.monotonic() + wait_ms / 1000
    while len(items) < limit and not stop.is_set():
        while len(items) < limit and not pending.empty():
            items.append(pending.get_nowait())
        left = deadline - time.monotonic()
        if len(items) >= limit or left <= 0:
            break
        try:
            items.append(await asyncio.wait_for(pending.get(), left))
        except TimeoutError:
            break
    return items
