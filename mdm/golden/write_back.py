"""Values a target answered for attributes it owns (`owner:` on the attribute, `write_back:` in
the target's mapping) become golden versions here, in processing, like any other change: the
propagation process only records them in the inbox (source = the target, op 'w').

Such a version is delivered only to the targets that map one of the attributes it changed, so
the owner is not sent its own answer back and nothing loops.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.errors import WriteBackError
from mdm.golden.versions import next_version
from mdm.model.decode import DecodeError, decode
from mdm.model.golden import Cause, GoldenState, NewVersion
from mdm.model.inbox import InboxRow
from mdm.store.repositories import golden


@dataclass
class WriteBacks:
    """A target's answers as new versions of the records (`pending`: each with the record's
    state, not yet judged or written), and what became of each inbox event."""

    pending: list[tuple[GoldenState, NewVersion]] = field(default_factory=list)
    changed: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # (id, version) → attrs
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


def answered_versions(conn: psycopg.Connection, project: Project, target: str,
                      events: list[InboxRow]) -> WriteBacks:
    """The versions `target`'s answers make: one per record whose owned values changed. Locks
    the records (FOR UPDATE)."""
    result = WriteBacks()
    states = golden.load_golden_by_id(conn, {int(e.row_key) for e in events})
    for event in events:
        state = states.get(int(event.row_key))
        if state is None:
            result.skipped[event.id] = f"no golden record {event.row_key}"
            continue
        try:
            values = _owned_values(project, target, state, event.after or {})
        except WriteBackError as exc:
            result.failed[event.id] = str(exc)
            continue
        result.done.append(event.id)
        changed = {a for a, v in values.items() if state.attributes.get(a) != v}
        if not changed:
            continue
        version = _new_version(state, {**state.attributes, **values}, target, event)
        result.pending.append((state, version))
        result.changed[(version.golden_id, version.version)] = changed
    return result


def _owned_values(project: Project, target: str, state: GoldenState,
                  answered: dict[str, Any]) -> dict[str, Any]:
    spec = project.entities[state.entity]
    values = {}
    for attribute, value in answered.items():
        declared = spec.attributes.get(attribute)
        if declared is None or declared.owner != target:
            continue  # only what this target owns; the mapping was checked on load
        try:
            values[attribute] = decode(declared.type, value)
        except DecodeError as exc:
            raise WriteBackError(target, state.entity, state.business_key, state.golden_id,
                                 attribute, str(exc)) from exc
    return values


def _new_version(state: GoldenState, attributes: dict[str, Any], target: str,
                 event: InboxRow) -> NewVersion:
    now = datetime.now(UTC)
    cause = Cause("write_back", target, event.table, state.business_key, "w", None, None,
                  event.commit_ts or now, event.id)
    return next_version(state, attributes, state.status, state.business_key, cause, now)
