"""Rules inside the processing transaction: judge the batch's new versions, store every result
and open (or close) the steward tasks they call for."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import psycopg

from mdm.golden.models import NewVersion
from mdm.rules.builtin import Subject
from mdm.rules.engine import RuleEngine, Verdict
from mdm.steward import tasks

logger = logging.getLogger(__name__)


def judge_versions(conn: psycopg.Connection, engine: RuleEngine, versions: Sequence[NewVersion],
                   source_keys: Mapping[int, str]) -> tuple[list[NewVersion], dict[int, Verdict]]:
    """Return the versions with their quality and passed rules set, and the verdict of each
    judged version (by its position in `versions`)."""
    by_entity: dict[str, list[int]] = {}
    for i, v in enumerate(versions):
        if v.status == "active" and engine.has_rules(v.entity):
            by_entity.setdefault(v.entity, []).append(i)
    verdicts: dict[int, Verdict] = {}
    for entity, positions in by_entity.items():
        subjects = [Subject(n, versions[p].golden_id, source_keys.get(versions[p].golden_id, ""),
                            versions[p].business_key, versions[p].attributes)
                    for n, p in enumerate(positions)]
        for position, verdict in zip(positions, engine.judge(conn, entity, subjects)):
            verdicts[position] = verdict
    judged = [
        dataclasses.replace(v, quality=verdicts[i].quality, checks=tuple(verdicts[i].passed))
        if i in verdicts else v
        for i, v in enumerate(versions)
    ]
    return judged, verdicts


def store_results(conn: psycopg.Connection, versions: Sequence[NewVersion],
                  verdicts: Mapping[int, Verdict], system: str) -> None:
    """rule_result rows for what did not pass; one task per record whose newest version in the
    batch failed; open rule tasks of records whose newest version passed are closed."""
    rows: list[tuple[Any, ...]] = []
    for i, verdict in verdicts.items():
        v = versions[i]
        rows += [(v.golden_id, v.version, v.entity, v.business_key, f.rule, f.kind, f.attribute,
                  f.severity, f.outcome, _json(f.observed), _json(f.expectation), f.detail)
                 for f in verdict.findings]
    if rows:
        with conn.cursor() as cur, cur.copy(
            "COPY rule_result (golden_id, version, entity, business_key, rule, kind, attribute, "
            "severity, outcome, observed, expectation, detail) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
    newest: dict[int, int] = {}
    for i, v in enumerate(versions):
        newest[v.golden_id] = i
    passed = []
    for i in newest.values():
        v, found = versions[i], verdicts.get(i)
        if found is not None and found.failed:
            _open_rule_task(conn, v, found, system)
        else:
            passed.append((v.entity, v.business_key, v.version))
    tasks.close_rule_tasks(conn, passed, system)


def _open_rule_task(conn: psycopg.Connection, v: NewVersion, verdict: Verdict, system: str) -> None:
    failed = verdict.failed
    quarantined = verdict.quality == "quarantined"
    rules = ", ".join(sorted({f.rule for f in failed}))
    summary = (f"{v.entity} {v.business_key} v{v.version} "
               f"{'quarantined' if quarantined else 'propagated with warnings'}: {rules}")
    detail = {"quality": verdict.quality, "findings": [
        {"rule": f.rule, "attribute": f.attribute, "severity": f.severity,
         "observed": f.observed, "expectation": f.expectation, "detail": f.detail}
        for f in failed]}
    task_id = tasks.open_task(conn, type="rule_violation", entity=v.entity,
                              business_key=v.business_key, golden_id=v.golden_id,
                              version=v.version, system=system,
                              severity="error" if quarantined else "warning",
                              summary=summary, detail=detail)
    logger.info("rule task task=%d entity=%s key=%s v%d quality=%s rules=%s", task_id, v.entity,
                v.business_key, v.version, verdict.quality, rules)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()
