"""The task a hop opens for people (`task:`): its summary filled from the version."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mdm.config.flows import Hop, RowTransition, hop_id
from mdm.config.loader import Project
from mdm.config.row_match import matches
from mdm.flows.conditions import new_rows
from mdm.model.golden import NewVersion
from mdm.model.tasks import FLOW_TASK, NewTask

FIELD = re.compile(r"{(\w+)(?:\.(\w+))?}")
JOIN = "、"  # several rows' values in one placeholder


def firing_rows(hop: Hop, before: Mapping[str, Any] | None,
                v: NewVersion) -> tuple[str | None, list[Mapping[str, Any]]]:
    """(child list, its rows that made the hop fire): a row transition's new rows, else the
    rows its `if: {any: …}` matched; (None, []) for a hop on the header alone."""
    if isinstance(hop.when, RowTransition):
        return hop.when.any, new_rows(hop.when, before, v.attributes)
    if hop.if_ is not None and hop.if_.any is not None:
        return hop.if_.any, [row for row in v.attributes.get(hop.if_.any) or ()
                             if isinstance(row, Mapping) and matches(hop.if_.row_filter, row)]
    return None, []


def hop_task(project: Project, flow: str, hop: Hop, v: NewVersion,
             before: Mapping[str, Any] | None = None) -> NewTask:
    """The hop's task for version `v`: one open per document and hop (task.hop; the system
    column holds the document's system; `team` and the hop are in the detail too). `{attribute}` in the
    summary is the version's value, `{list.attribute}` that of the rows that made it fire
    (joined by 、 when several)."""
    assert hop.task is not None
    listed, rows = firing_rows(hop, before, v)

    def value(match: re.Match[str]) -> str:
        if match.group(2) is None:
            found = v.attributes.get(match.group(1))
            return "" if found is None else str(found)
        if match.group(1) != listed:
            return ""
        return JOIN.join(str(row.get(match.group(2))) for row in rows
                         if row.get(match.group(2)) is not None)

    detail: dict[str, Any] = {"hop": hop_id(flow, hop.name), "team": hop.task.team,
                              "transition": hop.when.describe()}
    if listed is not None:
        detail["rows"] = rows
    return NewTask(FLOW_TASK, v.entity, v.business_key, v.golden_id, v.version,
                   project.entities[v.entity].source, hop.task.severity,
                   FIELD.sub(value, hop.task.summary), detail, hop=detail["hop"])
