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
from mdm.store.repositories import lineage

logger = logging.getLogger(__name__)


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
            counts[entity] = lineage.count_doomed(conn, params)
            continue
        total, rounds = 0, 0
        while max_batches is None or rounds < max_batches:
            with conn.transaction():
                dropped = lineage.drop_doomed(conn, params)
            total, rounds = total + dropped, rounds + 1
            if dropped < batch:
                break
        counts[entity] = total
        if total:
            logger.info("history pruned entity=%s versions=%d (keep_days=%s keep_versions=%s)",
                        entity, total, policy.keep_days, policy.keep_versions)
    return counts
