"""A processing batch's flow work, in its transaction: the commands its versions fire, the
links of the documents it brings that name their origin, and the fields those return.

- A version of a hop's `from` entity that meets the hop's `when` (and `if:`) gets the hop's
  command: a create once per source document (its key is the hop and the document's
  identity), an update per version; and the hop's task, if it opens one. A hop with
  `origin:` links the version's record under the origin it names — and while the hub does
  not hold that origin, the command is held (holds.py releases it when the origin arrives).
  A hop without a command (only `task:`) links it too, when the hub holds the origin.
- A version of a hop's `link.entity` whose `link.by` attribute names an origin the hub holds
  is linked to it; when the version changes that attribute or one the hop's `back:` maps,
  an update of the origin (by its key at the back target) is queued. A flow's `links:` link
  documents the same way without any command (the ERP's payable under its stock-in).

Versions held back (an error rule, an unknown reference) fire nothing until released; a
snapshot's rows fire nothing unless the hop says `snapshot: true` (going live must not
re-create the documents of the past).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.config.flow_payload import guard_holds
from mdm.config.flows import Back, CommandMapping, Constant, Hop, ValueMap, hop_id, parse_hop_id
from mdm.config.loader import Project
from mdm.flows.conditions import changed, fires
from mdm.flows.holds import HoldKeeper
from mdm.flows.tasks import hop_task
from mdm.model.commands import Command, NewLink
from mdm.model.golden import NewVersion
from mdm.model.tasks import NewTask
from mdm.store.repositories import commands, tasks
from mdm.store.repositories.outbox import notify

logger = logging.getLogger(__name__)
HELD_BACK = ("quarantined", "held")


class FlowPlanner:
    """One per processor: the project's hops by the entity they watch and link."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.watching = {e: hops for e in project.entities if (hops := project.hops_from(e))}
        self.linking: dict[str, list[Linker]] = {}
        for linker in linkers(project):
            self.linking.setdefault(linker.entity, []).append(linker)
        self.holds = HoldKeeper(project)

    def enqueue(self, conn: psycopg.Connection, versions: Sequence[NewVersion]) -> int:
        """Queue the batch's commands (those not queued before) and tasks, release the
        commands whose origin the batch brings; how many commands are new."""
        mine = [v for v in versions if (v.entity in self.watching or v.entity in self.linking
                                        or v.entity in self.holds.awaited)
                and v.quality not in HELD_BACK and v.status == "active"]
        if not mine:
            return 0
        before = _previous(conn, mine, versions)
        opened: list[NewTask] = []
        links: list[NewLink] = []
        fired: list[Command] = []
        bound: list[Command] = []  # task-only hops with `origin:`: linked, nothing sent
        for v in mine:
            fired += self._fired(v, before.get(id(v)), opened, bound)
        fired = self._placed(conn, fired, links)
        self._placed(conn, bound, links)
        new = commands.enqueue(conn, fired + self._linked(conn, mine, before, links))
        released = self.holds.release(conn, mine, links)
        if commands.link(conn, links):
            logger.info("documents linked count=%d", len(links))
        tasks.open_tasks(conn, opened)
        if new or released:
            notify(conn)
            logger.info("flow commands queued new=%d fired=%d released=%d", new, len(fired),
                        released)
        return new

    def _fired(self, v: NewVersion, before: dict[str, Any] | None, opened: list[NewTask],
               bound: list[Command]) -> list[Command]:
        found = []
        for flow, hop in self.watching.get(v.entity, ()):
            if v.cause.op == "r" and not hop.snapshot:
                continue
            if not fires(hop.when, before, v.attributes) or not guard_holds(hop.if_, v.attributes):
                continue
            logger.info("hop fired flow=%s hop=%s %s %s v%d (%s)", flow, hop.name, v.entity,
                        v.label, v.version, hop.when.describe())
            if hop.task is not None:
                opened.append(hop_task(self.project, flow, hop, v, before))
            command = self._command(flow, hop, v)
            if command is not None:
                found.append(command)
            elif hop.to is None and hop.origin is not None:
                bound.append(Command(v.golden_id, v.version, v.entity, v.label, "", "link",
                                     hop_id(flow, hop.name), False, _awaits(hop, v)))
        return found

    def _command(self, flow: str, hop: Hop, v: NewVersion) -> Command | None:
        if hop.to is None:
            return None
        label = v.label
        if hop.to.operation == "update":
            key = v.attributes.get(hop.to.key or self.project.entities[v.entity].business_key)
            if key in (None, ""):
                logger.warning("hop %s fired for %s %s but it names no record to update",
                               hop_id(flow, hop.name), v.entity, v.label)
                return None
            label = str(key)
        return Command(v.golden_id, v.version, v.entity, label, hop.to.target, hop.to.operation,
                       hop_id(flow, hop.name), per_version=hop.to.operation == "update",
                       awaits=_awaits(hop, v))

    def _placed(self, conn: psycopg.Connection, fired: list[Command],
                links: list[NewLink]) -> list[Command]:
        """Commands whose origin the hub holds lose their wait (and link the document under
        it); the others stay awaiting it, to be held."""
        wanted: dict[str, set[str]] = {}
        for c in fired:
            if c.awaits is not None:
                wanted.setdefault(c.awaits[0], set()).add(c.awaits[1])
        held = {e: commands.records_by_key(conn, e, keys) for e, keys in wanted.items()}
        placed = []
        for c in fired:
            origin = held[c.awaits[0]].get(c.awaits[1]) if c.awaits else None
            if origin is None:
                placed.append(c)
                continue
            flow, hop, _ = parse_hop_id(c.hop)
            links.append(NewLink(flow, hop, origin, c.golden_id, c.version))
            placed.append(Command(c.golden_id, c.version, c.entity, c.label, c.target,
                                  c.operation, c.hop, c.per_version))
        return placed

    def _linked(self, conn: psycopg.Connection, versions: Sequence[NewVersion],
                before: dict[int, dict[str, Any] | None], links: list[NewLink]) -> list[Command]:
        """Link the versions naming an origin; the updates their `back:` fields make."""
        backs: list[Command] = []
        for linker in (k for found in self.linking.values() for k in found):
            named = [(v, str(v.attributes[linker.by])) for v in versions
                     if v.entity == linker.entity
                     and v.attributes.get(linker.by) not in (None, "")]
            origins = commands.records_by_key(conn, linker.origin, {k for _, k in named})
            for v, key in named:
                origin = origins.get(key)
                if origin is None:
                    logger.info("%s %s names %s %s, which the hub does not hold: not linked",
                                v.entity, v.label, linker.origin, key)
                    continue
                links.append(NewLink(linker.flow, linker.hop, origin, v.golden_id, v.version))
                back = linker.back
                if back is not None and changed(before.get(id(v)), v.attributes, {
                        linker.by, *_sources(back)}):
                    backs.append(Command(v.golden_id, v.version, v.entity, key, back.target,
                                         "update", hop_id(linker.flow, linker.hop, back=True),
                                         per_version=True))
        return backs


@dataclass(frozen=True)
class Linker:
    """Versions of `entity` naming a record of `origin` in attribute `by` are linked under it
    as (flow, hop): a hop's `link:` (with its `back:`) or a flow's `links:` entry."""

    flow: str
    hop: str
    entity: str
    by: str
    origin: str
    back: Back | None = None


def linkers(project: Project) -> list[Linker]:
    found = []
    for flow in project.flows.values():
        for hop in flow.hops:
            if hop.link is not None:
                found.append(Linker(flow.flow, hop.name, hop.link.entity, hop.link.by,
                                    hop.from_, hop.back))
        found += [Linker(flow.flow, link.name, link.entity, link.origin.by, link.origin.entity)
                  for link in flow.links]
    return found


def _awaits(hop: Hop, v: NewVersion) -> tuple[str, str] | None:
    """The origin (entity, business key) a hop's version names, if the hop has `origin:`."""
    if hop.origin is None:
        return None
    return hop.origin.entity, str(v.attributes.get(hop.origin.by) or "")


def _sources(mapping: CommandMapping) -> set[str]:
    """The attributes a mapping reads (its header fields)."""
    found = set()
    for source in mapping.fields.values():
        if isinstance(source, ValueMap):
            found.add(source.from_)
        elif not isinstance(source, Constant):
            found.add(source.split(".")[0])
    return found


def _previous(conn: psycopg.Connection, mine: Sequence[NewVersion],
              batch: Sequence[NewVersion]) -> dict[int, dict[str, Any] | None]:
    """id(version) → the attributes of the record's version before it (None: a new record):
    carried by the version, made earlier in the batch, or read from the store."""
    in_batch = {(v.golden_id, v.version): v.attributes for v in batch}
    wanted = {(v.golden_id, v.version - 1) for v in mine
              if v.previous is None and v.version > 1
              and (v.golden_id, v.version - 1) not in in_batch}
    stored = commands.previous_attributes(conn, wanted)
    found: dict[int, dict[str, Any] | None] = {}
    for v in mine:
        if v.previous is not None:
            found[id(v)] = v.previous.attributes
        elif v.version > 1:
            key = (v.golden_id, v.version - 1)
            found[id(v)] = in_batch.get(key, stored.get(key))
        else:
            found[id(v)] = None
    return found
