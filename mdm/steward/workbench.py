"""What the steward surfaces (the task API, the workbench pages, `mdm rules run`) ask of the
hub: one task, a decision on it with its write into the ERP, the records a task shows and what
each target last acknowledged of them. Refusals are the tree's errors (NotFound, Conflict,
InvalidRequest), carrying the task id."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.errors import Conflict, InvalidRequest, NotFound, RequestError
from mdm.store.repositories import tasks
from mdm.steward.decisions import DecisionError, resolve_task
from mdm.steward.erp_write import apply_requests
from mdm.store.repositories import workbench as repo

REQUEST_FIELDS = ("id", "attribute", "status", "erp_tx_id", "error")


def find_task(conn: psycopg.Connection, task_id: int) -> dict[str, Any]:
    """The task with its decisions and rule results; NotFound when there is none."""
    task = tasks.get_task(conn, task_id)
    if task is None:
        raise NotFound("task", task_id)
    return task


@dataclass(frozen=True)
class Decided:
    task_id: int
    action: str
    status: str  # the task's status afterwards
    version: int | None
    delivery_ids: tuple[int, ...]
    change_requests: tuple[dict[str, Any], ...]  # REQUEST_FIELDS of each, after the ERP write

    def as_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "action": self.action, "status": self.status,
                "version": self.version, "deliveries": list(self.delivery_ids),
                "change_requests": list(self.change_requests)}


def _refusal(exc: DecisionError, task_id: int) -> RequestError:
    """The decision's refusal as the tree's error (DecisionError carries its status)."""
    if exc.status == 404:
        return NotFound("task", task_id, str(exc))
    if exc.status == 409:
        return Conflict(str(exc), "task", task_id)
    return InvalidRequest(str(exc))


def decide(conn: psycopg.Connection, project: Project, task_id: int, action: str, actor: str,
           reason: str | None = None, values: dict[str, Any] | None = None) -> Decided:
    """Take the decision (one transaction, see decisions.resolve_task) and then, once it is
    committed, write accepted change requests into the ERP where the source allows it (see
    erp_write). Raises NotFound, Conflict or InvalidRequest; then nothing changed."""
    try:
        decision = resolve_task(conn, project, task_id, action, actor, reason, values)
    except DecisionError as exc:
        raise _refusal(exc, task_id) from exc
    written: list[dict[str, Any]] = []
    if decision.change_request_ids:
        written = apply_requests(conn, project, list(decision.change_request_ids), actor)
    return Decided(decision.task_id, decision.action, decision.status, decision.version,
                   tuple(decision.delivery_ids),
                   tuple({k: r[k] for k in REQUEST_FIELDS} for r in written))


def record_of(conn: psycopg.Connection, golden_id: int) -> dict[str, Any] | None:
    """The golden record's current state (its golden_record row), if it still exists."""
    return repo.golden_row(conn, golden_id)


def record_names(conn: psycopg.Connection, golden_ids: Sequence[int]) -> dict[int, str]:
    """The records' names (or whatever names them: name, then the business key)."""
    return repo.names(conn, golden_ids)


def acknowledged_copy(conn: psycopg.Connection, golden_id: int, target: str) -> dict[str, Any] | None:
    """What `target` last acknowledged of the record (the payload sent), if anything."""
    return repo.acked_payload(conn, golden_id, target)


def count_current_records(conn: psycopg.Connection, entity: str) -> int:
    """How many active records `entity` has (what `mdm rules run` will judge)."""
    return repo.count_active(conn, entity)
