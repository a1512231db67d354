"""Values a target answered for attributes it owns (`owner:` on the attribute, `write_back:` in
the target's mapping) become golden versions here, in processing, like any other change: the
propagation process only records them in the inbox (source = the target, op 'w').

Such a version is delivered only to the targets that map one of the attributes it changed, so
the owner is not sent its own answer back and nothing loops.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.golden.decode import DecodeError, decode
from mdm.model.golden import Cause, GoldenState, NewVersion, Previous
from mdm.model.inbox import InboxRow
from mdm.rules.engine import RuleEngine
from mdm.rules.judging import judge_versions, store_results
from mdm.store.repositories import golden, inbox

logger = logging.getLogger(__name__)


@dataclass
class WriteBacks:
    versions: list[NewVersion] = field(default_factory=list)
    changed: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # (id, version) → attrs
    failed: int = 0
    skipped: int = 0


def apply_write_backs(conn: psycopg.Connection, project: Project, rules: RuleEngine,
                      target: str, events: list[InboxRow]) -> WriteBacks:
    result = WriteBacks()
    states = golden.load_golden_by_id(conn, {int(e.row_key) for e in events})
    done: list[int] = []
    failed: dict[int, str] = {}
    skipped: dict[int, str] = {}
    pending: list[tuple[GoldenState, NewVersion]] = []
    for event in events:
        state = states.get(int(event.row_key))
        if state is None:
            skipped[event.id] = f"no golden record {event.row_key}"
            continue
        try:
            values = _owned_values(project, target, state.entity, event.after or {})
        except DecodeError as exc:
            failed[event.id] = f"write-back from {target}: {exc}"
            continue
        done.append(event.id)
        changed = {a for a, v in values.items() if state.attributes.get(a) != v}
        if not changed:
            continue
        version = _new_version(state, {**state.attributes, **values}, target, event)
        pending.append((state, version))
        result.changed[(version.golden_id, version.version)] = changed
    versions = [v for _, v in pending]
    if versions:
        source_keys = {s.golden_id or 0: s.source_key for s in states.values()}
        versions, verdicts = judge_versions(conn, rules, versions, source_keys)
        touched = {s.golden_id: s for s, _ in pending}
        for source in {project.entities[v.entity].source for v in versions}:
            # a rule task belongs to the record's system of record, not to the answering target
            index = [i for i, v in enumerate(versions) if project.entities[v.entity].source == source]
            mine = [versions[i] for i in index]
            golden.write_versions(conn, [touched[v.golden_id] for v in mine
                                    if touched[v.golden_id].version == v.version], mine, source)
            store_results(conn, mine, {n: verdicts[i] for n, i in enumerate(index) if i in verdicts},
                          source)
    inbox.finish_inbox(conn, done, failed, skipped)
    result.versions, result.failed, result.skipped = versions, len(failed), len(skipped)
    if versions:
        logger.info("write-back target=%s versions=%d", target, len(versions))
    return result


def _owned_values(project: Project, target: str, entity: str,
                  answered: dict[str, Any]) -> dict[str, Any]:
    spec = project.entities[entity]
    values = {}
    for attribute, value in answered.items():
        declared = spec.attributes.get(attribute)
        if declared is None or declared.owner != target:
            continue  # only what this target owns; the mapping was checked on load
        values[attribute] = decode(declared.type, value)
    return values


def _new_version(state: GoldenState, attributes: dict[str, Any], target: str,
                 event: InboxRow) -> NewVersion:
    now = datetime.now(UTC)
    valid_from = max(now, state.valid_from) if state.valid_from else now
    previous = Previous(state.attributes, None if state.checks is None else frozenset(state.checks)) \
        if state.status == "active" else None
    state.version += 1
    state.attributes = attributes
    state.valid_from = valid_from
    state.checks = None
    cause = Cause("write_back", target, event.table, state.business_key, "w", None, None,
                  event.commit_ts or now, event.id)
    return NewVersion(state.golden_id or 0, state.version, state.entity, state.business_key,
                      attributes, state.status, valid_from, cause, previous=previous)
