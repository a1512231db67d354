"""Commands waiting for their origin document (a hop's `origin:`): a WMS receipt that names a
purchase order the hub has not seen is kept — its stock-in command held with the reason —
and released when a version of that order arrives, in the same batch or a later one. A hold
older than the held document's `unknown_reference_task_after` gets an unknown_reference
task (the processing loop asks), closed when the origin arrives."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg

from mdm.config.loader import Project
from mdm.model.commands import NewLink
from mdm.model.golden import NewVersion
from mdm.model.tasks import UNKNOWN_REFERENCE, NewTask
from mdm.store.repositories import commands, tasks

logger = logging.getLogger(__name__)


class HoldKeeper:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.awaited = {h.origin.entity for f in project.flows.values() for h in f.hops
                        if h.origin is not None}
        self.holding = {h.from_ for f in project.flows.values() for h in f.hops
                        if h.origin is not None}

    def release(self, conn: psycopg.Connection, versions: Sequence[NewVersion],
                links: list[NewLink]) -> int:
        """Release the commands waiting for the batch's versions of awaited entities (and
        link their documents under them); how many."""
        arrived = {(v.entity, v.business_key): v for v in versions
                   if v.entity in self.awaited and v.business_key is not None}
        if not arrived:
            return 0
        released = commands.release(conn, list(arrived))
        for h in released:
            origin = arrived[(h.entity, h.business_key)]
            links.append(NewLink(h.flow, h.hop, origin.golden_id, h.held_id, h.version))
        commands.close_tasks(conn, [h.task_id for h in released if h.task_id is not None],
                             "the awaited document arrived: its command was released")
        if released:
            logger.info("held commands released count=%d (%s)", len(released), ", ".join(
                f"{h.flow}.{h.hop} for {h.entity} {h.business_key}" for h in released[:5]))
        return len(released)

    def open_overdue_tasks(self, conn: psycopg.Connection) -> int:
        """An unknown_reference task for each command held longer than its document allows."""
        waits = {e: self.project.entities[e].unknown_reference_task_after.total_seconds()
                 for e in self.holding}
        opened = []
        for (delivery_id, flow, hop, held_id, entity, key, held_entity, held_key, version,
             target) in commands.overdue(conn, waits):
            task = NewTask(
                UNKNOWN_REFERENCE, held_entity, held_key, held_id, version,
                self.project.entities[held_entity].source, "warning",
                f"{held_entity} {held_key} names {entity} {key or '(none)'}, which the hub has "
                f"not seen: its {flow}.{hop} command to {target} waits (it is sent when "
                f"{entity} {key} arrives; correct the number in "
                f"{self.project.entities[held_entity].source} if it is wrong)",
                {"delivery_id": delivery_id, "hop": f"{flow}.{hop}",
                 "awaits": {"entity": entity, "business_key": key}})
            opened.append((delivery_id, tasks.open_task(conn, task)))
        commands.mark_tasked(conn, opened)
        if opened:
            logger.warning("held flow commands got their task count=%d", len(opened))
        return len(opened)
