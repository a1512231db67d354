"""The NATS JetStream propagator: acknowledged publishes to <subject_prefix>.<entity>.

Nats-Msg-Id carries the delivery's idempotency key: within the stream's duplicate window the
server stores a re-sent message once (the PubAck says `duplicate`), so a push repeated after
a crash is not seen twice by consumers. The stream is created if it does not exist.

nats-py's exceptions are translated here, once (`publish_error`): a message larger than the
server takes is TargetRefused; anything else (unreachable, timeout, no JetStream) is
TargetUnavailable, and the connection is reopened on the next claim.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import nats
import orjson
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from mdm.config.loader import Project, expand_env
from mdm.config.targets import NatsTarget
from mdm.errors import TargetRefused, TargetUnavailable
from mdm.propagate.base import envelope, failed, redact
from mdm.model.deliveries import Delivery, Outcome

logger = logging.getLogger(__name__)


class NatsPropagator:
    def __init__(self, target: NatsTarget, project: Project) -> None:
        self.target = target
        self.project = project
        self.servers = [s.strip() for s in
                        expand_env(target.url, f"targets/{target.name}.yaml").split(",")]
        self.where = ",".join(redact(s) for s in self.servers)
        self.client: Client | None = None
        self.js: JetStreamContext | None = None

    async def _open(self) -> JetStreamContext:
        if self.js is not None and self.client is not None and self.client.is_connected:
            return self.js
        await self.aclose()
        timeout = self.target.timeout_s
        # nats-py retries the first connect without end when max_reconnect_attempts is 0 (or
        # below): 1 gives each server a second try, then NoServersError (for later).
        self.client = await nats.connect(servers=self.servers, connect_timeout=timeout,
                                         allow_reconnect=False, max_reconnect_attempts=1,
                                         name=f"mdm-{self.target.name}")
        js = self.client.jetstream(timeout=timeout)
        try:
            await js.stream_info(self.target.stream)
        except NotFoundError:
            await js.add_stream(name=self.target.stream,
                                subjects=[f"{self.target.subject_prefix}.>"],
                                duplicate_window=self.target.duplicate_window_s)
            logger.info("nats target=%s created stream %s", self.target.name, self.target.stream)
        self.js = js
        logger.info("nats target=%s connected to %s", self.target.name, self.where)
        return js

    async def aclose(self) -> None:
        client, self.client, self.js = self.client, None, None
        if client is not None and not client.is_closed:
            try:
                await asyncio.wait_for(client.close(), timeout=self.target.timeout_s)
            except (NatsError, OSError, TimeoutError):
                pass

    def subject(self, d: Delivery) -> str:
        mapping = self.project.entities[d.entity].targets[self.target.name]
        return mapping.subject or f"{self.target.subject_prefix}.{d.entity}"

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        try:
            js = await self._open()
        except (NatsError, OSError, TimeoutError) as exc:
            error = TargetUnavailable(self.target.name, f"cannot reach {self.where}: {exc!r}")
            return [failed(d, error) for d in deliveries]
        semaphore = asyncio.Semaphore(self.target.concurrency * 8)

        async def one(d: Delivery) -> Outcome:
            async with semaphore:
                return await self._publish(js, d)

        outcomes = list(await asyncio.gather(*(one(d) for d in deliveries)))
        if any(not o.acked and not o.terminal for o in outcomes):
            await self.aclose()
        return outcomes

    async def _publish(self, js: JetStreamContext, d: Delivery) -> Outcome:
        try:
            ack = await js.publish(self.subject(d), orjson.dumps(envelope(d)),
                                   timeout=self.target.timeout_s,
                                   headers={"Nats-Msg-Id": d.idempotency_key,
                                            "Mdm-Entity": d.entity, "Mdm-Key": d.business_key,
                                            "Mdm-Version": str(d.version),
                                            **({"Mdm-Previous-Key": d.previous_key}
                                               if d.previous_key else {})})
        except (NatsError, OSError, TimeoutError) as exc:
            return failed(d, self.publish_error(exc))
        return Outcome(d, acked=True, target_id=f"{ack.stream}:{ack.seq}")

    def publish_error(self, exc: NatsError | OSError | TimeoutError,
                      ) -> TargetRefused | TargetUnavailable:
        """A message larger than the server's max_payload never fits: refused; the rest
        (timeouts, a lost connection, no JetStream answer) may pass later."""
        if isinstance(exc, MaxPayloadError):
            return TargetRefused(self.target.name, f"message too large: {exc!r}")
        return TargetUnavailable(self.target.name, f"publish to {self.where} failed: {exc!r}")
