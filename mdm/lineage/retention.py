"""History retention: drop versions past each entity's `history:` policy, never the current one.

A version goes when it is not the record's current version, it ended more than `keep_days`
ago (if set) and it is older than the newest `keep_versions` (if set), and nothing still needs
it: no open task names it and no delivery of it is still due. Its finished deliveries and rule
results go with it; tasks and decisions (the audit trail) stay.
"""
from __future__ import annotations

import logging

import psycopg

from mdm.config.loader import Project

logger = logging.getLogger(__name__)

DOOMED = """
doomed AS (
    SELECT v.golden_id, v.version FROM golden_version v
    JOIN golden_record g ON g.id = v.golden_id
    WHERE v.entity = %(entity)s AND v.version < g.version
      AND (%(days)s::int IS NULL OR v.valid_to < clock_timestamp() - make_interval(days => %(days)s::int))
      AND (%(keep)s::int IS NULL OR v.version < g.version - %(keep)s::int)
      AND NOT EXISTS (SELECT 1 FROM task t WHERE t.golden_id = v.golden_id
                      AND t.version = v.version AND t.status = 'open')
      AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.golden_id = v.golden_id
                      AND d.version = v.version AND d.status IN ('pending', 'failed'))
    LIMIT %(batch)s)"""
PRUNE_SQL = f"""
WITH {DOOMED},
gone_deliveries AS (
    DELETE FROM delivery d USING doomed x WHERE d.golden_id = x.golden_id AND d.version = x.version),
gone_results AS (
    DELETE FROM rule_result r USING doomed x WHERE r.golden_id = x.golden_id AND r.version = x.version)
DELETE FROM golden_version v USING doomed x WHERE v.golden_id = x.golden_id AND v.version = x.version
"""
COUNT_SQL = f"WITH {DOOMED} SELECT count(*) FROM doomed"


def prune(conn: psycopg.Connection, project: Project, dry_run: bool = False,
          batch: int = 10_000, max_batches: int | None = None) -> dict[str, int]:
    """Versions dropped (or, with dry_run, that would be) per entity with a policy."""
    counts: dict[str, int] = {}
    for entity, spec in project.entities.items():
        policy = spec.history
        if policy is None or (policy.keep_days is None and policy.keep_versions is None):
            continue
        params = {"entity": entity, "days": policy.keep_days, "keep": policy.keep_versions,
                  "batch": 10**12 if dry_run else batch}
        if dry_run:
            row = conn.execute(COUNT_SQL, params).fetchone()
            counts[entity] = int(row[0]) if row else 0
            continue
        total, rounds = 0, 0
        while max_batches is None or rounds < max_batches:
            with conn.transaction():
                dropped = conn.execute(PRUNE_SQL, params).rowcount
            total, rounds = total + dropped, rounds + 1
            if dropped < batch:
                break
        counts[entity] = total
        if total:
            logger.info("history pruned entity=%s versions=%d (keep_days=%s keep_versions=%s)",
                        entity, total, policy.keep_days, policy.keep_versions)
    return counts
