"""What every propagator shares: the interface the target loop calls, the one place a failure
becomes a delivery's outcome (`failed`), the message envelope of the message targets, a rate
limiter, and opening a target by its kind (through the registry)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from mdm.config.loader import Project
from mdm.config.targets import AnyTarget
from mdm.config.urls import redact
from mdm.errors import TargetRefused, TargetUnavailable, TerminalError, TransientError
from mdm.model.deliveries import Delivery, Outcome

__all__ = ["Propagator", "RateLimiter", "envelope", "failed", "open_propagator", "redact"]


class Propagator(Protocol):
    """Delivers claimed deliveries to one target. Never raises for a target's fault: each
    delivery gets an Outcome, acked or `failed(d, error)` with the error its kind translated
    the failure into (TargetUnavailable, TargetRefused)."""

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]: ...

    async def aclose(self) -> None: ...


def open_propagator(target: AnyTarget, project: Project) -> Propagator:
    """The target's propagator, by its kind (mdm/propagate/registry.py); an unregistered kind
    is a ConfigError naming the target's file."""
    from mdm.propagate.registry import propagator_class  # its kind modules import this one

    return propagator_class(target)(target, project)


def failed(d: Delivery, error: BaseException) -> Outcome:
    """The outcome of a push of `d` that failed with `error`. Terminal (dead now, a task for a
    steward) exactly when `error` is a TerminalError; anything else is retried with backoff
    until the target's max_attempts: a TransientError, and an exception no kind translated (a
    propagator's bug, a library's surprise), recorded by its repr."""
    if isinstance(error, (TransientError, TerminalError)):
        text = str(error)
    else:
        text = f"propagator error: {error!r}"
    status = error.status_code if isinstance(error, (TargetRefused, TargetUnavailable)) else None
    return Outcome(d, acked=False, terminal=isinstance(error, TerminalError), status_code=status,
                   error=text)


def envelope(d: Delivery) -> dict[str, Any]:
    """The body of a message to a broker: the mapped record plus what a consumer needs to
    dedupe (idempotency_key) and to order (version) it. A record whose business key changed
    since the last message acknowledged for it carries `previous_key`: a consumer keyed by
    business key renames its copy (golden_id is the same)."""
    body = {"entity": d.entity, "key": d.business_key, "golden_id": d.golden_id,
            "version": d.version, "operation": d.operation,
            "status": "retired" if d.operation == "retire" else "active",
            "idempotency_key": d.idempotency_key, "data": d.payload}
    if d.previous_key is not None:
        body["previous_key"] = d.previous_key
    return body


def key_field(project: Project, entity: str, target: str) -> str | None:
    """The target field that carries the entity's business key (None: the mapping sends none)."""
    spec = project.entities[entity]
    for name, attribute in spec.targets[target].fields.items():
        if attribute == spec.business_key:
            return name
    return None


class RateLimiter:
    """A token bucket: at most `per_s` acquisitions a second, bursts of up to one second's worth."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self.capacity = max(per_s, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, n: int = 1) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_s)
                self.updated = now
                if self.tokens >= min(n, self.capacity):
                    self.tokens -= n
                    return
                await asyncio.sleep((min(n, self.capacity) - self.tokens) / self.per_s)
