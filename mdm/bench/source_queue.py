"""`mdm bench --sources`, queue: messages published to the machine's real RabbitMQ (kind amqp, a
durable queue, persistent messages, publisher confirms) and NATS JetStream (kind nats, a
file-storage stream), each consumed by a feed of its kind. Both are measured; the JSON's
"queue" carries RabbitMQ's figures (the broker of the seed's middleware case and of the demo's
flow 7) and both under "brokers". Commit → golden starts at the publish (the document's
sent_us, stamped just before it is published)."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import orjson

from mdm.bench.fault_bench import listening
from mdm.bench.fault_figures import AMQP_URL, NATS_URL
from mdm.bench.source_kinds import LatencyFrom, document, entity_file, pace
from mdm.demo.stack import DemoStack

RUN = uuid.uuid4().hex[:8]  # the bench's queue and stream are its own, removed afterwards
WINDOW = 256  # publishes (confirms) in flight in the burst
BATCH_SIZE = 500
AMQP_SOURCE = f"""\
name: bench_mq
kind: amqp
description: mdm bench --sources, documents on a RabbitMQ queue (message_id = the event id)
url: ${{MDM_BENCH_AMQP_URL}}
queue: {{name: mdm.bench.{RUN}, prefetch: 1000}}
batch_size: {BATCH_SIZE}
"""
NATS_SOURCE = f"""\
name: bench_js
kind: nats
description: mdm bench --sources, documents on a JetStream stream (Nats-Msg-Id = the event id)
url: ${{MDM_BENCH_NATS_URL}}
jetstream: {{stream: MDMBENCH{RUN.upper()}, subject: mdmbench{RUN}.>}}
batch_size: {BATCH_SIZE}
"""


async def _published(docs: Callable[[int], bytes], count: int, rate: float | None,
                     publish: Callable[[int, bytes], Awaitable[None]]) -> int:
    """Publish `count` bodies (built at their turn, so sent_us is the publish's); a burst keeps
    WINDOW confirms in flight, paced ones are published one at a time."""
    window = asyncio.Semaphore(1 if rate else WINDOW)
    wait = pace(rate)

    async def one(n: int) -> None:
        try:
            await publish(n, docs(n))
        finally:
            window.release()

    tasks = []
    for n in range(count):
        await window.acquire()
        if rate:
            await asyncio.to_thread(wait, n)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return count


class AmqpDriver:
    kind = "queue"
    variant = "amqp"
    label = "queue — amqp (RabbitMQ)"
    entity = "bench_mq_item"
    latency_from: LatencyFrom = "sent_us"
    note = (f"persistent messages with publisher confirms, {WINDOW} in flight in the burst; "
            f"batch_size={BATCH_SIZE}, batch_wait_ms=50")
    queue = f"mdm.bench.{RUN}"

    def unavailable(self) -> str | None:
        return None if listening(5672) else "RabbitMQ is not listening on 127.0.0.1:5672"

    def project_files(self) -> dict[str, str]:
        return {"cdc/bench_mq.yaml": AMQP_SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "a RabbitMQ queue", "bench_mq", "bench_mq.item")}

    def env(self) -> dict[str, str]:
        return {"MDM_BENCH_AMQP_URL": AMQP_URL}

    def start(self, stack: DemoStack) -> None:
        asyncio.run(self._declare())

    async def _declare(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(self.queue, durable=True)

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        return asyncio.run(self._send(keys, phase, rate))

    async def _send(self, keys: list[int], phase: str, rate: float | None) -> int:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)

            async def publish(n: int, body: bytes) -> None:
                await channel.default_exchange.publish(aio_pika.Message(
                    body, message_id=f"{phase}-{keys[n]}", content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=self.queue)

            return await _published(lambda n: orjson.dumps(document(keys[n], phase)),
                                    len(keys), rate, publish)

    def stop(self) -> None:
        asyncio.run(self._delete())

    async def _delete(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)


class NatsDriver:
    kind = "queue"
    variant = "nats"
    label = "queue — nats (JetStream)"
    entity = "bench_js_item"
    latency_from: LatencyFrom = "sent_us"
    note = (f"file-storage stream, {WINDOW} publish acks in flight in the burst; "
            f"batch_size={BATCH_SIZE}")
    stream, subject = f"MDMBENCH{RUN.upper()}", f"mdmbench{RUN}"

    def unavailable(self) -> str | None:
        return None if listening(4222) else "NATS is not listening on 127.0.0.1:4222"

    def project_files(self) -> dict[str, str]:
        return {"cdc/bench_js.yaml": NATS_SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "a NATS JetStream stream", "bench_js", "bench_js.item")}

    def env(self) -> dict[str, str]:
        return {"MDM_BENCH_NATS_URL": NATS_URL}

    def start(self, stack: DemoStack) -> None:
        asyncio.run(self._stream(create=True))

    async def _stream(self, create: bool) -> None:
        import nats
        from nats.js import api
        from nats.js.errors import NotFoundError

        client = await nats.connect(NATS_URL)
        try:
            if create:
                await client.jetstream().add_stream(name=self.stream,
                                                    subjects=[f"{self.subject}.>"],
                                                    storage=api.StorageType.FILE)
            else:
                try:
                    await client.jetstream().delete_stream(self.stream)
                except NotFoundError:
                    pass  # never created: the run ended before this driver started
        finally:
            await client.close()

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        return asyncio.run(self._send(keys, phase, rate))

    async def _send(self, keys: list[int], phase: str, rate: float | None) -> int:
        import nats

        client = await nats.connect(NATS_URL)
        try:
            js = client.jetstream()

            async def publish(n: int, body: bytes) -> None:
                await js.publish(f"{self.subject}.item", body,
                                 headers={"Nats-Msg-Id": f"{phase}-{keys[n]}"})

            return await _published(lambda n: orjson.dumps(document(keys[n], phase)),
                                    len(keys), rate, publish)
        finally:
            await client.close()

    def stop(self) -> None:
        asyncio.run(self._stream(create=False))
