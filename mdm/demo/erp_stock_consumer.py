"""The demo ERP's stock consumer (flow 7, WMS → ERP over the message middleware): reads the
hub's stock-level messages from a RabbitMQ queue and upserts the ERP's `erp_stock` rows.

Idempotent by construction: a row keeps the hub's (golden id, version) of the level it holds,
and a message applies only when its pair is greater — so a redelivered message (the same
message id), a replay of the same version, or an older version arriving late changes nothing,
and a level the WMS deleted and made again (a new golden record, a larger id) wins over the
old one's history. Each message is applied in one ERP transaction and acknowledged only after
that transaction commits; a message that cannot be applied for now (the ERP's database is
down) goes back to the queue, a malformed one is rejected with a log line (a dead-letter
exchange on the queue would keep it).

    MDM_ERP_MQ_URL=amqp://… python -m mdm.demo.erp_stock_consumer ERP_DB_URL
        [--exchange erp.stock] [--queue erp.stock.levels] [--routing-key stock.level]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from decimal import Decimal, InvalidOperation
from typing import Any

import aio_pika
import orjson
import psycopg
from aio_pika.abc import AbstractIncomingMessage

logger = logging.getLogger("mdm.demo.erp_stock")

EXCHANGE, QUEUE, ROUTING_KEY = "erp.stock", "erp.stock.levels", "stock.level"
RETRY_PAUSE_S = 1.0

UPSERT = """
INSERT INTO erp_stock AS s (material_code, warehouse, on_hand, reserved, active, mdm_golden_id,
                            mdm_version, message_id, updated_at)
VALUES (%(material_code)s, %(warehouse)s, %(on_hand)s, %(reserved)s, %(active)s, %(golden_id)s,
        %(version)s, %(message_id)s, localtimestamp)
ON CONFLICT (material_code, warehouse) DO UPDATE
SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, active = EXCLUDED.active,
    mdm_golden_id = EXCLUDED.mdm_golden_id, mdm_version = EXCLUDED.mdm_version,
    message_id = EXCLUDED.message_id, updated_at = EXCLUDED.updated_at
WHERE (EXCLUDED.mdm_golden_id, EXCLUDED.mdm_version) > (s.mdm_golden_id, s.mdm_version)
"""
RECEIPT = """
INSERT INTO erp_stock_receipt (message_id, material_code, warehouse, mdm_golden_id, mdm_version,
                               applied)
VALUES (%(message_id)s, %(material_code)s, %(warehouse)s, %(golden_id)s, %(version)s, %(applied)s)
"""


class Malformed(ValueError):
    """A message that is not a stock-level envelope: retrying it cannot help."""


def stock_row(body: bytes, message_id: str | None) -> dict[str, Any]:
    """The erp_stock row a message's envelope stands for (quantities as exact Decimals)."""
    try:
        envelope = orjson.loads(body)
        data = envelope.get("data") or {}
        retired = envelope.get("status") == "retired"
        return {
            "material_code": str(data["material_code"]), "warehouse": str(data["warehouse"]),
            "on_hand": Decimal(0) if retired else _decimal(data["on_hand"]),
            "reserved": Decimal(0) if retired else _decimal(data["reserved"]),
            "active": not retired, "golden_id": int(envelope["golden_id"]),
            "version": int(envelope["version"]),
            "message_id": message_id or str(envelope["idempotency_key"]),
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Malformed(f"not a stock-level message: {exc!r}") from exc


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):  # a JSON number: its shortest text is what was sent
        value = repr(value)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc


async def apply(conn: psycopg.AsyncConnection[Any], row: dict[str, Any]) -> bool:
    """Upsert one level and log its receipt, in one transaction; whether it changed the
    ERP's row."""
    async with conn.transaction():
        cur = await conn.execute(UPSERT, row)
        applied = cur.rowcount == 1
        await conn.execute(RECEIPT, {**row, "applied": applied})
    return applied


class Consumer:
    def __init__(self, amqp_url: str, erp_url: str, exchange: str = EXCHANGE,
                 queue: str = QUEUE, routing_key: str = ROUTING_KEY) -> None:
        self.amqp_url, self.erp_url = amqp_url, erp_url
        self.exchange, self.queue, self.routing_key = exchange, queue, routing_key
        self.conn: psycopg.AsyncConnection[Any] | None = None
        # aio-pika may run deliveries' callbacks side by side; one ERP connection takes one
        # message's transaction at a time (another's would become a savepoint inside it)
        self.lock = asyncio.Lock()

    async def _erp(self) -> psycopg.AsyncConnection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(self.erp_url, autocommit=True)
        return self.conn

    async def handle(self, message: AbstractIncomingMessage) -> None:
        async with self.lock:
            await self._handle(message)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            row = stock_row(message.body, message.message_id)
        except Malformed as exc:
            logger.error("rejected message id=%s: %s", message.message_id, exc)
            await message.reject(requeue=False)
            return
        try:
            changed = await apply(await self._erp(), row)
        except psycopg.Error as exc:
            logger.warning("ERP database refused or unreachable (%s); message %s back to the "
                           "queue", exc, row["message_id"])
            if self.conn is not None:
                await self.conn.close()
            await asyncio.sleep(RETRY_PAUSE_S)
            await message.nack(requeue=True)
            return
        await message.ack()  # after the commit: a crash before it redelivers, harmlessly
        logger.info("%s %s@%s v%d on_hand=%s reserved=%s (message %s)",
                    "applied" if changed else "ignored (not newer)", row["material_code"],
                    row["warehouse"], row["version"], row["on_hand"], row["reserved"],
                    row["message_id"])

    async def run(self, stop: asyncio.Event) -> None:
        connection = await aio_pika.connect_robust(self.amqp_url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=50)
            exchange = await channel.declare_exchange(self.exchange, "topic", durable=True)
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(exchange, self.routing_key)
            await queue.consume(self.handle)
            logger.info("consuming queue=%s (exchange=%s, routing key %s) into %s",
                        self.queue, self.exchange, self.routing_key, "erp_stock")
            await stop.wait()
        if self.conn is not None:
            await self.conn.close()


async def queue_consumers(amqp_url: str, queue: str) -> int:
    """How many consumers `queue` has (0 when it does not exist yet)."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, durable=True, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return 0
        result = declared.declaration_result
        return int(result.consumer_count or 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The demo ERP's stock-level consumer (flow 7).")
    parser.add_argument("erp_url", help="the ERP's database (postgresql://…)")
    parser.add_argument("--exchange", default=EXCHANGE)
    parser.add_argument("--queue", default=QUEUE)
    parser.add_argument("--routing-key", default=ROUTING_KEY)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Consumer(os.environ["MDM_ERP_MQ_URL"], args.erp_url, args.exchange, args.queue,
                       args.routing_key).run(stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
