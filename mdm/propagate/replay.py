"""Re-sending: `mdm replay ENTITY [KEY] --target T [--since T]` and the API's delivery retry.

A replay queues the *current* version of each chosen record again, with an idempotency key of
its own (`…-replay-<n>`), so a target that dedupes on the key applies it once more (a target
restored from a backup, a consumer that lost its queue). Older open deliveries of the same
record are superseded as usual, so order per record still holds, and each waits for the
referenced records it renders (references before referrers), as a processed version's does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from mdm.config.loader import Project
from mdm.store.repositories import outbox, redelivery


@dataclass(frozen=True)
class Replay:
    queued: int
    quarantined: int  # current versions held back by an error rule: not re-sent


def replay(conn: psycopg.Connection, project: Project, entity: str, target: str,
           key: str | None = None, since: datetime | None = None) -> Replay:
    """Queue the current version of ENTITY's records (one, or those changed since `since`) for
    `target`. Raises ValueError naming what is unknown."""
    if entity not in project.entities:
        raise ValueError(f"unknown entity {entity!r}; known: {', '.join(sorted(project.entities))}")
    mapped = sorted(project.entities[entity].targets)
    if target not in mapped:
        raise ValueError(f"{entity} is not propagated to target {target!r}; its targets: "
                         f"{', '.join(mapped) or 'none'}")
    params = {"entity": entity, "target": target, "key": key, "since": since,
              "tag": str(time.time_ns())}
    with conn.transaction():
        queued, held = redelivery.queue_replay(conn, project, params)
        if queued:
            outbox.notify(conn)
    return Replay(queued=queued, quarantined=held)
