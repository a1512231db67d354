"""The propagation role: the target loops (mdm/propagate/worker.py) and, beside them, each REST
target's periodic read-back (mdm/rules/reconcile.py) that compares its copy with what was sent."""
from __future__ import annotations

import asyncio
import logging
import threading

from mdm.config.loader import Project
from mdm.config.targets import RestTarget
from mdm.propagate.storable import clean_text
from mdm.propagate.worker import FAULT_PAUSE_S, propagate_forever
from mdm.rules.reconcile import reconcile_forever

logger = logging.getLogger(__name__)


def run_propagation(project: Project, hub_url: str, stop: threading.Event) -> None:
    asyncio.run(_propagate_and_reconcile(project, hub_url, stop))


async def _propagate_and_reconcile(project: Project, hub_url: str,
                                   stop_flag: threading.Event) -> None:
    readers = [_reconciling(project, t, hub_url, stop_flag) for t in project.targets.values()
               if isinstance(t, RestTarget) and t.reconcile is not None]
    await propagate_forever(project, hub_url, stop_flag, *readers)


async def _reconciling(project: Project, target: RestTarget, hub_url: str,
                       stop_flag: threading.Event) -> None:
    """A target's read-back, restarted after an error it did not expect (a value the hub
    cannot store, a bug): like a target loop, it never ends the propagation process."""
    pause = FAULT_PAUSE_S[0]
    while not stop_flag.is_set():
        try:
            await asyncio.to_thread(reconcile_forever, project, target, hub_url, stop_flag)
        except Exception as exc:  # noqa: BLE001 — the target loops must go on
            logger.exception("reconcile error target=%s: %s; restarting in %.0fs", target.name,
                             clean_text(str(exc), 300), pause)
            await asyncio.to_thread(stop_flag.wait, pause)
            pause = min(pause * 2, FAULT_PAUSE_S[1])
