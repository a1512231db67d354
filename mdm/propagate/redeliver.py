"""Re-sending one dead or failed delivery (an admin's retry, a steward's "retry" decision). The
guard that keeps any re-sent delivery from overwriting a newer one at the target is in the
claim (outbox.claim_due).

A flow's command is retried as itself — same version, same idempotency key — so a target
that did make the document the first time answers with it instead of making another.
Otherwise a retry sends the record's *current releasable version* (its newest version not held back by
an error rule), never an older one: the delivery itself when it carries that version (the
usual case: the target refused it, the cause is fixed), otherwise the current version in its
stead. It is refused (409) when a newer version than the retried one has already reached the
target — sending the older one would put old data back. Runs in the caller's transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.store.repositories import golden, outbox, redelivery, reference_waits

logger = logging.getLogger(__name__)
RETRYABLE = ("dead", "failed")


class RetryRefused(Exception):
    """The delivery cannot be retried; `status` is the HTTP status that says why (404, 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Retried:
    delivery_id: int  # the delivery that is due now (the retried one, or the current version's)
    retried_id: int
    version: int
    target: str
    entity: str
    business_key: str
    previous_status: str
    last_error: str | None
    replaced: bool  # True: the retried delivery was superseded by one of the current version

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.delivery_id, "status": "pending", "version": self.version,
                "retried": self.retried_id, "replaced": self.replaced}


def retry_delivery(conn: psycopg.Connection, delivery_id: int,
                   only: Sequence[str] = RETRYABLE, project: Project | None = None) -> Retried:
    """Make a dead (or failed) delivery due now with fresh attempts, or the current
    releasable version's delivery in its stead (with `project`: waiting for the referenced
    records that version renders); raises RetryRefused with the reason."""
    d = redelivery.lock_delivery(conn, delivery_id)
    if d is None:
        raise RetryRefused(404, f"no delivery {delivery_id}")
    if d["status"] not in only:
        raise RetryRefused(409, f"delivery {delivery_id} is {d['status']}, not "
                                f"{' or '.join(only)}: nothing to retry")
    if d["hop"] is not None:  # a flow's command: itself again, with its own key
        redelivery.make_due(conn, delivery_id)
        outbox.notify(conn)
        logger.info("command retry id=%d hop=%s %s %s → %s", delivery_id, d["hop"],
                    d["entity"], d["business_key"], d["target"])
        return Retried(delivery_id, delivery_id, d["version"], d["target"], d["entity"],
                       d["business_key"], d["status"], d["last_error"], False)
    current = _releasable(conn, d)
    _refuse_if_overtaken(conn, d, current)
    if d["version"] >= current:
        redelivery.make_due(conn, delivery_id)
        due_id, replaced = delivery_id, False
    else:
        due_id = redelivery.due_delivery_of(conn, d["golden_id"], d["target"], current, d["id"])
        if project is not None:
            reference_waits.add_requirements(conn, project, [due_id])
        replaced = True
        redelivery.supersede(conn, delivery_id)
    outbox.notify(conn)
    logger.info("delivery retry id=%d entity=%s key=%s target=%s v%d due=%d", delivery_id,
                d["entity"], d["business_key"], d["target"], max(d["version"], current), due_id)
    return Retried(due_id, delivery_id, max(d["version"], current), d["target"], d["entity"],
                   d["business_key"], d["status"], d["last_error"], replaced)


def _releasable(conn: psycopg.Connection, d: dict[str, Any]) -> int:
    version = golden.releasable_version(conn, d["golden_id"])
    if version is None:
        raise RetryRefused(409, f"{d['entity']} {d['business_key']} has no version that may be "
                                "propagated (every version is quarantined): decide its rule "
                                "task first")
    return version


def _refuse_if_overtaken(conn: psycopg.Connection, d: dict[str, Any], current: int) -> None:
    row = redelivery.newer_acked(conn, d["golden_id"], d["target"], d["version"])
    if row is None:
        return
    then = (f"version {current} (the current one) is not there yet: "
            f"'mdm replay {d['entity']} {d['business_key']} --target {d['target']}' sends it"
            if current > row[0] else f"version {row[0]} is the current one: nothing to retry")
    raise RetryRefused(409, (
        f"delivery {d['id']} carries {d['entity']} {d['business_key']} version {d['version']}, "
        f"but version {row[0]} already reached {d['target']} (delivery {row[1]}); re-sending "
        f"version {d['version']} would put older data back. {then}"))
