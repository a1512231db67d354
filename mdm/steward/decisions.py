"""A steward's decision on a task, in one transaction with its effect and its record.

Actions: `approve` a quarantined version (it is propagated); `approve_edited` — a new version
with the steward's values, whose cause is the decision; `push` the golden value to a diverged
target again; `waive` with a reason. Every decision is stored with actor, time, reason, and
what it changed (before/after). No decision releases a record under a business key another
active record holds (a key_clash task is resolved by approve_edited with a free key), and none
propagates a version whose reference names a record the hub does not hold: it stays held.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from mdm.config.loader import Project
from mdm.golden.versions import next_version
from mdm.model.decode import DecodeError, decode
from mdm.model.golden import Cause, GoldenState, NewVersion
from mdm.model.tasks import KEY_CLASH
from mdm.propagate.redeliver import RetryRefused, retry_delivery
from mdm.store.repositories import golden, outbox, reference_holds, tasks
from mdm.store.repositories.key_clashes import close_clash_tasks, key_holders

logger = logging.getLogger(__name__)
HELD = "held"  # a version whose reference names a record the hub does not hold
ACTIONS = {
    "rule_violation": ("approve", "approve_edited", "waive"),
    "divergence": ("push", "change_request", "waive"),
    "dead_delivery": ("retry", "waive"),
    KEY_CLASH: ("approve_edited", "waive"),
}


class DecisionError(Exception):
    """The decision cannot be taken; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decision:
    task_id: int
    action: str
    actor: str
    status: str  # the task's status afterwards
    version: int | None = None
    delivery_ids: tuple[int, ...] = ()
    change_request_ids: tuple[int, ...] = ()


def resolve_task(conn: psycopg.Connection, project: Project, task_id: int, action: str,
                 actor: str, reason: str | None = None,
                 values: dict[str, Any] | None = None) -> Decision:
    """Take the decision; nothing changes if it is refused (DecisionError)."""
    if not actor.strip():
        raise DecisionError(400, "an actor is required: who decides")
    with conn.transaction():
        task = tasks.lock_task(conn, task_id)
        if task is None:
            raise DecisionError(404, f"no task {task_id}")
        allowed = ACTIONS.get(task["type"], ("waive",))
        if action not in allowed:
            raise DecisionError(400, f"unknown action '{action}' for a {task['type']} task "
                                     f"(allowed: {', '.join(allowed)})")
        if task["status"] != "open":
            raise DecisionError(409, f"task {task_id} is already {task['status']} "
                                     f"(by {task['resolved_by']} at {task['resolved_at']})")
        handler = {"approve": _approve, "approve_edited": _approve_edited, "push": _push,
                   "change_request": _change_request, "retry": _retry, "waive": _waive}[action]
        decision, before, after = handler(conn, project, task, actor, reason, values or {})
        tasks.record_decision(conn, task, actor, action, reason, before, after, decision.version,
                              decision.status)
    logger.info("decision task=%d action=%s actor=%s version=%s", task_id, action, actor,
                decision.version)
    return decision


Result = tuple[Decision, Any, Any]


def _current(conn: psycopg.Connection, task: dict[str, Any]) -> dict[str, Any]:
    row = golden.lock_current(conn, task["golden_id"])
    if row is None:
        raise DecisionError(409, f"the task's record (golden id {task['golden_id']}) is gone")
    return row


def _current_version(conn: psycopg.Connection, task: dict[str, Any]) -> dict[str, Any]:
    """The record's current version, which must still be the one the task is about."""
    current = _current(conn, task)
    if current["version"] != task["version"]:
        raise DecisionError(409, f"stale: version {current['version']} has replaced version "
                                 f"{task['version']}; approve or waive what is current")
    return current


def _decided(task: dict[str, Any], actor: str) -> Cause:
    return Cause("decision", None, None, None, None, None, None, None, None, task["id"], actor)


def _approve(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
             reason: str | None, values: dict[str, Any]) -> Result:
    current = _current_version(conn, task)
    _refuse_held_key(conn, task["entity"], current["business_key"], current)
    if reference_holds.requalify(conn, [current["id"]], "approved"):
        # also held on an unknown reference: approved, it goes when that record arrives
        return (Decision(task["id"], "approve", actor, "resolved", current["version"]),
                {"quality": current["quality"]}, {"quality": "approved", "held": True})
    golden.approve_version(conn, current["id"], current["version"])
    if current["quality"] != "quarantined":
        # a warning's version was propagated when it was made: approving only accepts it
        return (Decision(task["id"], "approve", actor, "resolved", current["version"]),
                {"quality": current["quality"]}, {"quality": "approved"})
    outbox.enqueue_deliveries(conn, project, [NewVersion(
        current["id"], current["version"], task["entity"], current["business_key"],
        current["attributes"], current["status"], current["valid_from"], _decided(task, actor),
        quality="approved")])
    return (Decision(task["id"], "approve", actor, "resolved", current["version"]),
            {"quality": current["quality"]}, {"quality": "approved"})


def _approve_edited(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
                    reason: str | None, values: dict[str, Any]) -> Result:
    spec = project.entities[task["entity"]]
    if not values:
        raise DecisionError(400, "approve_edited needs `values`: the attributes to change")
    edited = {}
    for name, raw in values.items():
        attribute = spec.attributes.get(name)
        if attribute is None:
            raise DecisionError(400, f"'{name}' is not an attribute of {spec.entity}")
        try:
            edited[name] = None if raw is None else decode(attribute.type, raw)
        except DecodeError as exc:
            raise DecisionError(400, f"{name}: {exc}") from exc
    current = _current_version(conn, task)
    attributes = {**current["attributes"], **edited}
    key = spec.business_key_of(attributes)  # None: it stays (or becomes) a draft
    if (key is None and not spec.allows_drafts) or (key is not None and not key.strip()):
        raise DecisionError(400, f"{spec.business_key} cannot be empty: it is the business key")
    if key is not None:
        _refuse_held_key(conn, spec.entity, key, current)
    state = GoldenState(task["entity"], current["source_key"], current["id"], current["version"],
                        current["business_key"], current["attributes"], current["status"],
                        current["valid_from"])
    version = next_version(state, attributes, current["status"], key,
                           _decided(task, actor), datetime.now(UTC), quality="approved")
    assert state.golden_id is not None
    unknown = reference_holds.unknown_in(conn, spec, attributes)
    if unknown:  # held like a processed version: not propagated before that record arrives
        version = replace(version, quality=HELD)
    golden.write_versions(conn, [state], [version], spec.source)
    reference_holds.hold_version(conn, state.golden_id, version.version, spec.entity, key,
                                 spec.source, "approved", unknown)
    if task["type"] != KEY_CLASH:  # (a key_clash task is closed by this decision itself)
        close_clash_tasks(conn, [state.golden_id], "superseded", f"a steward's version "
                          f"{state.version} gives it the key {state.business_key}")
    outbox.enqueue_deliveries(conn, project, [version])
    before = {k: current["attributes"].get(k) for k in edited}
    return Decision(task["id"], "approve_edited", actor, "resolved", state.version), before, edited


def _refuse_held_key(conn: psycopg.Connection, entity: str, key: str,
                     current: dict[str, Any]) -> None:
    """A record may not be released under a business key another active record holds: the
    targets address records by that key, so the other record would be overwritten there."""
    if current["status"] != "active":
        return
    holder = key_holders(conn, entity, [key], [current["id"]]).get(key)
    if holder is not None:
        raise DecisionError(409, f"business key {key} is held by another active {entity} "
                                 f"(golden id {holder.golden_id}, source row "
                                 f"{holder.source_key}); choose a key no other record holds")


def _push(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
          reason: str | None, values: dict[str, Any]) -> Result:
    version = golden.releasable_version(conn, task["golden_id"])
    if version is None:
        raise DecisionError(409, "the record has no version that may be propagated")
    delivery_id = outbox.enqueue_push(conn, project, task["golden_id"], version, task["system"],
                                      f"task{task['id']}")
    detail = task["detail"]
    return (Decision(task["id"], "push", actor, "resolved", version, (delivery_id,)),
            {"target": detail.get("fields")}, {"pushed_version": version})


def _retry(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
           reason: str | None, values: dict[str, Any]) -> Result:
    """The dead delivery is due again with fresh attempts — or, if the record has a newer
    releasable version, that version in its stead; refused (409) if a newer version has
    already reached the target (see propagate/redeliver.py)."""
    try:
        done = retry_delivery(conn, task["detail"].get("delivery_id"), only=("dead",),
                              project=project)
    except RetryRefused as exc:
        raise DecisionError(exc.status if exc.status != 404 else 409, str(exc)) from exc
    return (Decision(task["id"], "retry", actor, "resolved", done.version, (done.delivery_id,)),
            {"status": done.previous_status, "last_error": done.last_error,
             "delivery_id": done.retried_id},
            {"status": "pending", "delivery_id": done.delivery_id, "version": done.version})


def _change_request(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
                    reason: str | None, values: dict[str, Any]) -> Result:
    """The system's value is what the record should be: recorded for the ERP team; the golden
    record (the ERP's) is unchanged until the ERP changes."""
    from mdm.steward import change_requests

    fields = task["detail"].get("fields") or []
    if not fields:
        raise DecisionError(400, "this divergence names no differing field to request a change of")
    ids = change_requests.record(conn, task, actor, reason)
    return (Decision(task["id"], "change_request", actor, "resolved", task["version"],
                     change_request_ids=tuple(ids)),
            {f["field"]: f.get("golden") for f in fields}, {f["field"]: f.get("target") for f in fields})


def _waive(conn: psycopg.Connection, project: Project, task: dict[str, Any], actor: str,
           reason: str | None, values: dict[str, Any]) -> Result:
    if not reason or not reason.strip():
        raise DecisionError(400, "waive needs a reason")
    return Decision(task["id"], "waive", actor, "waived", task["version"]), None, None

