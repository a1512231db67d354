"""SQL on references (`reference_hold`, and golden_record by (entity, source key)): which
referenced records the hub knows (and what a payload shows of them), the versions held on a reference it does not know yet, their
release when that record arrives, and the unknown_reference tasks of holds that waited too
long. Each function runs in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from mdm.config.models import EntitySpec
from mdm.config.references import every_reference
from mdm.model.references import ReferencedRecord
from mdm.model.tasks import UNKNOWN_REFERENCE

RecordKey = tuple[str, str]  # (entity, source key)

IDS_SQL = """
SELECT g.entity, g.source_key, g.id FROM golden_record g
JOIN unnest(%s::text[], %s::text[]) AS k(e, s) ON g.entity = k.e AND g.source_key = k.s
"""
HOLD_SQL = """
INSERT INTO reference_hold (golden_id, attribute, referenced_entity, referenced_key, version,
                            entity, business_key, system, quality)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[],
                     %s::text[], %s::text[], %s::text[])
ON CONFLICT (golden_id, attribute, referenced_key) DO UPDATE SET
    version = EXCLUDED.version, business_key = EXCLUDED.business_key,
    quality = EXCLUDED.quality
"""
# The holds of these records that their newest version no longer has (it names another record,
# or none): gone, with the task of each record left without a hold.
DROP_SQL = """
DELETE FROM reference_hold h WHERE h.golden_id = ANY(%s)
  AND (h.golden_id, h.attribute, h.referenced_key) NOT IN (
      SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]))
RETURNING h.golden_id
"""
RESOLVED_SQL = """
DELETE FROM reference_hold h USING unnest(%s::text[], %s::text[]) AS k(e, s)
WHERE h.referenced_entity = k.e AND h.referenced_key = k.s
RETURNING h.golden_id, h.version, h.quality
"""
# Held versions whose last hold went: back to the quality they had, and what to deliver.
RELEASE_SQL = """
WITH released AS (
    UPDATE golden_version v SET quality = r.quality
    FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS r(golden_id, version, quality)
    WHERE v.golden_id = r.golden_id AND v.version = r.version AND v.quality = 'held'
      AND NOT EXISTS (SELECT 1 FROM reference_hold h WHERE h.golden_id = r.golden_id)
    RETURNING v.golden_id, v.version, v.entity, v.business_key, v.attributes, v.status,
              v.valid_from, v.quality)
SELECT r.* FROM released r JOIN golden_record g ON g.id = r.golden_id AND g.version = r.version
"""
CLOSE_SQL = f"""
WITH closed AS (
    UPDATE task SET status = 'resolved', resolution = %s, resolved_by = 'system',
        resolved_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE type = '{UNKNOWN_REFERENCE}' AND status = 'open' AND golden_id = ANY(%s)
      AND NOT EXISTS (SELECT 1 FROM reference_hold h WHERE h.golden_id = task.golden_id)
    RETURNING id, golden_id, version)
INSERT INTO decision (task_id, actor, action, reason, golden_id, version)
SELECT id, 'system', %s, %s, golden_id, version FROM closed
"""
OVERDUE_SQL = """
SELECT h.golden_id, h.version, h.entity, h.business_key, h.system, h.attribute,
       h.referenced_entity, h.referenced_key, h.held_since
FROM reference_hold h JOIN unnest(%s::text[], %s::float8[]) AS w(entity, seconds)
  ON h.entity = w.entity
WHERE h.task_id IS NULL AND h.held_since <= clock_timestamp() - make_interval(secs => w.seconds)
ORDER BY h.golden_id, h.attribute
"""


@dataclass(frozen=True)
class Hold:
    """One reference of a record's current version that names a record the hub lacks."""

    golden_id: int
    attribute: str
    referenced_entity: str
    referenced_key: str
    version: int
    entity: str
    business_key: str
    system: str
    quality: str  # the version's quality had it not been held


@dataclass(frozen=True)
class Overdue:
    golden_id: int
    version: int
    entity: str
    business_key: str
    system: str
    attribute: str
    referenced_entity: str
    referenced_key: str
    held_since: datetime


NUMBERED_SQL = IDS_SQL + " WHERE g.business_key IS NOT NULL"


def numbered_ids(conn: psycopg.Connection, keys: Iterable[RecordKey]) -> dict[RecordKey, int]:
    """(entity, source key) → golden id, of those records that exist and have a business key:
    a draft, which reaches no target, is no record a referrer can be shown or wait for."""
    keys = list(set(keys))
    if not keys:
        return {}
    rows = conn.execute(NUMBERED_SQL, ([e for e, _ in keys], [s for _, s in keys])).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def record_ids(conn: psycopg.Connection, keys: Iterable[RecordKey]) -> dict[RecordKey, int]:
    """(entity, source key) → golden id, of those records that exist."""
    keys = list(set(keys))
    if not keys:
        return {}
    rows = conn.execute(IDS_SQL, ([e for e, _ in keys], [s for _, s in keys])).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def hold(conn: psycopg.Connection, holds: Sequence[Hold]) -> None:
    """Record the holds (a record held before keeps its `held_since`)."""
    if holds:
        columns = [[getattr(h, f) for h in holds] for f in (
            "golden_id", "attribute", "referenced_entity", "referenced_key", "version",
            "entity", "business_key", "system", "quality")]
        conn.execute(HOLD_SQL, columns)


def held_among(conn: psycopg.Connection, golden_ids: Iterable[int]) -> set[int]:
    """Those of the records that are held now (one look on the primary key's first column)."""
    ids = sorted(set(golden_ids))
    if not ids:
        return set()
    rows = conn.execute("SELECT DISTINCT golden_id FROM reference_hold WHERE golden_id = "
                        "ANY(%s)", (ids,)).fetchall()
    return {int(r[0]) for r in rows}


def drop_other_holds(conn: psycopg.Connection, golden_ids: Sequence[int],
                     keep: Sequence[Hold]) -> set[int]:
    """Remove the records' holds other than `keep`; the records that had one removed."""
    if not golden_ids:
        return set()
    rows = conn.execute(DROP_SQL, (list(golden_ids), [h.golden_id for h in keep],
                                   [h.attribute for h in keep],
                                   [h.referenced_key for h in keep])).fetchall()
    return {int(r[0]) for r in rows}


def resolve(conn: psycopg.Connection, arrived: Iterable[RecordKey]) -> list[tuple[int, int, str]]:
    """Remove the holds on records that exist now: (golden id, held version, its quality)."""
    keys = list(set(arrived))
    if not keys:
        return []
    rows = conn.execute(RESOLVED_SQL, ([e for e, _ in keys], [s for _, s in keys])).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def release(conn: psycopg.Connection,
            held: Sequence[tuple[int, int, str]]) -> list[tuple[Any, ...]]:
    """Give held versions left without a hold their quality back; those still current:
    (golden_id, version, entity, business_key, attributes, status, valid_from, quality)."""
    if not held:
        return []
    return conn.execute(RELEASE_SQL, ([h[0] for h in held], [h[1] for h in held],
                                      [h[2] for h in held])).fetchall()


def close_tasks(conn: psycopg.Connection, golden_ids: Iterable[int], resolution: str,
                reason: str) -> int:
    """Close the open unknown_reference tasks of records no longer held, each with a system
    decision."""
    ids = sorted(set(golden_ids))
    if not ids:
        return 0
    return conn.execute(CLOSE_SQL, (resolution, ids, resolution, reason)).rowcount


def overdue(conn: psycopg.Connection, waits: dict[str, timedelta]) -> list[Overdue]:
    """Holds without a task that have waited longer than their entity's wait."""
    if not waits:
        return []
    rows = conn.execute(OVERDUE_SQL, (list(waits), [w.total_seconds() for w in waits.values()]))
    return [Overdue(*r) for r in rows.fetchall()]


def mark_tasked(conn: psycopg.Connection, tasks: Sequence[tuple[int, int]]) -> None:
    """(golden id, task id): the holds of these records have their task."""
    if tasks:
        conn.execute("UPDATE reference_hold h SET task_id = t.task_id FROM unnest(%s::bigint[], "
                     "%s::bigint[]) AS t(golden_id, task_id) WHERE h.golden_id = t.golden_id",
                     ([g for g, _ in tasks], [t for _, t in tasks]))


def held_count(conn: psycopg.Connection) -> int:
    """Records whose current version is held on an unknown reference."""
    row = conn.execute("SELECT count(DISTINCT golden_id) FROM reference_hold").fetchone()
    return int(row[0]) if row else 0


REFERENCED_SQL = """
SELECT k.e, k.s, g.id, v.attributes,
       (SELECT jsonb_object_agg(x.system, x.key) FROM xref x WHERE x.golden_id = g.id)
FROM unnest(%s::text[], %s::text[]) AS k(e, s)
JOIN golden_record g ON g.entity = k.e AND g.source_key = k.s
LEFT JOIN LATERAL (SELECT attributes FROM golden_version WHERE golden_id = g.id
                   AND quality NOT IN ('quarantined', 'held') ORDER BY version DESC LIMIT 1) v ON true
"""


def referenced_of(conn: psycopg.Connection, spec: EntitySpec,
                  attributes: Mapping[str, Any]) -> dict[str, ReferencedRecord]:
    """Reference attribute (a list row's: its `listed_slot`) → the record it names, as a
    payload renders it (its newest version a target may receive, its keys in every system):
    for showing a record's copy beside its golden fields."""
    named = {slot: (r.entity, key) for r in every_reference(spec)
             for slot, key in r.slots(attributes)}
    if not named:
        return {}
    keys = sorted(set(named.values()))
    rows = conn.execute(REFERENCED_SQL, ([e for e, _ in keys], [k for _, k in keys])).fetchall()
    records = {(e, k): ReferencedRecord(int(g), a or {}, x or {}) for e, k, g, a, x in rows}
    return {a: records[key] for a, key in named.items() if key in records}


def unknown_in(conn: psycopg.Connection, spec: EntitySpec,
               attributes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(attribute — list.attribute for a list row's —, entity, source key) of each reference
    in `attributes` naming a record the hub does not hold (a version made outside processing:
    a steward's edited version)."""
    named = [(".".join((*r.path, r.attribute)), r.entity, key) for r in every_reference(spec)
             for _, key in r.slots(attributes)]
    known = numbered_ids(conn, [(e, k) for _, e, k in named])  # a draft is at no target
    return sorted({n for n in named if (n[1], n[2]) not in known})


def hold_version(conn: psycopg.Connection, golden_id: int, version: int, entity: str,
                 business_key: str | None, system: str, quality: str,
                 unknown: Sequence[tuple[str, str, str]]) -> None:
    """The record's holds as its new current version has them (`unknown`, from `unknown_in`;
    on release it gets `quality`); holds it no longer has go, with their task."""
    holds = [Hold(golden_id, a, e, k, version, entity, business_key or "", system, quality)
             for a, e, k in unknown]
    dropped = drop_other_holds(conn, [golden_id], holds) if held_among(conn, [golden_id]) \
        else set()
    hold(conn, holds)
    close_tasks(conn, dropped, "superseded", "a later version names no unknown record")


REQUALIFY_SQL = """
UPDATE reference_hold SET quality = %s WHERE golden_id = ANY(%s) AND quality = ANY(%s)
RETURNING golden_id
"""


def requalify(conn: psycopg.Connection, golden_ids: Sequence[int], quality: str,
              before: Sequence[str] = ("quarantined",)) -> set[int]:
    """The quality held records get back on release, now `quality` (a steward approved them,
    a key clash ended): those of `golden_ids` that are held, which stay so."""
    if not golden_ids:
        return set()
    rows = conn.execute(REQUALIFY_SQL, (quality, list(golden_ids), list(before))).fetchall()
    return {int(r[0]) for r in rows} | held_among(conn, golden_ids)

