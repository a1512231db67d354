"""`kind: amqp`: the hub consumes a RabbitMQ queue (aio-pika), acking each batch after its
inbox commit (one basic.ack with multiple=true for the batch's last delivery tag). Unacked
messages go back to the queue when the connection closes (a crash, a stop) and are redelivered;
the inbox stores each once. See mdm/capture/queue.py for the batch loop's guarantees.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage

from mdm.capture.queue import InboxWriter, collect, consume_batches
from mdm.capture.queue_message import Received, mapping_of
from mdm.config.feed_queue import QueueFeed
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project, expand_env
from mdm.config.urls import redact
from mdm.errors import TransientError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
BROKER_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException, OSError,
                 TimeoutError, RuntimeError)


def run(project: Project, spec: FeedSpec, hub_url: str, stop: threading.Event) -> None:
    """Consume the feed's queue until `stop` is set; a broker failure is a TransientError
    (the capture process restarts the feed with backoff)."""
    assert isinstance(spec, QueueFeed) and spec.queue is not None
    asyncio.run(consume(project, spec, hub_url, stop))


def received(message: AbstractIncomingMessage) -> Received:
    headers: dict[str, Any] = dict(message.headers or {})
    return Received(body=message.body, headers=headers, subject=message.routing_key or "",
                    message_id=message.message_id)


async def consume(project: Project, spec: QueueFeed, hub_url: str,
                  stop: threading.Event) -> None:
    assert spec.queue is not None
    mapping = mapping_of(project, spec)
    url = expand_env(spec.url, f"cdc/{spec.name}.yaml")
    where = redact(url)
    writer = InboxWriter(hub_url, spec.name)
    try:
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    except BROKER_ERRORS as exc:
        raise TransientError(f"amqp feed {spec.name}: cannot reach {where}: {exc!r}") from exc
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=spec.queue.prefetch)
        queue = await channel.declare_queue(spec.queue.name, durable=True,
                                            passive=not spec.queue.declare)
        pending: asyncio.Queue[object] = asyncio.Queue()
        await queue.consume(pending.put, no_ack=False)
        logger.info("amqp feed=%s consuming queue %s on %s (prefetch %d)", spec.name,
                    spec.queue.name, where, spec.queue.prefetch)
        limit = min(spec.batch_size, spec.queue.prefetch)

        def check() -> None:
            if channel.is_closed or connection.is_closed:
                raise TransientError(f"amqp feed {spec.name}: connection to {where} lost")

        async def fetch() -> list[AbstractIncomingMessage]:
            messages = await collect(pending, limit, spec.batch_wait_ms, stop)
            return [m for m in messages if isinstance(m, AbstractIncomingMessage)]

        async def ack(batch: Sequence[AbstractIncomingMessage]) -> None:
            await batch[-1].ack(multiple=True)  # every delivery up to the last: one frame

        await consume_batches(writer, mapping, stop, fetch=fetch, received=received, ack=ack,
                              check=check)
    except BROKER_ERRORS as exc:
        raise TransientError(f"amqp feed {spec.name}: {where}: {exc!r}") from exc
    finally:
        writer.close()
        try:
            await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_S)
        except BROKER_ERRORS:
            pass
