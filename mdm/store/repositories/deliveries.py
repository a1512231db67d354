"""Read queries over deliveries: the outbox for the surfaces, one record's deliveries, and what
the hub sent each target of an entity's records (which divergence and reconcile compare a
target's copy with). Nothing is written."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from mdm.config.urls import mask_secrets

# The newest delivered version's attributes come along (the version an echo usually matches):
# a primary-key probe gated on d.n = 1 (LIMIT 1 keeps the planner from flattening the lateral
# into a join with the whole of golden_version); the open divergence task, through
# task_open_uq.
RECENT_SQL = """
SELECT g.business_key, g.id, g.version, d.version, d.in_flight, d.acked_at, v.attributes,
       v.status,
       EXISTS (SELECT 1 FROM task t WHERE t.type = 'divergence' AND t.status = 'open'
               AND t.entity = g.entity AND t.business_key = g.business_key
               AND t.system = %(target)s)
FROM golden_record g
LEFT JOIN LATERAL (
    SELECT version, in_flight, acked_at, row_number() OVER (ORDER BY version DESC) AS n
    FROM (SELECT version, bool_or(status IN ('pending', 'failed')) AS in_flight,
                 min(acked_at) FILTER (WHERE status = 'acked') AS acked_at
          FROM delivery WHERE golden_id = g.id AND target = %(target)s
          GROUP BY version ORDER BY version DESC LIMIT %(versions)s) recent) d ON true
LEFT JOIN LATERAL (
    SELECT attributes, status FROM golden_version
    WHERE golden_id = g.id AND version = d.version AND d.n = 1 LIMIT 1) v ON true
WHERE g.entity = %(entity)s AND g.business_key = ANY(%(keys)s)
ORDER BY g.business_key, d.version DESC
"""
LATEST_SQL = """
SELECT g.business_key, g.id, d.version, d.status, v.attributes, v.status
FROM golden_record g
JOIN LATERAL (SELECT version, status FROM delivery WHERE golden_id = g.id AND target = %s
              ORDER BY version DESC, id DESC LIMIT 1) d ON true
-- a primary-key probe per record: LIMIT 1 keeps the planner from flattening it into a hash
-- join over the whole version history (as it did for divergence's reads)
JOIN LATERAL (SELECT attributes, status FROM golden_version
              WHERE golden_id = g.id AND version = d.version LIMIT 1) v ON true
WHERE g.entity = %s AND g.business_key = ANY(%s)
"""


def list_deliveries(conn: Connection, status: str | None, target: str | None,
                    limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT id, golden_id, version, entity, business_key, target, operation, status, "
        "attempts, response_status, last_error, target_id, created_at, acked_at FROM delivery "
        "WHERE (CAST(:s AS text) IS NULL OR status = :s) AND (CAST(:t AS text) IS NULL OR target = :t) "
        "ORDER BY id DESC LIMIT :l"), {"s": status, "t": target, "l": limit})
    out = [dict(r._mapping) for r in rows]
    for r in out:  # readable by every role: no secret from an old error text
        if r["last_error"]:
            r["last_error"] = mask_secrets(r["last_error"])
    return out


def deliveries_of(conn: Connection, golden_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(text(
        "SELECT id, version, target, operation, status, attempts, response_status, target_id, "
        "last_error, created_at, acked_at FROM delivery WHERE golden_id = :g "
        "ORDER BY version DESC, target"), {"g": golden_id})
    return [dict(r._mapping) for r in rows]


def recent_sends(conn: psycopg.Connection, entity: str, target: str, keys: Sequence[str],
                 versions: int) -> list[tuple[Any, ...]]:
    """Per record of `entity` with one of the business `keys`: (business_key, golden id,
    current version), then per version delivered to `target` (the newest `versions`, newest
    first; NULLs when none): (version, a delivery of it still in flight, when it was first
    acknowledged, attributes, status — these two of the newest only, NULLs for the others),
    and whether the record has an open divergence task at `target`. The other versions'
    attributes: golden.version_attributes, for the versions a comparison tries."""
    return conn.execute(RECENT_SQL, {"target": target, "versions": versions, "entity": entity,
                                     "keys": list(keys)}).fetchall()


def latest_sends(conn: psycopg.Connection, entity: str, target: str,
                 keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Per record of `entity` with one of the business `keys` sent to `target`: (business_key,
    golden id, version, delivery status, attributes, status) of its newest delivery."""
    return conn.execute(LATEST_SQL, (target, entity, list(keys))).fetchall()
