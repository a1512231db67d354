"""SQL on deliveries sent again: a replay of current versions (`mdm replay`), a retry of one
dead or failed delivery. Each function runs in the caller's transaction."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from mdm.config.loader import Project
from mdm.model.deliveries import idempotency_key
from mdm.store.repositories import reference_waits

REPLAY_SQL = """
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation, idempotency_key)
SELECT g.id, g.version, g.entity, g.business_key, %(target)s,
       CASE WHEN v.status = 'retired' THEN 'retire' ELSE 'upsert' END,
       'mdm-g' || g.id || '-v' || g.version || '-' || %(target)s || '-replay-' || %(tag)s
FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
WHERE g.entity = %(entity)s AND v.quality NOT IN ('quarantined', 'held')
  AND g.business_key IS NOT NULL  -- a draft goes to no target
  AND (%(key)s::text IS NULL OR g.business_key = %(key)s)
  AND (%(since)s::timestamptz IS NULL OR EXISTS (
        SELECT 1 FROM golden_version s WHERE s.golden_id = g.id AND s.valid_from >= %(since)s))
RETURNING id
"""
HELD_SQL = """
SELECT count(*) FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
WHERE g.entity = %(entity)s AND v.quality IN ('quarantined', 'held')
  AND (%(key)s::text IS NULL OR g.business_key = %(key)s)
"""


def queue_replay(conn: psycopg.Connection, project: Project,
                 params: dict[str, Any]) -> tuple[int, int]:
    """Queue the current version of the chosen records again (params: entity, target, key,
    since, tag), each waiting for the referenced records it renders as a processed version's
    delivery does; (deliveries queued, current versions held back: quarantined, or held on an
    unknown reference)."""
    ids = [int(r[0]) for r in conn.execute(REPLAY_SQL, params).fetchall()]
    reference_waits.add_requirements(conn, project, ids)
    row = conn.execute(HELD_SQL, params).fetchone()
    return len(ids), int(row[0]) if row else 0


def lock_delivery(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any] | None:
    """(id, golden_id, version, entity, business_key, target, status, last_error, hop),
    locked."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, golden_id, version, entity, business_key, target, status, "
                           "last_error, hop FROM delivery WHERE id = %s FOR UPDATE",
                           (delivery_id,)).fetchone()


def make_due(conn: psycopg.Connection, delivery_id: int) -> None:
    """Due now, with fresh attempts."""
    conn.execute("UPDATE delivery SET status = 'pending', attempts = 0, "
                 "next_attempt_at = clock_timestamp() WHERE id = %s", (delivery_id,))


def supersede(conn: psycopg.Connection, delivery_id: int) -> None:
    conn.execute("UPDATE delivery SET status = 'superseded' WHERE id = %s", (delivery_id,))


def newer_acked(conn: psycopg.Connection, golden_id: int, target: str,
                version: int) -> tuple[int, int] | None:
    """(version, delivery id) of the newest version above `version` the target acknowledged."""
    row = conn.execute(
        "SELECT version, id FROM delivery WHERE golden_id = %s AND target = %s "
        "AND status = 'acked' AND version > %s ORDER BY version DESC LIMIT 1",
        (golden_id, target, version)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def due_delivery_of(conn: psycopg.Connection, golden_id: int, target: str, version: int,
                    retried_id: int) -> int:
    """The delivery of `version` to `target`, made due now: an open or dead one if there is
    one, else a new one (an idempotency key of its own: it is a new push)."""
    row = conn.execute(
        "UPDATE delivery SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp() "
        "WHERE id = (SELECT id FROM delivery WHERE golden_id = %s AND target = %s AND version = %s "
        "AND status IN ('pending', 'failed', 'dead') ORDER BY id DESC LIMIT 1) RETURNING id",
        (golden_id, target, version)).fetchone()
    if row is not None:
        return int(row[0])
    row = conn.execute(
        "INSERT INTO delivery (golden_id, version, entity, business_key, target, operation, "
        "idempotency_key) SELECT golden_id, version, entity, business_key, %s, "
        "CASE WHEN status = 'retired' THEN 'retire' ELSE 'upsert' END, %s "
        "FROM golden_version WHERE golden_id = %s AND version = %s RETURNING id",
        (target, f"{idempotency_key(golden_id, version, target)}-retry{retried_id}",
         golden_id, version)).fetchone()
    assert row is not None  # the caller has just read the version
    return int(row[0])
