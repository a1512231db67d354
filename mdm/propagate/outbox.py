"""What a push attempt means for its delivery: acked, failed and due again after a backoff, or
dead with a task for a steward; and the owned values a target's answer carries back. The rows
are written by the outbox repository (mdm/store/repositories/outbox.py).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import psycopg

from mdm.config.targets import Backoff, TargetMapping
from mdm.model.deliveries import FailedAttempt, Outcome
from mdm.model.tasks import DEAD_DELIVERY, NewTask
from mdm.store.repositories import outbox

logger = logging.getLogger(__name__)


def write_back_values(mapping: TargetMapping, reply: Any,
                      known: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The owned attributes a target's reply carries (`write_back:` maps dotted reply paths
    to attributes) where they differ from `known`; None when there is nothing new."""
    if not mapping.write_back or not isinstance(reply, dict):
        return None
    values = {}
    for path, attribute in mapping.write_back.items():
        node: Any = reply
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            if known is None or attribute not in known or known[attribute] != node:
                values[attribute] = node
    return values or None


def next_delay_s(backoff: Backoff, attempts: int) -> float:
    """Exponential backoff with full jitter, capped."""
    ceiling = min(backoff.max_ms, backoff.initial_ms * backoff.multiplier ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling) / 1000.0


async def record_outcomes(conn: psycopg.AsyncConnection, outcomes: Sequence[Outcome],
                          max_attempts: int, backoff: Backoff, wake: bool = False) -> None:
    """Store acks (and the target's id as an xref) and failures (with the next attempt time),
    in one transaction; a delivery dead now gets a task. With `wake`, acks wake the other
    targets' loops (some of their deliveries wait for records acknowledged here)."""
    failed = [o for o in outcomes if not o.acked]
    await outbox.record_outcomes(
        conn, [o for o in outcomes if o.acked],
        [_failure_params(o, max_attempts, backoff) for o in failed],
        [_dead_task(o) for o in failed if _is_dead(o, max_attempts)], wake)
    for o in failed:
        _log_failure(o, max_attempts)


def _is_dead(o: Outcome, max_attempts: int) -> bool:
    return o.terminal or o.delivery.attempts + 1 >= max_attempts


def _dead_task(o: Outcome) -> NewTask:
    d = o.delivery
    what = (f"delivery of {d.entity} {d.business_key} v{d.version} to {d.target}" if d.hop is None
            else f"{d.operation} at {d.target} for {d.entity} {d.business_key} (flow {d.hop})")
    detail = {"delivery_id": d.id, "attempts": d.attempts + 1, "status_code": o.status_code,
              "error": o.error, "payload": d.payload}
    if d.hop is not None:
        detail["hop"] = d.hop
    return NewTask(DEAD_DELIVERY, d.entity, d.business_key, d.golden_id, d.version, d.target,
                   "error", f"{what} is dead after {d.attempts + 1} attempt(s): {o.error}", detail)


def _failure_params(o: Outcome, max_attempts: int, backoff: Backoff) -> FailedAttempt:
    attempts = o.delivery.attempts + 1
    dead = _is_dead(o, max_attempts)
    return FailedAttempt("dead" if dead else "failed", o.status_code, o.error, o.delivery.payload,
                         0.0 if dead else next_delay_s(backoff, attempts), o.delivery.id,
                         o.progress)


def _log_failure(o: Outcome, max_attempts: int) -> None:
    d = o.delivery
    attempts = d.attempts + 1
    if o.terminal or attempts >= max_attempts:
        logger.warning("delivery dead entity=%s key=%s v%d target=%s attempts=%d: %s. "
                       "Fix the cause, then 'mdm replay %s %s --target %s' re-sends it.",
                       d.entity, d.business_key, d.version, d.target, attempts, o.error,
                       d.entity, d.business_key, d.target)
    else:
        logger.warning("delivery failed entity=%s key=%s v%d target=%s attempt=%d/%d: %s; "
                       "it stays queued and is retried with backoff",
                       d.entity, d.business_key, d.version, d.target, attempts, max_attempts, o.error)
