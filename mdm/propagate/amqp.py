"""The AMQP propagator: persistent messages to a RabbitMQ exchange, one routing key per
entity, each publish awaited until the broker confirms it (publisher confirms).

The message id is the delivery's idempotency key; a message the broker cannot route to any
queue is returned (mandatory) and counts as a failure, so nothing is silently dropped.

aio-pika's exceptions are translated here, once (`publish_error`): every one is
TargetUnavailable — a returned message is retried until a queue is bound, a broken channel is
reopened on the next claim. A broker takes any well-formed message, so nothing is refused.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from mdm.config.loader import Project, expand_env
from mdm.config.targets import AmqpTarget
from mdm.errors import TargetUnavailable
from mdm.propagate.base import envelope, failed, redact
from mdm.model.deliveries import Delivery, Outcome

logger = logging.getLogger(__name__)


class AmqpPropagator:
    def __init__(self, target: AmqpTarget, project: Project) -> None:
        self.target = target
        self.project = project
        self.url = expand_env(target.url, f"targets/{target.name}.yaml")
        self.where = redact(self.url)
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchange: AbstractExchange | None = None

    async def _open(self) -> AbstractExchange:
        if self.exchange is not None and self.connection is not None \
                and not self.connection.is_closed and self.channel is not None \
                and not self.channel.is_closed:
            return self.exchange
        await self.aclose()
        self.connection = await aio_pika.connect(self.url, timeout=self.target.timeout_s)
        self.channel = await self.connection.channel(publisher_confirms=True,
                                                     on_return_raises=True)
        self.exchange = await self.channel.declare_exchange(
            self.target.exchange, self.target.exchange_type, durable=True)
        logger.info("amqp target=%s connected to %s exchange=%s", self.target.name, self.where,
                    self.target.exchange)
        return self.exchange

    async def aclose(self) -> None:
        connection, self.connection, self.channel, self.exchange = self.connection, None, None, None
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), timeout=self.target.timeout_s)
            except (aiormq.exceptions.AMQPError, OSError, TimeoutError):
                pass

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        try:
            exchange = await self._open()
        except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
            error = TargetUnavailable(self.target.name, f"cannot reach {self.where}: {exc!r}")
            return [failed(d, error) for d in deliveries]
        semaphore = asyncio.Semaphore(self.target.concurrency * 8)  # confirms are pipelined

        async def one(d: Delivery) -> Outcome:
            async with semaphore:
                return await self._publish(exchange, d)

        outcomes = list(await asyncio.gather(*(one(d) for d in deliveries)))
        if any(not o.acked for o in outcomes):
            await self.aclose()  # a broken channel is reopened on the next claim
        return outcomes

    async def _publish(self, exchange: AbstractExchange, d: Delivery) -> Outcome:
        mapping_key = self.routing_key(d)
        message = aio_pika.Message(
            body=orjson.dumps(envelope(d)), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=d.idempotency_key,
            type=f"{d.entity}.{d.operation}",
            headers={"x-mdm-entity": d.entity, "x-mdm-key": d.business_key,
                     "x-mdm-version": d.version,
                     **({"x-mdm-previous-key": d.previous_key} if d.previous_key else {})})
        try:
            await exchange.publish(message, routing_key=mapping_key, mandatory=True,
                                   timeout=self.target.timeout_s)
        except (aiormq.exceptions.AMQPError, OSError, TimeoutError, RuntimeError) as exc:
            return failed(d, self.publish_error(exc, mapping_key))
        return Outcome(d, acked=True, target_id=f"{self.target.exchange}/{mapping_key}")

    def publish_error(self, exc: Exception, routing_key: str) -> TargetUnavailable:
        """A message the broker returned (no queue bound for `routing_key`) or did not
        confirm, or a channel that broke: for later."""
        if isinstance(exc, aio_pika.exceptions.DeliveryError):
            return TargetUnavailable(self.target.name, f"broker did not take the message "
                                     f"(routing key {routing_key!r}): {exc!r}")
        return TargetUnavailable(self.target.name, f"publish to {self.where} failed: {exc!r}")

    def routing_key(self, d: Delivery) -> str:
        return self.project.entities[d.entity].targets[self.target.name].routing_key or d.entity
