"""References in one processing transaction.

A version whose reference names a record the hub does not know yet (an employee of a
department no event has brought, in a source without foreign keys; a receipt for a PO not seen
yet) is held: stored with quality 'held', not propagated, with its reason in `reference_hold`.
It is released — its quality back, its deliveries enqueued — when that record arrives, in the
same batch (then it is never held) or a later one; a later version that no longer names an
unknown record supersedes the hold. A referenced draft (no business key
yet, so at no target) holds its referrers the same way until it is numbered. A hold older than
its entity's `unknown_reference_task_after` gets an `unknown_reference` task (the processing
loop asks).

A referenced record whose new version changes what its referrers show at a target (a
department's code, shown as the employees' dept_code at OA; a material's code, shown in the
lines of the purchase orders naming it) re-sends those referrers there.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.config.models import EntitySpec
from mdm.config.references import Rendered, every_reference, rendered_references
from mdm.config.targets import TargetMapping
from mdm.model.golden import Cause, GoldenState, NewVersion
from mdm.model.references import field_path, rows_at
from mdm.model.tasks import UNKNOWN_REFERENCE, NewTask
from mdm.store.repositories import reference_holds, tasks
from mdm.store.repositories.outbox import Rerender
from mdm.store.repositories.reference_holds import Hold, Overdue, RecordKey

logger = logging.getLogger(__name__)
HELD = "held"


@dataclass(frozen=True)
class _Named:
    """One reference value of a version: `attribute` (list.attribute in a child list) names
    the record `key` of `entity`."""

    attribute: str
    entity: str
    key: str


@dataclass(frozen=True)
class _Shown:
    """Records of `entity` show, at `target`, attributes `shown` of the record their reference
    `attribute` names (in the rows of their child list at `path`, () for their own);
    `waits`: the referenced entity is written to that target too."""

    entity: str
    attribute: str
    target: str
    shown: frozenset[str]
    waits: bool
    path: tuple[str, ...] = ()


class References:
    """What one project's references need from each processing batch. One per processor."""

    def __init__(self, project: Project) -> None:
        self.project = project
        # per referring entity, once: where its references are (the record's, its lists')
        self.paths = {name: found for name, spec in project.entities.items()
                      if (found := every_reference(spec))}
        self.referring = set(self.paths)
        self.shown = _shown_by_referrers(project.entities)

    # -- holding and releasing ------------------------------------------------------------------
    def hold_unknown(self, conn: psycopg.Connection, versions: list[NewVersion],
                     records: Mapping[RecordKey, GoldenState], system: str) -> list[NewVersion]:
        """The batch's versions (same order), those naming a record neither the store nor the
        batch (`records`: its records as it leaves them) holds with a business key set to
        quality 'held'; each record's holds written as its newest version has them (others
        dropped, and their task closed)."""
        mine = [v for v in versions if v.entity in self.referring and v.status == "active"]
        if not mine:
            return versions
        named = {id(v): list(_named_in(self.paths[v.entity], v.attributes)) for v in mine}
        asked = {(n.entity, n.key) for ns in named.values() for n in ns} - set(records)
        # a referenced draft (no business key yet) reaches no target: held like an unknown one,
        # also one the batch itself makes (a material inserted without a code beside its order)
        known = ({k for k, s in records.items() if s.business_key is not None}
                 | set(reference_holds.numbered_ids(conn, asked)))
        newest = {v.golden_id: v for v in versions}
        out, holds = [], []
        for v in versions:
            unknown = [n for n in named.get(id(v), ()) if (n.entity, n.key) not in known]
            if not unknown:
                out.append(v)
                continue
            out.append(replace(v, quality=HELD))
            if newest[v.golden_id] is v:
                holds += [Hold(v.golden_id, n.attribute, n.entity, n.key, v.version, v.entity,
                               v.business_key or "", system, v.quality) for n in unknown]
        # most batches touch no held record: one indexed look instead of a DELETE each time
        ids = reference_holds.held_among(
            conn, {v.golden_id for v in versions if v.entity in self.referring})
        dropped = reference_holds.drop_other_holds(conn, sorted(ids), holds)
        reference_holds.hold(conn, holds)
        reference_holds.close_tasks(conn, dropped, "superseded",
                                    "a later version names no unknown record")
        if holds:
            logger.warning("versions held on unknown references count=%d (%s)", len(holds),
                           ", ".join(f"{h.entity} {h.business_key}: {h.attribute} → "
                                     f"{h.referenced_entity} {h.referenced_key}"
                                     for h in holds[:5]))
        return out

    def hold_answered(self, conn: psycopg.Connection, versions: list[NewVersion],
                      records: Mapping[RecordKey, GoldenState], system: str) -> list[NewVersion]:
        """A target's answers (write-back versions, same order), each built on its record's
        current version: one built on a version held on an unknown reference is held the same
        way (the holds move to it, released with it); the others as they are. A version naming
        an unknown record is always held, so one indexed look when none of them is."""
        ids = reference_holds.held_among(
            conn, {v.golden_id for v in versions if v.entity in self.referring})
        if not ids:
            return versions
        held = iter(self.hold_unknown(conn, [v for v in versions if v.golden_id in ids],
                                      records, system))
        return [next(held) if v.golden_id in ids else v for v in versions]

    def release_arrived(self, conn: psycopg.Connection, versions: Sequence[NewVersion],
                        source_keys: Mapping[int, str], system: str) -> list[NewVersion]:
        """After the batch's versions are written: the records they created release the
        versions held on them (when nothing else holds those). The released current versions,
        to be delivered (those that were quarantined before their hold stay so)."""
        arrived = {(v.entity, source_keys[v.golden_id]) for v in versions
                   if v.golden_id in source_keys and self._is_numbered_now(v)}
        resolved = reference_holds.resolve(conn, arrived)
        if not resolved:
            return []
        rows = reference_holds.release(conn, resolved)
        reference_holds.close_tasks(conn, [r[0] for r in rows], "released",
                                    "the record its reference names arrived")
        cause = Cause("reference_known", system, None, None, None, None, None, None, None)
        released = [NewVersion(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], cause,
                               str(r[7])) for r in rows]
        if released:
            logger.info("held versions released count=%d (%s)", len(released), ", ".join(
                f"{v.entity} {v.business_key}" for v in released[:5]))
        return [v for v in released if v.quality != "quarantined"]

    def _is_numbered_now(self, v: NewVersion) -> bool:
        """A record referrers may now be shown: new with a business key, or a draft that got
        its first one."""
        if v.business_key is None:
            return False
        if v.version == 1:
            return True
        spec = self.project.entities[v.entity]
        return (spec.allows_drafts and v.previous is not None
                and spec.business_key_of(v.previous.attributes) is None)

    # -- re-rendering ---------------------------------------------------------------------------
    def rerenders(self, versions: Sequence[NewVersion],
                  source_keys: Mapping[int, str]) -> list[Rerender]:
        """The referrers to re-send because a referenced record changed what they show."""
        out = []
        for v in versions:
            shown = self.shown.get(v.entity)
            if not shown or v.previous is None or v.quality in ("quarantined", HELD) \
                    or v.status != "active" or v.golden_id not in source_keys:
                continue
            before, after = v.previous.attributes, v.attributes
            changed = {a for a in set(before) | set(after) if before.get(a) != after.get(a)}
            for s in shown:
                if s.shown & changed:
                    out.append(Rerender(s.entity, s.attribute, source_keys[v.golden_id],
                                        s.target, v.golden_id, v.version,
                                        s.target if s.waits else None, s.path))
        return out

    # -- tasks ----------------------------------------------------------------------------------
    def open_overdue_tasks(self, conn: psycopg.Connection) -> int:
        """An unknown_reference task for each record held longer than its entity allows."""
        waits = {e: self.project.entities[e].unknown_reference_task_after for e in self.referring}
        by_record: dict[int, list[Overdue]] = {}
        for hold in reference_holds.overdue(conn, waits):
            by_record.setdefault(hold.golden_id, []).append(hold)
        drafts = set(reference_holds.record_ids(conn, [
            (h.referenced_entity, h.referenced_key) for hs in by_record.values() for h in hs]))
        opened = [(g, tasks.open_task(conn, _task(h, drafts))) for g, h in by_record.items()]
        reference_holds.mark_tasked(conn, opened)
        if opened:
            logger.warning("unknown_reference tasks opened count=%d", len(opened))
        return len(opened)


def _task(holds: list[Overdue], drafts: set[RecordKey]) -> NewTask:
    """The task of one held record; `drafts`: the referenced records that exist, as drafts."""
    first = holds[0]
    waited = datetime.now(UTC) - first.held_since
    is_draft = [(h.referenced_entity, h.referenced_key) in drafts for h in holds]
    names = "; ".join(f"{h.attribute} names {h.referenced_entity} {h.referenced_key}"
                      + (" (a draft: no business key yet)" if d else "")
                      for h, d in zip(holds, is_draft, strict=True))
    key = first.business_key or f"(draft {first.golden_id})"
    missing = ("which has no business key yet, so no target has it; number it" if all(is_draft)
               else f"which {first.system} has not sent (or has not numbered); create or number")
    summary = (f"{first.entity} {key} v{first.version} held for {int(waited.total_seconds())}s "
               f"on an unknown reference: {names}, {missing} it in {first.system} (it is "
               "released then) or correct the reference")
    detail: dict[str, Any] = {
        "held_since": first.held_since.isoformat(),
        "references": [{"attribute": h.attribute, "entity": h.referenced_entity,
                        "key": h.referenced_key, "draft": d}
                       for h, d in zip(holds, is_draft, strict=True)]}
    return NewTask(UNKNOWN_REFERENCE, first.entity, key, first.golden_id, first.version,
                   first.system, "error", summary, detail)


def _named_in(paths: list[Rendered], attributes: Mapping[str, Any]) -> Iterator[_Named]:
    for ref in paths:
        for row in rows_at(attributes, ref.path):
            key = row.get(ref.attribute)
            if key is not None:
                yield _Named(".".join((*ref.path, ref.attribute)), ref.entity, str(key))


def _shown_by_referrers(entities: Mapping[str, EntitySpec]) -> dict[str, list[_Shown]]:
    """Referenced entity → which referrers show which of its attributes at which target, by
    their own reference (`dept_code: department.code`) or a child list row's (a PO line's
    `material_code: material.code`)."""
    out: dict[str, list[_Shown]] = {}
    for name, spec in entities.items():
        for target, mapping in spec.targets.items():
            for ref in rendered_references(spec, target):
                shown = {fp.referenced for text in _texts_at(mapping, ref.path)
                         if (fp := field_path(text)).attribute == ref.attribute
                         and fp.referenced is not None}
                if not shown:
                    continue  # only its key or xref: no attribute of it is shown
                waits = ref.entity in entities and target in entities[ref.entity].targets
                out.setdefault(ref.entity, []).append(
                    _Shown(name, ref.attribute, target, frozenset(shown), waits, ref.path))
    return out


def _texts_at(mapping: TargetMapping, path: tuple[str, ...]) -> Iterable[str]:
    """What a mapping renders the rows of the (nested) child list at `path` from; () for the
    record. A list without a `children:` mapping goes as the hub holds it: nothing rendered."""
    fields, children = mapping.fields, mapping.children
    for name in path:
        listed = children.get(name)
        if listed is None:
            return ()
        fields, children = listed.fields, listed.children
    return fields.values()
