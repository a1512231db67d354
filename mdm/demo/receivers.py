"""What the message targets received: a queue bound to the AMQP exchange, and the messages of
the JetStream stream, read back as envelopes. Used by the tests, the fault bench and anyone
who wants to look at what the hub published."""
from __future__ import annotations

import asyncio
from typing import Any

import orjson


def bind_queue(url: str, exchange: str, queue: str, binding: str = "#") -> None:
    """Declare a durable queue bound to `exchange` (declared too), so messages have a home."""

    async def run() -> None:
        import aio_pika

        connection = await aio_pika.connect(url, timeout=10)
        async with connection:
            channel = await connection.channel()
            ex = await channel.declare_exchange(exchange, "topic", durable=True)
            q = await channel.declare_queue(queue, durable=True)
            await q.bind(ex, binding)

    asyncio.run(run())


def drain_queue(url: str, queue: str, delete: bool = False) -> list[dict[str, Any]]:
    """Every message waiting in `queue`, in order, each as its envelope plus `message_id`."""

    async def run() -> list[dict[str, Any]]:
        import aio_pika

        received: list[dict[str, Any]] = []
        connection = await aio_pika.connect(url, timeout=10)
        async with connection:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, durable=True, passive=True)
            while (message := await q.get(no_ack=True, fail=False, timeout=10)) is not None:
                received.append({**orjson.loads(message.body), "message_id": message.message_id})
            if delete:
                await q.delete(if_unused=False, if_empty=False)
        return received

    return asyncio.run(run())


def read_stream(url: str, stream: str, delete: bool = False) -> list[dict[str, Any]]:
    """Every message stored in the JetStream `stream`, in order, each as its envelope plus
    `message_id` (its Nats-Msg-Id)."""

    async def run() -> list[dict[str, Any]]:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(servers=[url], connect_timeout=10)
        try:
            js = client.jetstream(timeout=10)
            try:
                info = await js.stream_info(stream)
            except NotFoundError:
                return []
            received = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except NotFoundError:
                    continue
                headers = msg.headers or {}
                received.append({**orjson.loads(msg.data or b"{}"),
                                 "message_id": headers.get("Nats-Msg-Id")})
            if delete:
                await js.delete_stream(stream)
            return received
        finally:
            await client.close()

    return asyncio.run(run())


def count_received(received: list[tuple[str, int, str]]) -> tuple[int, int, dict[str, set[int]]]:
    """(duplicates, out of order, versions seen per key) of (key, version, message id) rows in
    arrival order: a message id seen again is a duplicate; a version lower than one already
    received for the same key arrived out of order."""
    seen: set[str] = set()
    newest: dict[str, int] = {}
    versions: dict[str, set[int]] = {}
    duplicates = out_of_order = 0
    for key, version, message_id in received:
        duplicates += int(message_id in seen)
        seen.add(message_id)
        out_of_order += int(version < newest.get(key, 0))
        newest[key] = max(newest.get(key, 0), version)
        versions.setdefault(key, set()).add(version)
    return duplicates, out_of_order, versions


def delivery_figures(received: list[dict[str, Any]]) -> dict[str, int]:
    """Duplicates and out-of-order arrivals among received envelopes."""
    duplicates, out_of_order, _ = count_received(
        [(f"{m['entity']}/{m['key']}", m["version"], m["message_id"]) for m in received])
    return {"received": len(received), "duplicates": duplicates, "out_of_order": out_of_order}


def latest_by_record(received: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for m in received:
        record = (m["entity"], m["key"])
        if record not in latest or m["version"] >= latest[record]["version"]:
            latest[record] = m
    return latest
