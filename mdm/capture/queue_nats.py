"""`kind: nats`: the hub reads a JetStream stream through a durable pull consumer (nats-py),
explicit acks, each batch acknowledged after its inbox commit. A message not acknowledged
(a crash before the commit) is redelivered after the consumer's ack wait; the inbox stores it
once. The consumer is created if absent (never the stream: its owner decides its storage and
durability — see the README). See mdm/capture/queue.py for the batch loop's guarantees.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

import nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import NotFoundError

from mdm.capture.queue import InboxWriter, consume_batches
from mdm.capture.queue_message import Received, mapping_of
from mdm.config.feed_queue import QueueFeed
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project, expand_env
from mdm.config.urls import redact
from mdm.errors import TransientError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
FETCH_WAIT_S = 1.0  # a fetch's longest wait for a first message (then `stop` is looked at)
BROKER_ERRORS = (NatsError, OSError, TimeoutError)


def run(project: Project, spec: FeedSpec, hub_url: str, stop: threading.Event) -> None:
    """Read the feed's consumer until `stop` is set; a broker failure is a TransientError."""
    assert isinstance(spec, QueueFeed) and spec.jetstream is not None
    asyncio.run(consume(project, spec, hub_url, stop))


def received(msg: Msg) -> Received:
    headers = dict(msg.headers or {})
    sequence = None
    try:
        sequence = msg.metadata.sequence.stream
    except (NatsError, AttributeError, ValueError, IndexError):
        pass
    return Received(body=msg.data, headers=headers, subject=msg.subject,
                    message_id=headers.get("Nats-Msg-Id"), sequence=sequence)


def consumer_config(spec: QueueFeed) -> api.ConsumerConfig:
    assert spec.jetstream is not None
    return api.ConsumerConfig(
        durable_name=spec.consumer_name, ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL, ack_wait=spec.jetstream.ack_wait_s,
        max_deliver=spec.jetstream.max_deliver, filter_subject=spec.jetstream.subject,
        max_ack_pending=max(spec.batch_size * 2, 1000))


async def consume(project: Project, spec: QueueFeed, hub_url: str,
                  stop: threading.Event) -> None:
    assert spec.jetstream is not None
    mapping = mapping_of(project, spec)
    servers = [s.strip() for s in expand_env(spec.url, f"cdc/{spec.name}.yaml").split(",")]
    where = ",".join(redact(s) for s in servers)
    writer = InboxWriter(hub_url, spec.name)
    try:
        client = await nats.connect(servers=servers, connect_timeout=CONNECT_TIMEOUT_S,
                                    allow_reconnect=False, max_reconnect_attempts=1,
                                    name=f"mdm-feed-{spec.name}")
    except BROKER_ERRORS as exc:
        raise TransientError(f"nats feed {spec.name}: cannot reach {where}: {exc!r}") from exc
    try:
        js = client.jetstream(timeout=CONNECT_TIMEOUT_S)
        try:
            sub = await js.pull_subscribe(spec.jetstream.subject or "", durable=spec.consumer_name,
                                          stream=spec.jetstream.stream,
                                          config=consumer_config(spec))
        except NotFoundError as exc:  # its owner may create it later: retried with backoff
            raise TransientError(f"cdc/{spec.name}.yaml: jetstream.stream "
                                 f"{spec.jetstream.stream!r} not found on {where} (the hub "
                                 "creates the consumer, not the stream)") from exc
        logger.info("nats feed=%s reading stream %s consumer %s on %s", spec.name,
                    spec.jetstream.stream, spec.consumer_name, where)

        def check() -> None:
            if not client.is_connected:
                raise TransientError(f"nats feed {spec.name}: connection to {where} lost")

        async def fetch() -> list[Msg]:
            try:
                return list(await sub.fetch(spec.batch_size, timeout=FETCH_WAIT_S))
            except TimeoutError:  # nats' own or asyncio's (nothing came within FETCH_WAIT_S)
                return []

        async def ack(msgs: Sequence[Msg]) -> None:
            await asyncio.gather(*(m.ack() for m in msgs))
            await client.flush(timeout=int(CONNECT_TIMEOUT_S))

        await consume_batches(writer, mapping, stop, fetch=fetch, received=received, ack=ack,
                              check=check)
    except BROKER_ERRORS as exc:
        raise TransientError(f"nats feed {spec.name}: {where}: {exc!r}") from exc
    finally:
        writer.close()
        try:
            await asyncio.wait_for(client.close(), CONNECT_TIMEOUT_S)
        except BROKER_ERRORS:
            pass
