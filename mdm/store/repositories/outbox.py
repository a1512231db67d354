"""SQL on the outbox (`delivery`): one delivery row per (new version, target), written in the
processing transaction; the propagators claim what is due and record each attempt's outcome
(with the target's key as xref, its answer into the inbox, dead deliveries as tasks). What a
delivery waits for before it may be claimed (its referenced records): reference_waits.py.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mdm.config.flow_payload import (
    UnmappedValue,
    changed_fields,
    command_payload,
    command_references,
)
from mdm.config.flows import CommandMapping, created_xref
from mdm.config.loader import Project
from mdm.model.deliveries import (
    OUTBOX_CHANNEL,
    Delivery,
    FailedAttempt,
    Outcome,
    build_payload,
    idempotency_key,
)
from mdm.config.references import Rendered, rendered_references
from mdm.model.golden import NewVersion
from mdm.model.references import ReferencedRecord
from mdm.model.inbox import INBOX_CHANNEL, WRITE_BACK_SOURCE
from mdm.model.tasks import NewTask
from mdm.store.repositories.inbox import WRITE_BACK_SQL
from mdm.store.repositories.reference_waits import (
    WAKE_SQL,
    add_requirements,
    requirements,
    requires_columns,
)
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
    made (and stored then), so versions superseded before sending cost nothing. An upsert
    whose mapping renders a reference waits (`requires_*`) until the referenced record is
    acknowledged where config/references.py's `waits_of` says.
    """
    rows = []
    for v in versions:
        if v.quality in HELD_BACK:
            continue  # stored, not propagated, until a steward approves or a later version passes
        if v.business_key is None:
            continue  # a draft: targets address records by key; it goes with its first one
        spec = project.entities[v.entity]
        only = (changed or {}).get((v.golden_id, v.version))
        for target, mapping in spec.targets.items():
            if only is not None and not only & set(mapping.fields.values()):
                continue
            operation = "retire" if v.status == "retired" else "upsert"
            rows.append((v, target, operation))
    if not rows:
        return 0
    needs = requirements(conn, project, [(v, t) for v, t, op in rows if op == "upsert"])
    with conn.cursor() as cur:
        with cur.copy(f"COPY delivery ({_ENQUEUED}) FROM STDIN") as copy:
            for v, target, operation in rows:
                copy.write_row((v.golden_id, v.version, v.entity, v.business_key, target,
                                operation, idempotency_key(v.golden_id, v.version, target),
                                *requires_columns(needs.get((v.golden_id, target), ()))))
    notify(conn)
    return len(rows)


HELD_BACK = ("quarantined", "held")  # versions not propagated: an error rule, an unknown reference
_ENQUEUED = ("golden_id, version, entity, business_key, target, operation, idempotency_key, "
             "requires_id, requires_at, requires_version")


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
        "FROM golden_version WHERE golden_id = %s AND version = %s "
        "AND business_key IS NOT NULL AND quality NOT IN ('quarantined', 'held') RETURNING id",
        (target, f"{idempotency_key(golden_id, version, target)}-{reason_tag}", golden_id,
         version)).fetchone()
    if row is None:
        raise ValueError(f"no version {version} of golden record {golden_id} that may be "
                         "propagated (a draft's goes to no target; a quarantined or held one "
                         "waits for its decision or its referenced record)")
    add_requirements(conn, project, [int(row[0])])
    notify(conn)
    return int(row[0])


# Per record and hop (NULL: the record's own upserts): a create command is never superseded.
SUPERSEDE_SQL = """
UPDATE delivery d SET status = 'superseded'
FROM (SELECT id, version, max(version) OVER (PARTITION BY golden_id, hop) AS latest
      FROM delivery WHERE target = %s AND status IN ('pending', 'failed')
      AND operation <> 'create' AND (NOT %s OR hop IS NOT NULL)) o
WHERE d.id = o.id AND o.version < o.latest
"""

CLAIM_SQL = """
SELECT d.id, d.golden_id, d.version, d.entity, d.business_key, d.target, d.operation,
       v.attributes, v.status, d.idempotency_key, d.attempts, a.business_key, a.version, d.hop,
       d.progress,
       -- a back update: the attributes of the version its last acknowledged one was made from
       CASE WHEN d.hop LIKE '%%.back' THEN (SELECT attributes FROM golden_version
            WHERE golden_id = d.golden_id AND version = a.version) END
FROM delivery d JOIN golden_version v ON v.golden_id = d.golden_id AND v.version = d.version
LEFT JOIN LATERAL (
    SELECT business_key, version FROM delivery WHERE golden_id = d.golden_id
    AND target = d.target AND status = 'acked' AND hop IS NOT DISTINCT FROM d.hop
    ORDER BY version DESC, id DESC LIMIT 1) a ON true
WHERE d.target = %s AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= clock_timestamp()
  AND (NOT %s OR d.hop IS NOT NULL)
  -- references before referrers: each record it requires is acknowledged where it must be
  -- (no requirement: unnest of NULLs is no row, one cheap test per candidate)
  AND NOT EXISTS (
    SELECT 1 FROM unnest(d.requires_id, d.requires_at, d.requires_version) AS r(golden_id, target, version)
    WHERE NOT EXISTS (SELECT 1 FROM delivery q WHERE q.golden_id = r.golden_id
                      AND q.target = r.target AND q.version >= r.version AND q.status = 'acked'))
ORDER BY d.id LIMIT %s
"""


async def claim_due(conn: psycopg.AsyncConnection, project: Project, target: str,
                    limit: int, commands_only: bool = False) -> list[Delivery]:
    """Supersede older open versions of each record, then return the due deliveries (with
    `commands_only`, only flow commands: delivery.hop set).

    After superseding, each record has at most one open delivery per target, so version
    n+1 can never overtake version n at the target; a claimed delivery older than a version
    the target has already acknowledged (whatever re-opened it) is superseded too, not sent:
    it would put old data back. Each delivery carries the key the target last acknowledged
    the record under when that differs (a rename).
    """
    async with conn.transaction():
        superseded = await conn.execute(SUPERSEDE_SQL, (target, commands_only))
        if superseded.rowcount:
            logger.debug("superseded deliveries target=%s count=%d", target, superseded.rowcount)
        cur = await conn.execute(CLAIM_SQL, (target, commands_only, limit))
        rows = await cur.fetchall()
        overtaken = [r[0] for r in rows if r[12] is not None and r[12] > r[2]
                     and r[6] != "create"]
        if overtaken:
            await conn.execute("UPDATE delivery SET status = 'superseded' WHERE id = ANY(%s)",
                               (overtaken,))
            logger.warning("deliveries superseded by a newer acked version target=%s ids=%s",
                           target, sorted(overtaken))
        referenced = await _referenced(conn, project, target, rows)
    due = []
    for (id_, golden_id, version, entity, key, target_, operation, attributes, status,
         idem, attempts, acked_key, acked_version, hop, progress, acked_attributes) in rows:
        if hop is not None:
            due.append(replace(_command(project, id_, golden_id, version, entity, key, target_,
                                        operation, attributes, idem, attempts, hop,
                                        referenced.get(id_, {}), acked_attributes),
                               progress=progress))
            continue
        if acked_version is not None and acked_version > version:
            continue
        mapping = project.entities[entity].targets[target_]
        owned = {a: attributes.get(a) for a in mapping.write_back.values()} or None
        payload = build_payload(mapping, attributes, status, referenced.get(id_), target_)
        due.append(Delivery(id_, golden_id, version, entity, key, target_, operation, payload,
                            idem, attempts, owned,
                            acked_key if acked_key not in (None, key) else None))
    return due


def _command_mapping(project: Project, hop: str) -> CommandMapping:
    spec, back = project.command_of(hop)
    mapping = spec.back if back else spec.to
    assert mapping is not None
    return mapping


def _command(project: Project, id_: int, golden_id: int, version: int, entity: str, key: str,
             target: str, operation: str, attributes: dict[str, Any], idem: str,
             attempts: int, hop: str, referenced: dict[str, ReferencedRecord],
             acked_attributes: dict[str, Any] | None = None) -> Delivery:
    """A flow's command, its payload made by its hop's mapping (or refused: why); a back
    update with `only_changed`, only the fields that differ from the last acknowledged one."""
    mapping = _command_mapping(project, hop)
    try:
        payload = command_payload(mapping, attributes, referenced, target)
        if acked_attributes is not None and getattr(mapping, "only_changed", False):
            payload = changed_fields(payload, _sent(mapping, acked_attributes, referenced,
                                                    target))
        refused = None
    except UnmappedValue as exc:
        payload, refused = {}, str(exc)
    return Delivery(id_, golden_id, version, entity, key, target, operation, payload, idem,
                    attempts, hop=hop, refused=refused)


def _sent(mapping: CommandMapping, attributes: dict[str, Any],
          referenced: dict[str, ReferencedRecord], target: str) -> dict[str, Any]:
    """What an acknowledged command of `mapping` made from `attributes` sent (nothing known
    when its values no longer map: then every field is sent)."""
    try:
        return command_payload(mapping, attributes, referenced, target)
    except UnmappedValue:
        return {}


REFERENCED_SQL = """
SELECT k.e, k.s, g.id, v.attributes,
       (SELECT jsonb_object_agg(x.system, x.key) FROM xref x WHERE x.golden_id = g.id)
FROM unnest(%s::text[], %s::text[]) AS k(e, s)
JOIN golden_record g ON g.entity = k.e AND g.source_key = k.s
LEFT JOIN LATERAL (SELECT attributes FROM golden_version WHERE golden_id = g.id
                   AND quality NOT IN ('quarantined', 'held') ORDER BY version DESC LIMIT 1) v ON true
"""


async def _referenced(conn: psycopg.AsyncConnection, project: Project, target: str,
                      rows: Sequence[Any]) -> dict[int, dict[str, ReferencedRecord]]:
    """delivery id → reference attribute → the record it points at, for the deliveries whose
    mapping renders `ref.attribute` / `ref.xref` fields: the referenced record's newest
    version a target may receive (not quarantined or held) and its keys in every system."""
    wanted: dict[int, list[tuple[str, str, str]]] = {}  # delivery id → (slot, entity, key)
    rendered: dict[str, list[Rendered]] = {}
    for row in rows:
        spec, hop = project.entities[row[3]], row[13]
        mapping_of = hop or spec.entity  # a flow's command renders its hop's mapping
        if mapping_of not in rendered:
            rendered[mapping_of] = (command_references(spec, _command_mapping(project, hop))
                                    if hop else rendered_references(spec, target))
        for reference in rendered[mapping_of]:
            for slot, key in reference.slots(row[7]):
                wanted.setdefault(row[0], []).append((slot, reference.entity, key))
    if not wanted:
        return {}
    keys = sorted({(e, k) for refs in wanted.values() for _, e, k in refs})
    cur = await conn.execute(REFERENCED_SQL, ([e for e, _ in keys], [k for _, k in keys]))
    records = {(e, k): ReferencedRecord(int(g), attrs or {}, xrefs or {})
               for e, k, g, attrs, xrefs in await cur.fetchall()}
    return {delivery: {a: records[(e, k)] for a, e, k in refs if (e, k) in records}
            for delivery, refs in wanted.items()}


async def record_outcomes(conn: psycopg.AsyncConnection, acked: Sequence[Outcome],
                          failed: Sequence[FailedAttempt], dead: Sequence[NewTask],
                          wake: bool = False) -> None:
    """In one transaction: acks (the target's id as xref, its answer into the inbox, dead
    tasks of the record there closed), failures (with their next attempt time) and the tasks of
    deliveries that are dead now. With `wake`, acks wake the propagators (deliveries to other
    targets wait for records acknowledged here: `dept_id: department.xref.oa`) when an open
    delivery waits for one of the acknowledged records; else every loop would claim for
    nothing (the loops also claim each second, so a wait that races this check is not lost)."""
    async with conn.transaction(), conn.cursor() as cur:
        if acked:
            await cur.executemany(
                "UPDATE delivery SET status = 'acked', attempts = attempts + 1, "
                "response_status = %s, target_id = %s, payload = %s, last_error = NULL, "
                "progress = coalesce(%s, progress), "
                "sent_at = clock_timestamp(), acked_at = clock_timestamp() WHERE id = %s",
                [(o.status_code, o.target_id, Jsonb(o.delivery.payload),
                  None if o.progress is None else Jsonb(o.progress), o.delivery.id)
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
                [(o.delivery.golden_id, _xref_system(o.delivery), o.target_id)
                 for o in acked if o.target_id and o.delivery.operation != "update"])
            if wake:
                await cur.execute(WAKE_SQL, ([o.delivery.golden_id for o in acked],))
        if failed:
            await cur.executemany(
                "UPDATE delivery SET status = %s, attempts = attempts + 1, "
                "response_status = %s, last_error = %s, payload = %s, sent_at = clock_timestamp(), "
                "next_attempt_at = clock_timestamp() + make_interval(secs => %s), "
                "progress = coalesce(%s, progress) WHERE id = %s",
                [_failure_params(f) for f in failed])
        if dead:  # a steward decides: retry once the cause is fixed, or waive
            await cur.executemany(OPEN_TASK_SQL, [task_params(t) for t in dead])


def _xref_system(d: Delivery) -> str:
    """Where an ack's key is kept: the target (a record's own upsert), else per hop."""
    return d.target if d.hop is None else created_xref(d.target, d.hop)


def _failure_params(f: FailedAttempt) -> tuple[Any, ...]:
    return (f.status, f.status_code, f.error, Jsonb(f.payload), f.delay_s,
            None if f.progress is None else Jsonb(f.progress), f.delivery_id)


# The referring records each changed referenced record shows (its own reference, or a row of
# its child list naming it: jsonb containment, `{"lines": [{"material": "7"}]}`), one delivery
# per record and target: waiting for every referenced record of the batch it shows there.
RERENDER_SQL = """
WITH named AS (
    SELECT DISTINCT g.id, g.version, g.entity, g.business_key, r.target, r.ref_id,
           r.ref_version, r.at
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::int[], %s::text[])
         AS r(entity, pattern, target, ref_id, ref_version, at)
    JOIN golden_record g ON g.entity = r.entity AND g.status = 'active'
         AND g.attributes @> r.pattern::jsonb
    JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
    WHERE v.quality NOT IN ('quarantined', 'held')
      AND NOT EXISTS (SELECT 1 FROM delivery o WHERE o.golden_id = g.id AND o.target = r.target
                      AND o.status IN ('pending', 'failed')))
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation,
                      idempotency_key, requires_id, requires_at, requires_version)
SELECT id, version, entity, business_key, target, 'upsert',
       'mdm-g' || id || '-v' || version || '-' || target || '-r'
           || (array_agg(ref_id || 'v' || ref_version ORDER BY ref_id, ref_version))[1],
       array_agg(ref_id ORDER BY ref_id, ref_version) FILTER (WHERE at IS NOT NULL),
       array_agg(at ORDER BY ref_id, ref_version) FILTER (WHERE at IS NOT NULL),
       array_agg(ref_version ORDER BY ref_id, ref_version) FILTER (WHERE at IS NOT NULL)
FROM named GROUP BY id, version, entity, business_key, target
ON CONFLICT (idempotency_key) DO NOTHING
"""


@dataclass(frozen=True)
class Rerender:
    """The referring records of `entity` whose `attribute` names `ref_key` — their own, or
    that of a row of their child list at `path` (a PO's lines) — show the referenced record
    at `target` (`dept_code: department.code`, a line's `material_code: material.code`):
    re-sent there, since that record's version `ref_version` changed what they show; waiting
    for it to be acknowledged at `at`."""

    entity: str
    attribute: str
    ref_key: str
    target: str
    ref_id: int
    ref_version: int
    at: str | None
    path: tuple[str, ...] = ()

    @property
    def pattern(self) -> dict[str, Any]:
        """What the referrers' attributes contain: `{"lines": [{"material": "7"}]}`."""
        contained: dict[str, Any] = {self.attribute: self.ref_key}
        for name in reversed(self.path):
            contained = {name: [contained]}
        return contained


def enqueue_rerenders(conn: psycopg.Connection, rerenders: Sequence[Rerender]) -> int:
    """One more delivery of the current version of each referring active record that has no
    delivery open at the target already (that one renders the new values anyway): one per
    record and target, however many of the records it shows changed. One query; a scan of the
    referring entity's records per referenced record changed: renames are rare."""
    if not rerenders:
        return 0
    columns = [[r.entity for r in rerenders], [json.dumps(r.pattern) for r in rerenders],
               *([getattr(r, f) for r in rerenders] for f in (
                   "target", "ref_id", "ref_version", "at"))]
    count = conn.execute(RERENDER_SQL, columns).rowcount
    if count:
        notify(conn)
    return count
