"""Business keys are unique among an entity's released active records.

Targets address records by business key, so a version that gives a record a key another
active record holds (an ERP without a unique index, a code typed twice) would overwrite that
record at every target. Such a version is stored (the golden record mirrors its source) but
held back: quarantined, not delivered, with one `key_clash` task. The record waits until its
key is its own again — a later version with a free key, the holder giving the key up (renamed
or retired), or a steward's approve_edited with a free key — and is then delivered.
A draft (a record without a business key yet) holds and claims no key; its first number is
claimed like a new record's key. Runs inside the processing transaction, after the rules have
judged the batch.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg

from mdm.config.loader import Project
from mdm.model.golden import Cause, NewVersion
from mdm.model.tasks import KEY_CLASH, NewTask
from mdm.store.repositories import golden, outbox, reference_holds, tasks
from mdm.store.repositories.key_clashes import (
    Holder,
    close_clash_tasks,
    is_waiting,
    key_holders,
    waiting_on,
)

logger = logging.getLogger(__name__)


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
        tasks.open_tasks(conn, [_task(newest[g], h, system) for g, h in clashes.items()])
        logger.warning("key clashes held back count=%d (%s)", len(clashes), ", ".join(
            f"{newest[g].entity} {newest[g].business_key}" for g in list(clashes)[:5]))
    free = sorted(waiting - clashes.keys())
    close_clash_tasks(conn, free, "superseded", "a later version no longer clashes")
    _release_vacated(conn, project, versions, newest, system)
    return out


def _claims_key(project: Project, v: NewVersion) -> bool:
    """A new (or reactivated) record with a key, or one whose business key changed (a rename,
    or a draft's first number). A draft claims no key: records without one never clash."""
    if v.business_key is None:
        return False
    if v.previous is None:
        return True
    return project.entities[v.entity].business_key_of(v.previous.attributes) != v.business_key


def _clashes(conn: psycopg.Connection, claiming: Sequence[NewVersion],
             newest: dict[int, NewVersion]) -> dict[int, Holder]:
    """Claiming record → the record that holds its key (in the store or in the batch)."""
    found: dict[int, Holder] = {}
    by_entity: dict[str, list[NewVersion]] = {}
    for v in claiming:
        by_entity.setdefault(v.entity, []).append(v)
    claimed = {v.golden_id for v in claiming}
    for entity, mine in by_entity.items():
        keyed = [(v, v.business_key) for v in mine if v.business_key is not None]
        taken = key_holders(conn, entity, [key for _, key in keyed], list(newest))
        for v in newest.values():  # records of the batch that keep their key hold it
            if (v.entity == entity and v.golden_id not in claimed and v.status == "active"
                    and v.business_key is not None):
                taken.setdefault(v.business_key, Holder(v.golden_id, v.business_key, ""))
        for v, key in keyed:  # oldest record first: it takes a key nobody holds
            holder = taken.get(key)
            if holder is not None and holder.golden_id != v.golden_id:
                found[v.golden_id] = holder
            elif v.status == "active":
                taken[key] = Holder(v.golden_id, key, "")
    return found


def _quarantined(v: NewVersion) -> NewVersion:
    return NewVersion(v.golden_id, v.version, v.entity, v.business_key, v.attributes, v.status,
                      v.valid_from, v.cause, "quarantined", v.checks, v.previous)


def _task(v: NewVersion, holder: Holder, system: str) -> NewTask:
    summary = (f"{v.entity} {v.business_key} v{v.version} held back: business key "
               f"{v.business_key} is held by another active {v.entity} (golden id "
               f"{holder.golden_id}); give one of them another key in {system}")
    detail = {"key": v.business_key, "quality": "quarantined",
              "held_by": {"golden_id": holder.golden_id, "source_key": holder.source_key}}
    return NewTask(KEY_CLASH, v.entity, v.business_key, v.golden_id, v.version, system, "error",
                   summary, detail)


def _release_vacated(conn: psycopg.Connection, project: Project, versions: Sequence[NewVersion],
                     newest: dict[int, NewVersion], system: str) -> None:
    """Records waiting on a key that a version of this batch gave up are delivered now."""
    vacated: dict[str, set[str]] = {}
    for v in versions:
        if v.previous is None:
            continue
        old = project.entities[v.entity].business_key_of(v.previous.attributes)
        if old is not None and old != v.business_key:  # renamed, or its number cleared
            vacated.setdefault(v.entity, set()).add(old)
        elif v.status != "active" and v.business_key is not None:
            vacated.setdefault(v.entity, set()).add(v.business_key)
    for entity, keys in vacated.items():
        keys -= {v.business_key for v in newest.values()
                 if v.entity == entity and v.status == "active" and v.business_key is not None}
        still_held = key_holders(conn, entity, keys, list(newest)) if keys else {}
        keys -= still_held.keys()
        if keys:
            _release(conn, project, entity, sorted(keys), list(newest), system)


def _release(conn: psycopg.Connection, project: Project, entity: str, keys: list[str],
             batch_ids: list[int], system: str) -> None:
    rows = waiting_on(conn, entity, keys, batch_ids)
    if not rows:
        return
    released = [NewVersion(int(r[0]), int(r[1]), entity, r[2], r[3], r[4], r[5],
                           Cause("key_freed", system, None, None, None, None, None, None, None))
                for r in rows]
    golden.release_versions(conn, [(v.golden_id, v.version) for v in released],
                            only_quarantined=True)
    close_clash_tasks(conn, [v.golden_id for v in released], "released",
                      "the record holding the key gave it up")
    # one also held on an unknown reference stays held: it goes (as ok) when that record does
    held = reference_holds.requalify(conn, [v.golden_id for v in released], "ok")
    outbox.enqueue_deliveries(conn, project, [v for v in released if v.golden_id not in held])
    logger.info("key clashes released entity=%s keys=%s", entity, ",".join(keys))
