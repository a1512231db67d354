"""History retention: drop versions past each entity's `history:` policy, never the current one,
and the source transactions' END rows no version names once they are a day old.

A version goes when it is not the record's current version, it ended more than `keep_days`
ago (if set) and it is older than the newest `keep_versions` (if set), and nothing still needs
it: no open task names it and no delivery of it is still due. Its finished deliveries and rule
results go with it; tasks and decisions (the audit trail) stay.

Capture writes one `source_tx` row per source transaction it saw end, heartbeats included (one
every heartbeat interval); processing needs it only until that transaction's events are
processed. A row no version names (cause_tx_id) goes after TRANSACTION_ENDS_KEEP_DAYS.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from mdm.config.loader import Project
from mdm.store.repositories import inbox, lineage

logger = logging.getLogger(__name__)
TRANSACTION_ENDS_KEEP_DAYS = 1


@dataclass(frozen=True)
class Pruned:
    """What one prune dropped (or, dry run, would drop): versions per entity with a policy,
    and source transaction END rows."""

    versions: dict[str, int] = field(default_factory=dict)
    transactions: int = 0


def prune(conn: psycopg.Connection, project: Project, dry_run: bool = False,
          batch: int = 10_000, max_batches: int | None = None) -> Pruned:
    """Apply the history policies and drop old transaction ends, each batch in a transaction
    of its own; at most `max_batches` batches of each kind (per entity for versions)."""
    versions: dict[str, int] = {}
    for entity, spec in project.entities.items():
        policy = spec.history
        if policy is None or (policy.keep_days is None and policy.keep_versions is None):
            continue
        params = {"entity": entity, "days": policy.keep_days, "keep": policy.keep_versions,
                  "batch": 10**12 if dry_run else batch}
        if dry_run:
            versions[entity] = lineage.count_doomed(conn, params)
            continue
        versions[entity] = _in_batches(conn, lambda: lineage.drop_doomed(conn, params), batch,
                                       max_batches)
        if versions[entity]:
            logger.info("history pruned entity=%s versions=%d (keep_days=%s keep_versions=%s)",
                        entity, versions[entity], policy.keep_days, policy.keep_versions)
    days = TRANSACTION_ENDS_KEEP_DAYS
    if dry_run:
        return Pruned(versions, inbox.count_finished_transactions(conn, days))
    ends = _in_batches(conn, lambda: inbox.drop_finished_transactions(conn, days, batch), batch,
                       max_batches)
    if ends:
        logger.info("transaction ends pruned rows=%d (older than %d day(s), no version)", ends,
                    days)
    return Pruned(versions, ends)


def _in_batches(conn: psycopg.Connection, drop: Callable[[], int], batch: int,
                max_batches: int | None) -> int:
    total, rounds = 0, 0
    while max_batches is None or rounds < max_batches:
        with conn.transaction():
            dropped = drop()
        total, rounds = total + dropped, rounds + 1
        if dropped < batch:
            break
    return total
