"""The task a hop opens for people (`task:`): its summary filled from the version."""
from __future__ import annotations

import re
from typing import Any

from mdm.config.flows import Hop, hop_id
from mdm.config.loader import Project
from mdm.config.row_match import matches
from mdm.model.golden import NewVersion
from mdm.model.tasks import FLOW_TASK, NewTask

FIELD = re.compile(r"{(\w+)}")


def hop_task(project: Project, flow: str, hop: Hop, v: NewVersion) -> NewTask:
    """The hop's task for version `v`: one open per document and hop (the system column holds
    the document's system; `team` and the hop are in the detail)."""
    assert hop.task is not None

    def value(match: re.Match[str]) -> str:
        found = v.attributes.get(match.group(1))
        return "" if found is None else str(found)

    detail: dict[str, Any] = {"hop": hop_id(flow, hop.name), "team": hop.task.team,
                              "transition": hop.when.describe()}
    if hop.if_ is not None and hop.if_.any is not None:  # the rows that made it fire
        detail["rows"] = [row for row in v.attributes.get(hop.if_.any) or ()
                          if matches(hop.if_.row_filter, row)]
    return NewTask(FLOW_TASK, v.entity, v.business_key, v.golden_id, v.version,
                   project.entities[v.entity].source, hop.task.severity,
                   FIELD.sub(value, hop.task.summary), detail)
