"""Business keys are unique among an entity's released active records.

Targets address records by business key, so a version that gives a record a key another
active record holds (an ERP without a unique index, a code typed twice) would overwrite that
record at every target. Such a version is stored (the golden record mirrors its source) but
held back: quarantined, not delivered, with one `key_clash` task. The record waits until its
key is its own again — a later version with a free key, the holder giving the key up (renamed
or retired), or a steward's approve_edited with a free key — and is then delivered.
Runs inside the processing transaction, after the rules have judged the batch.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mdm.config.loader import Project
from mdm.model.golden import Cause, NewVersion
from mdm.propagate.outbox import enqueue_deliveries
from mdm.steward.tasks import OPEN_TASK_SQL

logger = logging.getLogger(__name__)
KEY_CLASH = "key_clash"

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


@dataclass(frozen=True)
class Holder:
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
    if not golden_ids:
        return 0
    return conn.execute(CLOSE_SQL, (resolution, list(golden_ids), resolution, reason)).rowcount


def hold_key_clashes(conn: psycopg.Connection, project: Project, versions: list[NewVersion],
                     system: str) -> list[NewVersion]:
    """The batch's versions, those that would take a key another active record holds
    quarantined (same order); key_clash tasks opened for them, closed for records whose key
    is free again, and waiting records whose key this batch freed released."""
    newest: dict[int, NewVersion] = {}
    for v in versions:
        newest[v.golden_id] = v
    waiting = is_waiting(conn, newest)
    claiming = {v.golden_id for v in versions if _claims_key(project, v)} | waiting
    clashes = _clashes(conn, [newest[g] for g in sorted(claiming)], newest)
    held = {(gid, newest[gid].business_key) for gid in clashes}
    out = [_quarantined(v) if (v.golden_id, v.business_key) in held else v for v in versions]
    if clashes:
        with conn.cursor() as cur:
            cur.executemany(OPEN_TASK_SQL, [_task(newest[g], h, system)
                                            for g, h in clashes.items()])
        logger.warning("key clashes held back count=%d (%s)", len(clashes), ", ".join(
            f"{newest[g].entity} {newest[g].business_key}" for g in list(clashes)[:5]))
    free = sorted(waiting - clashes.keys())
    close_clash_tasks(conn, free, "superseded", "a later version no longer clashes")
    _release_vacated(conn, project, versions, newest, system)
    return out


def _claims_key(project: Project, v: NewVersion) -> bool:
    """A new (or reactivated) record, or one whose business key changed."""
    if v.previous is None:
        return True
    key = project.entities[v.entity].business_key
    return str(v.previous.attributes.get(key, "")) != v.business_key


def _clashes(conn: psycopg.Connection, claiming: Sequence[NewVersion],
             newest: dict[int, NewVersion]) -> dict[int, Holder]:
    """Claiming record → the record that holds its key (in the store or in the batch)."""
    found: dict[int, Holder] = {}
    by_entity: dict[str, list[NewVersion]] = {}
    for v in claiming:
        by_entity.setdefault(v.entity, []).append(v)
    claimed = {v.golden_id for v in claiming}
    for entity, mine in by_entity.items():
        taken = key_holders(conn, entity, [v.business_key for v in mine], list(newest))
        for v in newest.values():  # records of the batch that keep their key hold it
            if v.entity == entity and v.golden_id not in claimed and v.status == "active":
                taken.setdefault(v.business_key, Holder(v.golden_id, v.business_key, ""))
        for v in mine:  # oldest record first: it takes a key nobody holds
            holder = taken.get(v.business_key)
            if holder is not None and holder.golden_id != v.golden_id:
                found[v.golden_id] = holder
            elif v.status == "active":
                taken[v.business_key] = Holder(v.golden_id, v.business_key, "")
    return found


def _quarantined(v: NewVersion) -> NewVersion:
    return NewVersion(v.golden_id, v.version, v.entity, v.business_key, v.attributes, v.status,
                      v.valid_from, v.cause, "quarantined", v.checks, v.previous)


def _task(v: NewVersion, holder: Holder, system: str) -> tuple[Any, ...]:
    summary = (f"{v.entity} {v.business_key} v{v.version} held back: business key "
               f"{v.business_key} is held by another active {v.entity} (golden id "
               f"{holder.golden_id}); give one of them another key in {system}")
    detail = {"key": v.business_key, "quality": "quarantined",
              "held_by": {"golden_id": holder.golden_id, "source_key": holder.source_key}}
    return (KEY_CLASH, v.entity, v.business_key, v.golden_id, v.version, system, "error",
            summary, Jsonb(detail))


def _release_vacated(conn: psycopg.Connection, project: Project, versions: Sequence[NewVersion],
                     newest: dict[int, NewVersion], system: str) -> None:
    """Records waiting on a key that a version of this batch gave up are delivered now."""
    vacated: dict[str, set[str]] = {}
    for v in versions:
        if v.previous is None:
            continue
        old = str(v.previous.attributes.get(project.entities[v.entity].business_key, ""))
        if old != v.business_key:
            vacated.setdefault(v.entity, set()).add(old)
        elif v.status != "active":
            vacated.setdefault(v.entity, set()).add(v.business_key)
    for entity, keys in vacated.items():
        keys -= {v.business_key for v in newest.values()
                 if v.entity == entity and v.status == "active"}
        still_held = key_holders(conn, entity, keys, list(newest)) if keys else {}
        keys -= still_held.keys()
        if keys:
            _release(conn, project, entity, sorted(keys), list(newest), system)


def _release(conn: psycopg.Connection, project: Project, entity: str, keys: list[str],
             batch_ids: list[int], system: str) -> None:
    rows = conn.execute(
        f"""
        SELECT DISTINCT ON (t.business_key) g.id, g.version, g.business_key, g.attributes,
               g.status, v.valid_from
        FROM task t JOIN golden_record g ON g.id = t.golden_id
        JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        WHERE t.type = '{KEY_CLASH}' AND t.status = 'open' AND t.entity = %s
          AND t.business_key = ANY(%s) AND g.business_key = t.business_key
          AND NOT g.id = ANY(%s)
        ORDER BY t.business_key, g.id
        """, (entity, keys, batch_ids)).fetchall()
    if not rows:
        return
    released = [NewVersion(int(r[0]), int(r[1]), entity, r[2], r[3], r[4], r[5],
                           Cause("key_freed", system, None, None, None, None, None, None, None))
                for r in rows]
    conn.execute("UPDATE golden_version SET quality = 'ok' WHERE (golden_id, version) IN "
                 "(SELECT * FROM unnest(%s::bigint[], %s::int[])) AND quality = 'quarantined'",
                 ([v.golden_id for v in released], [v.version for v in released]))
    close_clash_tasks(conn, [v.golden_id for v in released], "released",
                      "the record holding the key gave it up")
    enqueue_deliveries(conn, project, released)
    logger.info("key clashes released entity=%s keys=%s", entity, ",".join(keys))
