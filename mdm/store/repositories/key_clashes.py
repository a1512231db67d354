"""SQL on business-key clashes: which active record holds a key, which records wait on a clash
(an open `key_clash` task), closing those tasks, and the waiting records a freed key releases.
Each function runs in the caller's transaction."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.model.tasks import KEY_CLASH

HOLDERS_SQL = f"""
SELECT g.id, g.business_key, g.source_key FROM golden_record g
WHERE g.entity = %s AND g.status = 'active' AND g.business_key = ANY(%s) AND NOT g.id = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM task t WHERE t.type = '{KEY_CLASH}' AND t.status = 'open'
                  AND t.golden_id = g.id)
ORDER BY g.id
"""
WAITING_SQL = f"""
SELECT golden_id FROM task WHERE type = '{KEY_CLASH}' AND status = 'open' AND golden_id = ANY(%s)
"""
CLOSE_SQL = f"""
WITH closed AS (
    UPDATE task SET status = 'resolved', resolution = %s, resolved_by = 'system',
        resolved_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE type = '{KEY_CLASH}' AND status = 'open' AND golden_id = ANY(%s)
    RETURNING id, golden_id, version)
INSERT INTO decision (task_id, actor, action, reason, golden_id, version)
SELECT id, 'system', %s, %s, golden_id, version FROM closed
"""
WAITERS_SQL = f"""
SELECT DISTINCT ON (t.business_key) g.id, g.version, g.business_key, g.attributes,
       g.status, v.valid_from
FROM task t JOIN golden_record g ON g.id = t.golden_id
JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
WHERE t.type = '{KEY_CLASH}' AND t.status = 'open' AND t.entity = %s
  AND t.business_key = ANY(%s) AND g.business_key = t.business_key
  AND NOT g.id = ANY(%s)
ORDER BY t.business_key, g.id
"""


@dataclass(frozen=True)
class Holder:
    """The active record that holds a business key."""

    golden_id: int
    business_key: str
    source_key: str


def key_holders(conn: psycopg.Connection, entity: str, keys: Iterable[str],
                excluding: Iterable[int] = ()) -> dict[str, Holder]:
    """The released active record holding each key (records waiting on a clash do not hold)."""
    rows = conn.execute(HOLDERS_SQL, (entity, list(set(keys)), list(excluding))).fetchall()
    found: dict[str, Holder] = {}
    for golden_id, key, source_key in rows:
        found.setdefault(key, Holder(int(golden_id), key, source_key))
    return found


def is_waiting(conn: psycopg.Connection, golden_ids: Iterable[int]) -> set[int]:
    """Those of the records that wait on a key clash (an open key_clash task)."""
    ids = list(golden_ids)
    if not ids:
        return set()
    return {int(r[0]) for r in conn.execute(WAITING_SQL, (ids,)).fetchall()}


def close_clash_tasks(conn: psycopg.Connection, golden_ids: Sequence[int], resolution: str,
                      reason: str) -> int:
    """Close the records' open key_clash tasks, each with a system decision."""
    if not golden_ids:
        return 0
    return conn.execute(CLOSE_SQL, (resolution, list(golden_ids), resolution, reason)).rowcount


def waiting_on(conn: psycopg.Connection, entity: str, keys: Sequence[str],
               excluding: Sequence[int]) -> list[tuple[Any, ...]]:
    """The oldest record waiting on each of `keys` (other than `excluding`): its current
    (id, version, business_key, attributes, status, valid_from)."""
    return conn.execute(WAITERS_SQL, (entity, list(keys), list(excluding))).fetchall()
