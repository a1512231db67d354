"""Rules inside the processing transaction: judge the batch's new versions, store every result
and open (or close) the steward tasks they call for."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from mdm.model.golden import Cause, NewVersion
from mdm.model.tasks import RULE_VIOLATION, NewTask
from mdm.rules.builtin import Subject
from mdm.rules.engine import RuleEngine, Verdict
from mdm.store.repositories import (
    golden,
    key_clashes,
    outbox,
    reference_holds,
    rule_results,
    tasks,
)

logger = logging.getLogger(__name__)


def judge_versions(conn: psycopg.Connection, engine: RuleEngine, versions: Sequence[NewVersion],
                   source_keys: Mapping[int, str]) -> tuple[list[NewVersion], dict[int, Verdict]]:
    """Return the versions with their quality and passed rules set, and the verdict of each
    judged version (by its position in `versions`)."""
    if not any(engine.has_rules(v.entity) for v in versions):
        return list(versions), {}
    by_entity: dict[str, list[int]] = {}
    batch: dict[str, list[Subject]] = {}
    for i, v in enumerate(versions):
        batch.setdefault(v.entity, []).append(Subject(
            i, v.golden_id, source_keys.get(v.golden_id, ""), v.business_key, v.attributes,
            v.status))
        if v.status == "active" and engine.has_rules(v.entity):
            by_entity.setdefault(v.entity, []).append(i)
    verdicts: dict[int, Verdict] = {}
    for entity, positions in by_entity.items():
        subjects = [Subject(n, versions[p].golden_id, source_keys.get(versions[p].golden_id, ""),
                            versions[p].business_key, versions[p].attributes,
                            previous=versions[p].previous)
                    for n, p in enumerate(positions)]
        for position, verdict in zip(positions, engine.judge(conn, entity, subjects, batch)):
            verdicts[position] = verdict
    judged = [
        NewVersion(v.golden_id, v.version, v.entity, v.business_key, v.attributes, v.status,
                   v.valid_from, v.cause, verdicts[i].quality, tuple(verdicts[i].passed),
                   v.previous)  # (dataclasses.replace is several times slower per version)
        if i in verdicts else v
        for i, v in enumerate(versions)
    ]
    return judged, verdicts


def store_results(conn: psycopg.Connection, versions: Sequence[NewVersion],
                  verdicts: Mapping[int, Verdict], system: str,
                  closing_same_version: bool = False) -> None:
    """rule_result rows for what did not pass; one task per record whose newest version in the
    batch failed; open rule tasks of records whose newest version passed are closed."""
    rows: list[rule_results.ResultRow] = []
    for i, verdict in verdicts.items():
        v = versions[i]
        rows += [(v.golden_id, v.version, v.entity, v.business_key, f.rule, f.kind, f.attribute,
                  f.severity, f.outcome, _json(f.observed), _json(f.expectation), f.detail)
                 for f in verdict.findings]
    rule_results.store_results(conn, rows)
    newest: dict[int, int] = {}
    for i, v in enumerate(versions):
        newest[v.golden_id] = i
    passed: list[tuple[str, str | None, int, int]] = []
    failing: list[NewTask] = []
    for i in newest.values():
        v, found = versions[i], verdicts.get(i)
        if found is not None and found.failed:
            failing.append(_rule_task(v, found, system))
        else:
            passed.append((v.entity, v.business_key, v.version, v.golden_id))
    if failing:  # one round trip for the batch's tasks, however many records failed
        tasks.open_tasks(conn, failing)
        logger.info("rule tasks opened or refreshed count=%d (%s)", len(failing),
                    ", ".join(f"{t.entity} {t.business_key or t.golden_id}" for t in failing[:5])
                    + (" …" if len(failing) > 5 else ""))
    tasks.close_rule_tasks(conn, passed, system, closing_same_version)


def _rule_task(v: NewVersion, verdict: Verdict, system: str) -> NewTask:
    """The task of a version that failed rules."""
    failed = verdict.failed
    quarantined = verdict.quality == "quarantined"
    rules = ", ".join(sorted({f.rule for f in failed}))
    summary = (f"{v.entity} {v.label} v{v.version} "
               f"{'quarantined' if quarantined else 'propagated with warnings'}: {rules}")
    detail = {"quality": verdict.quality, "findings": [
        {"rule": f.rule, "attribute": f.attribute, "severity": f.severity,
         "observed": f.observed, "expectation": f.expectation, "detail": f.detail}
        for f in failed]}
    return NewTask(RULE_VIOLATION, v.entity, v.business_key, v.golden_id, v.version, system,
                   "error" if quarantined else "warning", summary, detail)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


@dataclass
class RerunCounts:
    records: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)


def rerun_batch(conn: psycopg.Connection, engine: RuleEngine, entity: str, after_id: int,
                size: int, counts: RerunCounts) -> int | None:
    """Re-judge the current versions of up to `size` active records after `after_id` (one
    transaction): their stored results are replaced, tasks opened or closed. Versions already
    propagated stay propagated; a failure opens a task for a steward. Returns the last id."""
    rows = golden.current_versions(conn, entity, after_id, size)
    if not rows:
        return None
    subjects = [Subject(i, r[0], r[1], r[2], r[4]) for i, r in enumerate(rows)]
    verdicts = engine.judge(conn, entity, subjects)
    rule_results.drop_results(conn, [(r[0], r[3]) for r in rows])
    versions = [_current_version(entity, r) for r in rows]
    store_results(conn, versions, dict(enumerate(verdicts)), engine.project.entities[entity].source,
                  closing_same_version=True)
    waiting = key_clashes.is_waiting(conn, [r[0] for r in rows])  # held back by a key clash, not a rule
    released = [v for v, r, verdict in zip(versions, rows, verdicts)
                if r[5] == "quarantined" and verdict.quality != "quarantined"
                and r[0] not in waiting]
    if released:  # the changed rules no longer hold these back
        golden.release_versions(conn, [(v.golden_id, v.version) for v in released])
        outbox.enqueue_deliveries(conn, engine.project, released)
    # held on an unknown reference too: released as ok (not quarantined) when that record comes
    passing = [v.golden_id for v, r, verdict in zip(versions, rows, verdicts, strict=True)
               if r[5] == "held" and verdict.quality != "quarantined" and r[0] not in waiting]
    reference_holds.requalify(conn, passing, "ok")
    for verdict in verdicts:
        for name in verdict.passed:
            counts.passed[name] = counts.passed.get(name, 0) + 1
        for f in {(f.rule, f.outcome) for f in verdict.findings}:
            bucket = counts.errors if f[1] == "error" else counts.failed
            bucket[f[0]] = bucket.get(f[0], 0) + 1
    counts.records += len(rows)
    return int(rows[-1][0])


def _current_version(entity: str, row: Sequence[Any]) -> NewVersion:
    cause = Cause("rules_run", None, None, None, None, None, None, None, None)
    return NewVersion(row[0], row[3], entity, row[2], row[4], "active", datetime.now(UTC), cause)
