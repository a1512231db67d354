"""A processing batch's flow work, in its transaction: the commands its versions fire, the
links of the documents it brings that name their origin, and the fields those return.

- A version of a hop's `from` entity that meets the hop's `when` gets the hop's command: a
  create once per source document (its key is the hop and the document's identity), an
  update per version.
- A version of a hop's `link.entity` whose `link.by` attribute names an origin the hub holds
  is linked to it; when the version changes that attribute or one the hop's `back:` maps,
  an update of the origin (by its key at the back target) is queued.

Versions held back (an error rule, an unknown reference) fire nothing until released; a
snapshot's rows fire nothing unless the hop says `snapshot: true` (going live must not
re-create the documents of the past).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from mdm.config.flows import CommandMapping, Constant, Hop, ValueMap, hop_id
from mdm.config.loader import Project
from mdm.flows.conditions import changed, fires
from mdm.model.commands import Command, NewLink
from mdm.model.golden import NewVersion
from mdm.store.repositories import commands
from mdm.store.repositories.outbox import notify

logger = logging.getLogger(__name__)
HELD_BACK = ("quarantined", "held")


class FlowPlanner:
    """One per processor: the project's hops by the entity they watch and link."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.watching = {e: hops for e in project.entities if (hops := project.hops_from(e))}
        self.linking: dict[str, list[tuple[str, Hop]]] = {}
        for flow in project.flows.values():
            for hop in flow.hops:
                if hop.link is not None:
                    self.linking.setdefault(hop.link.entity, []).append((flow.flow, hop))

    def enqueue(self, conn: psycopg.Connection, versions: Sequence[NewVersion]) -> int:
        """Queue the batch's commands (those not queued before); how many are new."""
        mine = [v for v in versions if (v.entity in self.watching or v.entity in self.linking)
                and v.quality not in HELD_BACK and v.status == "active"]
        if not mine:
            return 0
        before = _previous(conn, mine, versions)
        fired = [c for v in mine for c in self._fired(v, before.get(id(v)))]
        new = commands.enqueue(conn, fired + self._linked(conn, mine, before))
        if new:
            notify(conn)
            logger.info("flow commands queued new=%d fired=%d", new, len(fired))
        return new

    def _fired(self, v: NewVersion, before: dict[str, Any] | None) -> list[Command]:
        found = []
        for flow, hop in self.watching.get(v.entity, ()):
            if v.cause.op == "r" and not hop.snapshot:
                continue
            if not fires(hop.when, before, v.attributes):
                continue
            label = v.label
            if hop.to.operation == "update":
                key = v.attributes.get(hop.to.key or self.project.entities[v.entity].business_key)
                if key in (None, ""):
                    logger.warning("hop %s fired for %s %s but it names no record to update "
                                   "(%s is empty)", hop_id(flow, hop.name), v.entity, v.label,
                                   hop.to.key)
                    continue
                label = str(key)
            logger.info("hop fired flow=%s hop=%s %s %s v%d (%s)", flow, hop.name, v.entity,
                        v.label, v.version, hop.when.describe())
            found.append(Command(v.golden_id, v.version, v.entity, label, hop.to.target,
                                 hop.to.operation, hop_id(flow, hop.name),
                                 per_version=hop.to.operation == "update"))
        return found

    def _linked(self, conn: psycopg.Connection, versions: Sequence[NewVersion],
                before: dict[int, dict[str, Any] | None]) -> list[Command]:
        """Link the versions naming an origin; the updates their `back:` fields make."""
        backs: list[Command] = []
        links: list[NewLink] = []
        for flow, hop in {(f, h.name): (f, h) for hops in self.linking.values()
                          for f, h in hops}.values():
            assert hop.link is not None
            named = [(v, str(v.attributes[hop.link.by])) for v in versions
                     if v.entity == hop.link.entity
                     and v.attributes.get(hop.link.by) not in (None, "")]
            origins = commands.records_by_key(conn, hop.from_, {k for _, k in named})
            for v, key in named:
                origin = origins.get(key)
                if origin is None:
                    logger.info("%s %s names %s %s, which the hub does not hold: not linked",
                                v.entity, v.label, hop.from_, key)
                    continue
                links.append(NewLink(flow, hop.name, origin, v.golden_id, v.version))
                was = before.get(id(v))
                if hop.back is not None and changed(was, v.attributes, {
                        hop.link.by, *_sources(hop.back)}):
                    backs.append(Command(v.golden_id, v.version, v.entity, key, hop.back.target,
                                         "update", hop_id(flow, hop.name, back=True),
                                         per_version=True))
        if commands.link(conn, links):
            logger.info("documents linked count=%d", len(links))
        return backs


def _sources(mapping: CommandMapping) -> set[str]:
    """The attributes a mapping reads (its header fields)."""
    found = set()
    for source in mapping.fields.values():
        if isinstance(source, ValueMap):
            found.add(source.from_)
        elif not isinstance(source, Constant):
            found.add(source)
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
