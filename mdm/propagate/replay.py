"""Re-sending: `mdm replay ENTITY [KEY] --target T [--since T]` and the API's delivery retry.

A replay queues the *current* version of each chosen record again, with an idempotency key of
its own (`…-replay-<n>`), so a target that dedupes on the key applies it once more (a target
restored from a backup, a consumer that lost its queue). Older open deliveries of the same
record are superseded as usual, so order per record still holds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from mdm.config.loader import Project
from mdm.model.deliveries import OUTBOX_CHANNEL

REPLAY_SQL = """
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation, idempotency_key)
SELECT g.id, g.version, g.entity, g.business_key, %(target)s,
       CASE WHEN v.status = 'retired' THEN 'retire' ELSE 'upsert' END,
       'mdm-g' || g.id || '-v' || g.version || '-' || %(target)s || '-replay-' || %(tag)s
FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
WHERE g.entity = %(entity)s AND v.quality <> 'quarantined'
  AND (%(key)s::text IS NULL OR g.business_key = %(key)s)
  AND (%(since)s::timestamptz IS NULL OR EXISTS (
        SELECT 1 FROM golden_version s WHERE s.golden_id = g.id AND s.valid_from >= %(since)s))
"""
HELD_SQL = """
SELECT count(*) FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
WHERE g.entity = %(entity)s AND v.quality = 'quarantined'
  AND (%(key)s::text IS NULL OR g.business_key = %(key)s)
"""


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
        queued = conn.execute(REPLAY_SQL, params).rowcount
        row = conn.execute(HELD_SQL, params).fetchone()
        if queued:
            conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
    return Replay(queued=queued, quarantined=int(row[0]) if row else 0)
