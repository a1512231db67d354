"""An admin's re-sends, each in one transaction with its audit entry: retry one delivery
(`POST /api/v1/deliveries/{id}/retry`) and replay records to a target (`mdm replay`,
`POST /api/v1/deliveries/replay`). What is re-sent, and what is refused, is decided in
mdm/propagate/redeliver.py and replay.py; here it is recorded who asked for it, and a refusal
is raised as the tree's NotFound or Conflict (carrying the delivery id, entity or target)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.config.urls import mask_secrets
from mdm.errors import Conflict, NotFound
from mdm.propagate.redeliver import Retried, RetryRefused, retry_delivery
from mdm.propagate.replay import Replay, replay
from mdm.steward import audit
from mdm.store.repositories import workbench as repo

logger = logging.getLogger(__name__)


def find_delivery(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any]:
    """One delivery: what was sent, to whom, how it went and the target's answer, its error
    text masked (also one recorded before errors were masked on write). NotFound if none."""
    found = repo.delivery(conn, delivery_id)
    if found is None:
        raise NotFound("delivery", delivery_id)
    if found["last_error"]:
        found["last_error"] = mask_secrets(found["last_error"])
    return found


def retry(conn: psycopg.Connection, project: Project, delivery_id: int, actor: str) -> Retried:
    """Retry a dead or failed delivery (see redeliver.retry_delivery; a newer version sent in
    its stead waits for the records it references, like a processed one). Raises NotFound for
    an unknown delivery and Conflict when it may not be retried; then nothing is changed or
    logged."""
    with conn.transaction():
        try:
            done = retry_delivery(conn, delivery_id, project=project)
        except RetryRefused as exc:  # it carries its status: 404 or 409
            if exc.status == 404:
                raise NotFound("delivery", delivery_id, str(exc)) from exc
            raise Conflict(str(exc), "delivery", delivery_id) from exc
        audit.append(conn, actor, "delivery_retry",
                     f"{done.entity} {done.business_key} → {done.target}",
                     f"delivery {delivery_id} retried", before={
                         "delivery_id": delivery_id, "status": done.previous_status,
                         "last_error": done.last_error},
                     after={"delivery_id": done.delivery_id, "version": done.version,
                            "status": "pending", "replaced": done.replaced})
    logger.info("delivery retried id=%d by=%s due=%d v%d", delivery_id, actor, done.delivery_id,
                done.version)
    return done


def replay_records(conn: psycopg.Connection, project: Project, entity: str, target: str,
                   actor: str, key: str | None = None, since: datetime | None = None) -> Replay:
    """Queue the current version of the chosen records for `target` again (see
    replay.replay). Raises NotFound naming the unknown entity or target."""
    if entity not in project.entities:
        raise NotFound("entity", entity, f"unknown entity {entity!r}; known: "
                                         f"{', '.join(sorted(project.entities))}")
    mapped = sorted(project.entities[entity].targets)
    if target not in mapped:
        raise NotFound("target", target, f"{entity} is not propagated to target {target!r}; "
                                         f"its targets: {', '.join(mapped) or 'none'}")
    with conn.transaction():
        result = replay(conn, project, entity, target, key, since)
        audit.append(conn, actor, "replay", f"{entity} {key or '(all)'} → {target}",
                     f"since {since.isoformat()}" if since else None,
                     after={"entity": entity, "target": target, "key": key,
                            "since": since.isoformat() if since else None,
                            "queued": result.queued, "quarantined": result.quarantined})
    logger.info("replay entity=%s key=%s target=%s by=%s queued=%d", entity, key, target, actor,
                result.queued)
    return result
