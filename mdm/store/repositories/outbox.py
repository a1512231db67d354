"""SQL on the outbox (`delivery`): one delivery row per (new version, target), written in the
processing transaction; the propagators claim what is due and record each attempt's outcome
(with the target's key as xref, its answer into the inbox, dead deliveries as tasks).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mdm.config.loader import Project
from mdm.model.deliveries import (
    OUTBOX_CHANNEL,
    Delivery,
    FailedAttempt,
    Outcome,
    build_payload,
    idempotency_key,
)
from mdm.model.golden import NewVersion
from mdm.model.inbox import INBOX_CHANNEL, WRITE_BACK_SOURCE
from mdm.model.tasks import NewTask
from mdm.store.repositories.inbox import WRITE_BACK_SQL
from mdm.store.repositories.tasks import CLOSE_DEAD_SQL, OPEN_TASK_SQL, task_params

logger = logging.getLogger(__name__)


def notify(conn: psycopg.Connection) -> None:
    """Wake the propagators (delivered at commit)."""
    conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")


def enqueue_deliveries(conn: psycopg.Connection, project: Project,
                       versions: Sequence[NewVersion],
                       changed: dict[tuple[int, int], set[str]] | None = None) -> int:
    """Insert a delivery for every version and every target its entity maps to (for a version
    listed in `changed`, only the targets that map one of the attributes it changed).

    The payload is not copied here: it is built from the immutable version when the push is
    made (and stored then), so versions superseded before sending cost nothing.
    """
    rows = []
    for v in versions:
        if v.quality == "quarantined":
            continue  # stored, not propagated, until a steward approves or a later version passes
        spec = project.entities[v.entity]
        only = (changed or {}).get((v.golden_id, v.version))
        for target, mapping in spec.targets.items():
            if only is not None and not only & set(mapping.fields.values()):
                continue
            operation = "retire" if v.status == "retired" else "upsert"
            rows.append((v.golden_id, v.version, v.entity, v.business_key, target, operation,
                         idempotency_key(v.golden_id, v.version, target)))
    if not rows:
        return 0
    with conn.cursor() as cur:
        with cur.copy("COPY delivery (golden_id, version, entity, business_key, target, operation, "
                      "idempotency_key) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    notify(conn)
    return len(rows)


def enqueue_push(conn: psycopg.Connection, project: Project, golden_id: int, version: int,
                 target: str, reason_tag: str) -> int:
    """One more delivery of an existing version to one target (a steward's "push again"). Its
    idempotency key is new, so a target that dedupes on the key applies it again."""
    if target not in project.targets:
        raise ValueError(f"unknown target {target}")
    row = conn.execute(
        "INSERT INTO delivery (golden_id, version, entity, business_key, target, operation, "
        "idempotency_key) SELECT golden_id, version, entity, business_key, %s, "
        "CASE WHEN status = 'retired' THEN 'retire' ELSE 'upsert' END, %s "
        "FROM golden_version WHERE golden_id = %s AND version = %s RETURNING id",
        (target, f"{idempotency_key(golden_id, version, target)}-{reason_tag}", golden_id,
         version)).fetchone()
    if row is None:
        raise ValueError(f"no version {version} of golden record {golden_id}")
    notify(conn)
    return int(row[0])


SUPERSEDE_SQL = """
UPDATE delivery d SET status = 'superseded'
FROM (SELECT id, version, max(version) OVER (PARTITION BY golden_id) AS latest
      FROM delivery WHERE target = %s AND status IN ('pending', 'failed')) o
WHERE d.id = o.id AND o.version < o.latest
"""

CLAIM_SQL = """
SELECT d.id, d.golden_id, d.version, d.entity, d.business_key, d.target, d.operation,
       v.attributes, v.status, d.idempotency_key, d.attempts, a.business_key, a.version
FROM delivery d JOIN golden_version v ON v.golden_id = d.golden_id AND v.version = d.version
LEFT JOIN LATERAL (
    SELECT business_key, version FROM delivery WHERE golden_id = d.golden_id
    AND target = d.target AND status = 'acked' ORDER BY version DESC, id DESC LIMIT 1) a ON true
WHERE d.target = %s AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= clock_timestamp()
ORDER BY d.id LIMIT %s
"""


async def claim_due(conn: psycopg.AsyncConnection, project: Project, target: str,
                    limit: int) -> list[Delivery]:
    """Supersede older open versions of each record, then return the due deliveries.

    After superseding, each record has at most one open delivery per target, so version
    n+1 can never overtake version n at the target; a claimed delivery older than a version
    the target has already acknowledged (whatever re-opened it) is superseded too, not sent:
    it would put old data back. Each delivery carries the key the target last acknowledged
    the record under when that differs (a rename).
    """
    async with conn.transaction():
        superseded = await conn.execute(SUPERSEDE_SQL, (target,))
        if superseded.rowcount:
            logger.debug("superseded deliveries target=%s count=%d", target, superseded.rowcount)
        cur = await conn.execute(CLAIM_SQL, (target, limit))
        rows = await cur.fetchall()
        overtaken = [r[0] for r in rows if r[12] is not None and r[12] > r[2]]
        if overtaken:
            await conn.execute("UPDATE delivery SET status = 'superseded' WHERE id = ANY(%s)",
                               (overtaken,))
            logger.warning("deliveries superseded by a newer acked version target=%s ids=%s",
                           target, sorted(overtaken))
    due = []
    for (id_, golden_id, version, entity, key, target_, operation, attributes, status,
         idem, attempts, acked_key, acked_version) in rows:
        if acked_version is not None and acked_version > version:
            continue
        mapping = project.entities[entity].targets[target_]
        owned = {a: attributes.get(a) for a in mapping.write_back.values()} or None
        due.append(Delivery(id_, golden_id, version, entity, key, target_, operation,
                            build_payload(mapping, attributes, status), idem, attempts, owned,
                            acked_key if acked_key not in (None, key) else None))
    return due


async def record_outcomes(conn: psycopg.AsyncConnection, acked: Sequence[Outcome],
                          failed: Sequence[FailedAttempt], dead: Sequence[NewTask]) -> None:
    """In one transaction: acks (the target's id as xref, its answer into the inbox, dead
    tasks of the record there closed), failures (with their next attempt time) and the tasks of
    deliveries that are dead now."""
    async with conn.transaction(), conn.cursor() as cur:
        if acked:
            await cur.executemany(
                "UPDATE delivery SET status = 'acked', attempts = attempts + 1, "
                "response_status = %s, target_id = %s, payload = %s, last_error = NULL, "
                "sent_at = clock_timestamp(), acked_at = clock_timestamp() WHERE id = %s",
                [(o.status_code, o.target_id, Jsonb(o.delivery.payload), o.delivery.id)
                 for o in acked])
            written_back = [o for o in acked if o.write_back]
            if written_back:  # processing turns them into versions, in inbox order
                await cur.executemany(WRITE_BACK_SQL, [
                    (WRITE_BACK_SOURCE + o.delivery.target, f"delivery-{o.delivery.id}",
                     o.delivery.entity, str(o.delivery.golden_id), Jsonb(o.write_back))
                    for o in written_back])
                await cur.execute(f"NOTIFY {INBOX_CHANNEL}")
            await cur.execute(CLOSE_DEAD_SQL, ([o.delivery.golden_id for o in acked],
                                               [o.delivery.target for o in acked],
                                               [o.delivery.version for o in acked]))
            await cur.executemany(
                "INSERT INTO xref (golden_id, system, key) VALUES (%s, %s, %s) "
                "ON CONFLICT (golden_id, system) DO UPDATE SET key = EXCLUDED.key, "
                "updated_at = clock_timestamp()",
                [(o.delivery.golden_id, o.delivery.target, o.target_id)
                 for o in acked if o.target_id])
        if failed:
            await cur.executemany(
                "UPDATE delivery SET status = %s, attempts = attempts + 1, "
                "response_status = %s, last_error = %s, payload = %s, sent_at = clock_timestamp(), "
                "next_attempt_at = clock_timestamp() + make_interval(secs => %s) WHERE id = %s",
                [_failure_params(f) for f in failed])
        if dead:  # a steward decides: retry once the cause is fixed, or waive
            await cur.executemany(OPEN_TASK_SQL, [task_params(t) for t in dead])


def _failure_params(f: FailedAttempt) -> tuple[Any, ...]:
    return (f.status, f.status_code, f.error, Jsonb(f.payload), f.delay_s, f.delivery_id)
