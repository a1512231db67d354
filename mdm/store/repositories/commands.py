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

from mdm.model.commands import Command, NewLink


ENQUEUE_SQL = """
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation,
                      idempotency_key, hop)
SELECT c.golden_id, c.version, c.entity, c.label, c.target, c.operation,
       'mdm-' || c.hop || '-' || g.entity || '-' || g.source_key
           || CASE WHEN c.per_version THEN '-v' || c.version ELSE '' END,
       c.hop
FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::boolean[])
     AS c(golden_id, version, entity, label, target, operation, hop, per_version)
JOIN golden_record g ON g.id = c.golden_id
ON CONFLICT (idempotency_key) DO NOTHING
"""


def enqueue(conn: psycopg.Connection, commands: Sequence[Command]) -> int:
    """Insert the commands not made before (by their key); how many are new."""
    if not commands:
        return 0
    columns = [[getattr(c, f) for c in commands] for f in (
        "golden_id", "version", "entity", "label", "target", "operation", "hop", "per_version")]
    return conn.execute(ENQUEUE_SQL, columns).rowcount


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
