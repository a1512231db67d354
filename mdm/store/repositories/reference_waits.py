"""SQL of the outbox's reference waits (references before referrers): a delivery whose mapping
renders a referenced record (`dept_code: department.code`) carries that record in its
`requires_*` columns until the record is acknowledged at the target `waits_of` names; claiming
skips it till then (outbox.CLAIM_SQL), and an ack wakes the propagators when one waits on it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.config.references import Wait, waits_of
from mdm.model.deliveries import OUTBOX_CHANNEL
from mdm.model.golden import Cause, NewVersion
from mdm.model.references import Requirement


def requirements(conn: psycopg.Connection, project: Project,
                 wanted: Sequence[tuple[NewVersion, str]]) -> dict[tuple[int, str],
                                                                   list[Requirement]]:
    """(golden id, target) → the referenced records its delivery there waits for (each
    acknowledged at a target, any version) and that are not acknowledged there yet: a record
    already there (most of them, under load) costs its referrers no wait at claim time. A
    reference to a record the hub does not know is left out: such versions are held before
    they are enqueued. One query per batch, each referenced record asked once."""
    waits: dict[tuple[str, str], tuple[Wait, ...]] = {}
    pending: list[tuple[int, str, Wait, str]] = []
    for v, target in wanted:
        found = waits.get((v.entity, target))
        if found is None:
            found = waits[(v.entity, target)] = waits_of(project.entities, v.entity, target)
        for wait in found:
            for key in wait.keys_in(v.attributes):
                pending.append((v.golden_id, target, wait, key))
    if not pending:
        return {}
    unacked = _not_acked(conn, {(w.referenced, key, w.at) for _, _, w, key in pending})
    out: dict[tuple[int, str], list[Requirement]] = {}
    for golden_id, target, wait, key in pending:
        referenced = unacked.get((wait.referenced, key, wait.at))
        if referenced is not None and referenced != golden_id:
            needs = out.setdefault((golden_id, target), [])
            requirement = Requirement(referenced, wait.at)
            if requirement not in needs:
                needs.append(requirement)
    return out


# Of the referenced records (entity, source key) that must be acknowledged at a target: those
# the hub knows and the target has acknowledged in no version yet, with their golden ids.
NOT_ACKED_SQL = """
SELECT k.e, k.s, k.at, g.id
FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(e, s, at)
JOIN golden_record g ON g.entity = k.e AND g.source_key = k.s
WHERE NOT EXISTS (SELECT 1 FROM delivery q WHERE q.golden_id = g.id AND q.target = k.at
                  AND q.status = 'acked')
"""


def _not_acked(conn: psycopg.Connection,
               wanted: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """(entity, source key, target) → golden id, of the known records not acknowledged there."""
    keys = sorted(wanted)
    rows = conn.execute(NOT_ACKED_SQL, ([e for e, _, _ in keys], [s for _, s, _ in keys],
                                        [t for _, _, t in keys])).fetchall()
    return {(e, s, t): int(g) for e, s, t, g in rows}


def requires_columns(needs: Sequence[Requirement]) -> tuple[Any, Any, Any]:
    """A delivery's requires_id, requires_at, requires_version: NULLs when it waits for none."""
    if not needs:
        return None, None, None
    return ([n.golden_id for n in needs], [n.target for n in needs], [n.version for n in needs])


RESENT_SQL = """
SELECT d.id, d.golden_id, d.version, d.entity, d.business_key, d.target, v.attributes,
       v.status, v.valid_from
FROM delivery d JOIN golden_version v ON v.golden_id = d.golden_id AND v.version = d.version
WHERE d.id = ANY(%s) AND d.operation = 'upsert'
"""


def add_requirements(conn: psycopg.Connection, project: Project,
                     delivery_ids: Sequence[int]) -> None:
    """Give deliveries made outside processing (a push again, a replay, a retry in another
    version's stead) the waits `requirements` gives a processed version's: the referenced
    records they render must be acknowledged first."""
    if not delivery_ids:
        return
    rows = conn.execute(RESENT_SQL, (list(delivery_ids),)).fetchall()
    cause = Cause("resent", None, None, None, None, None, None, None, None)
    wanted = [(NewVersion(g, n, e, k, a, s, f, cause), t) for _, g, n, e, k, t, a, s, f in rows]
    needs = requirements(conn, project, wanted)
    updates = [(*requires_columns(needs[(g, t)]), i) for i, g, _, _, _, t, *_ in rows
               if (g, t) in needs]
    if updates:
        conn.cursor().executemany("UPDATE delivery SET requires_id = %s, requires_at = %s, "
                                  "requires_version = %s WHERE id = %s", updates)


# Wake the propagators (at commit) if an open delivery requires one of these records.
WAKE_SQL = f"""
SELECT pg_notify('{OUTBOX_CHANNEL}', '') WHERE EXISTS (
    SELECT 1 FROM delivery WHERE status IN ('pending', 'failed') AND requires_id && %s::bigint[])
"""
