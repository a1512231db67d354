"""Steward tasks: their types and states, and a task as a stage opens it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

RULE_VIOLATION = "rule_violation"
DIVERGENCE = "divergence"
DEAD_DELIVERY = "dead_delivery"
KEY_CLASH = "key_clash"
UNKNOWN_REFERENCE = "unknown_reference"  # a version held on a reference the hub does not know
FLOW_TASK = "flow_task"  # a hop's task for people (a nonconforming receipt for purchasing)
RECONCILIATION = "reconciliation"  # an order whose documents settled into disagreement
TASK_TYPES = (RULE_VIOLATION, DIVERGENCE, DEAD_DELIVERY, KEY_CLASH, UNKNOWN_REFERENCE, FLOW_TASK,
              RECONCILIATION)
STATUSES = ("open", "resolved", "waived")


@dataclass(frozen=True)
class NewTask:
    """A task to open, or to refresh: at most one is open per (type, entity, key, system, hop)
    — per (type, entity, record, system, hop) for a draft, which has no key yet. `hop` is a
    flow task's hop (one open per document and hop), '' for every other type."""

    type: str
    entity: str
    business_key: str | None  # None: the record is a draft
    golden_id: int | None
    version: int | None
    system: str
    severity: str  # error | warning
    summary: str
    detail: dict[str, Any]
    hop: str = ""


@dataclass(frozen=True)
class TaskFilter:
    status: str | None = "open"
    type: str | None = None
    entity: str | None = None
    system: str | None = None
    since: datetime | None = None
    limit: int = 100
    offset: int = 0
