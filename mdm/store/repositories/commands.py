"""SQL of flows: a hop's commands (deliveries with `hop` set), the links between documents,
and what a hop needs to know of the versions it watches. Written in the processing
transaction, like every delivery.

A create command's idempotency key is its hop and its source document's identity
(`mdm-purchase_approval.create_po-purchase_request-17`: entity and source key), unique in
the outbox: a second approval, a redelivered event or a redone batch inserts nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from mdm.config.flows import parse_hop_id
from mdm.model.commands import Command, Held, NewLink


ENQUEUE_SQL = """
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation,
                      idempotency_key, hop, status, last_error)
SELECT c.golden_id, c.version, c.entity, c.label, c.target, c.operation,
       'mdm-' || c.hop || '-' || g.entity || '-' || g.source_key
           || CASE WHEN c.per_version THEN '-v' || c.version ELSE '' END,
       c.hop, CASE WHEN c.awaits_entity IS NULL THEN 'pending' ELSE 'held' END,
       CASE WHEN c.awaits_entity IS NULL THEN NULL
            ELSE 'waits for ' || c.awaits_entity || ' ' || c.awaits_key || ', which the hub '
                 || 'does not hold yet' END
FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::boolean[], %s::text[], %s::text[])
     AS c(golden_id, version, entity, label, target, operation, hop, per_version,
          awaits_entity, awaits_key)
JOIN golden_record g ON g.id = c.golden_id
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, hop, golden_id, status
"""
HOLD_SQL = """
INSERT INTO command_hold (delivery_id, flow, hop, held_id, entity, business_key)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
"""


def enqueue(conn: psycopg.Connection, commands: Sequence[Command]) -> int:
    """Insert the commands not made before (by their key); how many are new. A command
    awaiting its origin is inserted held, with what it waits for."""
    if not commands:
        return 0
    columns = [[getattr(c, f) for c in commands] for f in (
        "golden_id", "version", "entity", "label", "target", "operation", "hop", "per_version")]
    columns += [[c.awaits[0] if c.awaits else None for c in commands],
                [c.awaits[1] if c.awaits else None for c in commands]]
    made = conn.execute(ENQUEUE_SQL, columns).fetchall()
    awaited = {(c.hop, c.golden_id): c.awaits for c in commands if c.awaits}
    held = [(int(i), hop, int(g), awaited[(hop, int(g))]) for i, hop, g, status in made
            if status == "held"]
    if held:
        hops = [parse_hop_id(h[1]) for h in held]
        conn.execute(HOLD_SQL, ([h[0] for h in held], [f for f, _, _ in hops],
                                [n for _, n, _ in hops], [h[2] for h in held],
                                [h[3][0] for h in held], [h[3][1] for h in held]))
    return len(made)


RELEASE_SQL = """
WITH released AS (
    DELETE FROM command_hold h USING unnest(%s::text[], %s::text[]) AS k(entity, business_key)
    WHERE h.entity = k.entity AND h.business_key = k.business_key
    RETURNING h.delivery_id, h.flow, h.hop, h.held_id, h.entity, h.business_key, h.task_id),
due AS (
    UPDATE delivery d SET status = 'pending', last_error = NULL,
        next_attempt_at = clock_timestamp()
    FROM released r WHERE d.id = r.delivery_id AND d.status = 'held')
SELECT r.delivery_id, r.flow, r.hop, r.held_id, r.entity, r.business_key, d.version, r.task_id
FROM released r JOIN delivery d ON d.id = r.delivery_id
"""


def release(conn: psycopg.Connection, arrived: Sequence[tuple[str, str]]) -> list[Held]:
    """The held commands whose origin (entity, business key) arrived, made due; their task
    (if one was opened) is returned with them for the caller to close."""
    if not arrived:
        return []
    rows = conn.execute(RELEASE_SQL, ([e for e, _ in arrived], [k for _, k in arrived])).fetchall()
    return [Held(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], int(r[6]),
                 None if r[7] is None else int(r[7])) for r in rows]


CLOSE_TASKS_SQL = """
WITH closed AS (
    UPDATE task SET status = 'resolved', resolution = 'released', resolved_by = 'system',
        resolved_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE id = ANY(%s) AND status = 'open'
    RETURNING id, golden_id, version)
INSERT INTO decision (task_id, actor, action, reason, golden_id, version)
SELECT id, 'system', 'released', %s, golden_id, version FROM closed
"""


def close_tasks(conn: psycopg.Connection, task_ids: Sequence[int], reason: str) -> int:
    """Close the tasks of released holds, each with a system decision."""
    if not task_ids:
        return 0
    return conn.execute(CLOSE_TASKS_SQL, (list(task_ids), reason)).rowcount


OVERDUE_SQL = """
SELECT h.delivery_id, h.flow, h.hop, h.held_id, h.entity, h.business_key, g.entity,
       g.business_key, d.version, d.target
FROM command_hold h JOIN golden_record g ON g.id = h.held_id
JOIN delivery d ON d.id = h.delivery_id
JOIN unnest(%s::text[], %s::float8[]) AS w(entity, seconds) ON w.entity = g.entity
WHERE h.task_id IS NULL AND h.held_since < clock_timestamp() - make_interval(secs => w.seconds)
ORDER BY h.held_since LIMIT 500
"""


def overdue(conn: psycopg.Connection, waits: dict[str, float]) -> list[tuple[Any, ...]]:
    """Held commands without a task that waited longer than their document's entity's
    `unknown_reference_task_after` (entity → seconds)."""
    if not waits:
        return []
    return list(conn.execute(OVERDUE_SQL, (list(waits), list(waits.values()))).fetchall())


def mark_tasked(conn: psycopg.Connection, tasked: Sequence[tuple[int, int]]) -> None:
    """(delivery id, task id): these holds have their task."""
    if tasked:
        conn.execute("UPDATE command_hold h SET task_id = t.task_id FROM unnest(%s::bigint[], "
                     "%s::bigint[]) AS t(delivery_id, task_id) WHERE h.delivery_id = "
                     "t.delivery_id", ([d for d, _ in tasked], [t for _, t in tasked]))


def previous_attributes(conn: psycopg.Connection,
                        wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
    """(golden id, version) → that version's attributes, for the versions asked."""
    pairs = sorted(set(wanted))
    if not pairs:
        return {}
    rows = conn.execute(
        "SELECT v.golden_id, v.version, v.attributes FROM unnest(%s::bigint[], %s::int[]) "
        "AS w(golden_id, version) JOIN golden_version v ON v.golden_id = w.golden_id "
        "AND v.version = w.version", ([p[0] for p in pairs], [p[1] for p in pairs])).fetchall()
    return {(int(g), int(v)): attrs for g, v, attrs in rows}


def records_by_key(conn: psycopg.Connection, entity: str,
                   keys: Iterable[str]) -> dict[str, int]:
    """business key → golden id of `entity`'s records with those keys."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = conn.execute("SELECT business_key, id FROM golden_record WHERE entity = %s "
                        "AND business_key = ANY(%s)", (entity, wanted)).fetchall()
    return {str(k): int(g) for k, g in rows}


LINK_SQL = """
INSERT INTO document_link (flow, hop, origin_id, linked_id, linked_version, command_id)
SELECT l.flow, l.hop, l.origin_id, l.linked_id, l.linked_version,
       (SELECT d.id FROM delivery d WHERE d.golden_id = l.origin_id
          AND d.hop = l.flow || '.' || l.hop AND d.operation = 'create'
        ORDER BY d.id LIMIT 1)
FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::int[])
     AS l(flow, hop, origin_id, linked_id, linked_version)
ON CONFLICT DO NOTHING
"""


def link(conn: psycopg.Connection, links: Sequence[NewLink]) -> int:
    """Record the links not recorded before; how many are new."""
    if not links:
        return 0
    columns = [[getattr(n, f) for n in links] for f in (
        "flow", "hop", "origin_id", "linked_id", "linked_version")]
    return conn.execute(LINK_SQL, columns).rowcount
