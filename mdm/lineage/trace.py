"""A document's chain across systems (`mdm trace`, the workbench's trace page): from the
first document of its chain (walking links up from the one asked for) down through every
command a hop made from it and every document those created, with systems, numbers, times
and who made each transition (a hop's `actor:`, e.g. the approver)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from mdm.config.flows import Transition
from mdm.config.loader import Project
from mdm.lineage.queries import cause_of
from mdm.store.repositories import trace as repo

MAX_DEPTH = 20  # links form a tree; a deeper chain is cut here (and says so)
VERSIONS = 50  # versions listed per document


def trace(conn: Connection, project: Project, golden_id: int) -> dict[str, Any]:
    """{"asked": golden id, "root": the chain's first document, each with its `commands` and
    the `documents` made from it}."""
    root, seen = golden_id, {golden_id}
    while (up := repo.origin_of(conn, root)) is not None and up["origin_id"] not in seen:
        root = int(up["origin_id"])
        seen.add(root)
    return {"asked": golden_id, "root": _document(conn, project, root, 0, set())}


def _document(conn: Connection, project: Project, golden_id: int, depth: int,
              seen: set[int]) -> dict[str, Any]:
    seen.add(golden_id)
    found = repo.record(conn, golden_id)
    assert found is not None
    spec = project.entities.get(found["entity"])
    versions = repo.versions(conn, golden_id, VERSIONS)
    by_version = {v["version"]: v for v in versions}
    node = {**{k: found[k] for k in ("golden_id", "entity", "business_key", "status", "version")},
            "system": spec.source if spec else None,
            "state": _state(project, found["entity"], found["attributes"]),
            "description": spec.description if spec else None,
            "first_seen": _at(versions[0]) if versions else None,
            "versions": [_version(v) for v in versions],
            "commands": [_command(project, c, by_version.get(c["version"]))
                         for c in repo.commands_of(conn, golden_id)],
            "documents": [], "cut": False}
    for link in repo.links_from(conn, golden_id):
        child = int(link["linked_id"])
        if any(d["golden_id"] == child for d in node["documents"]):
            continue  # linked by a second hop too (a receipt's stock-in and its return)
        if child in seen or depth + 1 >= MAX_DEPTH:
            node["cut"] = True
            continue
        linked = _document(conn, project, child, depth + 1, seen)
        node["documents"].append({**linked, "link": {
            k: link[k] for k in ("flow", "hop", "command_id", "linked_version", "linked_at")}})
    return node


def _state(project: Project, entity: str, attributes: dict[str, Any]) -> Any:
    """The document's own state (approved, released, 已完成 …): the attribute its hops watch,
    else its `status` attribute; None for an entity without one."""
    watched = [h.when.attribute for _, h in project.hops_from(entity)
               if isinstance(h.when, Transition)]  # not a row transition's list
    name = watched[0] if watched else "status"
    return attributes.get(name)


def _at(version: dict[str, Any]) -> datetime | None:
    """When a version happened at its source: the commit, else when the hub recorded it."""
    return version.get("cause_commit_ts") or version.get("recorded_at")


def _version(v: dict[str, Any]) -> dict[str, Any]:
    return {"version": v["version"], "at": _at(v), "quality": v["quality"],
            "cause": cause_of(v)}


def _command(project: Project, c: dict[str, Any],
             made_from: dict[str, Any] | None) -> dict[str, Any]:
    """A command as the chain shows it: what fired it (the version, its transition, its actor
    and the instant), and how it went at the target (queued, acked, the key it answered)."""
    try:
        hop, back = project.command_of(c["hop"])
    except KeyError:  # a hop the project no longer declares
        hop, back = None, False
    fired_at = _at(made_from) if made_from else None
    result = {**{k: c[k] for k in ("id", "hop", "version", "operation", "target", "business_key",
                                   "status", "attempts", "created_at", "acked_at", "target_id",
                                   "response_status", "last_error", "payload")},
              "back": back, "fired_at": fired_at, "transition": None, "actor": None,
              "ms_to_ack": _ms(fired_at, c["acked_at"])}
    if hop is not None and not back:
        result["transition"] = hop.when.describe()
        if hop.actor and made_from:
            result["actor"] = made_from["attributes"].get(hop.actor)
    return result


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds() * 1000)
