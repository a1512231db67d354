"""Lineage and audit queries over versions, deliveries and decisions.

- history: every version of a record with what changed from the one before;
- as of: the version valid at an instant (valid_from <= T < valid_to);
- field lineage: each value an attribute took, what set it (an ERP commit, a steward's
  decision, a target's answer) and when each target received it;
- why: from a target's current value back to what set it;
- one ERP transaction's changes; one period's decisions.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from mdm.config.models import EntitySpec
from mdm.model.references import field_path
from mdm.store.repositories import lineage


def cause_of(row: dict[str, Any]) -> dict[str, Any]:
    """A version's cause as the auditor reads it."""
    kind = row["cause_kind"]
    if kind == "decision":
        return {"kind": kind, "task_id": row["cause_task_id"], "actor": row["cause_actor"]}
    if kind == "write_back":
        return {"kind": kind, "target": row["cause_source"], "inbox_id": row["cause_inbox_id"],
                "at": row["cause_commit_ts"]}
    return {"kind": kind, "source": row["cause_source"], "table": row["cause_table"],
            "row_key": row["cause_row_key"], "op": row["cause_op"], "lsn": row["cause_lsn"],
            "tx_id": row["cause_tx_id"], "commit_ts": row["cause_commit_ts"]}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A version as the API shows it: its values and validity, and its cause."""
    return {**{k: row[k] for k in ("version", "status", "quality", "attributes", "valid_from",
                                   "valid_to", "recorded_at")}, "cause": cause_of(row)}


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """attribute → {from, to} for every attribute whose value differs."""
    before = before or {}
    return {name: {"from": before.get(name), "to": after.get(name)}
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)}


def history(conn: Connection, golden_id: int, limit: int = 100,
            before_version: int | None = None) -> list[dict[str, Any]]:
    """Versions newest first, each with its cause and its diff to the version before it."""
    rows = lineage.versions_page(conn, golden_id, limit + 1, before_version)
    result = []
    for i, row in enumerate(rows[:limit]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        if older is not None and older["version"] != row["version"] - 1:
            older = None  # versions in between were dropped by the history policy
        if older is None and row["version"] > 1:  # the page ends: fetch the one before
            older = lineage.version(conn, golden_id, row["version"] - 1)
        entry = {"version": row["version"], "status": row["status"], "quality": row["quality"],
                 "valid_from": row["valid_from"], "valid_to": row["valid_to"],
                 "recorded_at": row["recorded_at"], "cause": cause_of(row),
                 "attributes": row["attributes"]}
        if older is None and row["version"] > 1:
            entry["changes"] = None
            entry["note"] = "the version before was dropped by the history policy"
        else:
            changes = diff(older["attributes"] if older else None, row["attributes"])
            if older is not None and older["status"] != row["status"]:
                changes["(status)"] = {"from": older["status"], "to": row["status"]}
            entry["changes"] = changes
        result.append(entry)
    return result


def version(conn: Connection, golden_id: int, number: int) -> dict[str, Any] | None:
    row = lineage.version(conn, golden_id, number)
    if row is None:
        return None
    return _public(row)


def as_of(conn: Connection, golden_id: int, instant: datetime) -> dict[str, Any] | None:
    """The version valid at `instant`: valid_from <= instant < valid_to. A version's
    valid_from is the commit time of what made it, so at that exact instant it is returned."""
    found = lineage.version_at(conn, golden_id, instant)
    if found is None:
        return None
    if found["valid_to"] is not None and found["valid_to"] <= instant:
        return None  # cannot happen while validity intervals tile time; kept as a guard
    return _public(found)


def field_lineage(conn: Connection, spec: EntitySpec, golden_id: int, attribute: str,
                  limit: int = 100, before_version: int | None = None) -> list[dict[str, Any]]:
    """Each value `attribute` took (the newest `limit` values, oldest first; page back with
    `before_version`): the version that set it, what set it, until when it held, and when each
    target mapping it first received it. The segmenting runs in the database."""
    rows = lineage.field_segments(conn, golden_id, attribute, limit, before_version)
    segments = [{"value": r["value"], "set_in_version": r["version"], "set_at": r["valid_from"],
                 "set_by": cause_of(r), "until_version": r["until_version"], "until": r["until"],
                 "received": {}} for r in reversed(rows)]
    _add_decisions(conn, golden_id, segments)
    _add_receipts(conn, spec, golden_id, attribute, segments)
    return segments


def _add_decisions(conn: Connection, golden_id: int, segments: list[dict[str, Any]]) -> None:
    decided = [s for s in segments if s["set_by"]["kind"] == "decision"]
    if not decided:
        return
    rows = lineage.decisions_on_versions(conn, golden_id, [s["set_in_version"] for s in decided])
    by_version = {r["version"]: r for r in rows}
    for s in decided:
        s["set_by"]["decision"] = by_version.get(s["set_in_version"])


def _add_receipts(conn: Connection, spec: EntitySpec, golden_id: int, attribute: str,
                  segments: list[dict[str, Any]]) -> None:
    """Per segment and target mapping the attribute: the first acknowledged delivery of a
    version in the segment, or, if none was acknowledged, what became of its deliveries."""
    fields = {target: field for target, mapping in spec.targets.items()
              for field, attr in mapping.fields.items()
              if attr == attribute or field_path(attr).attribute == attribute}
    if not fields or not segments:
        return
    targets = list(fields)
    first = {(r["low"], r["target"]): r for r in lineage.first_acks(
        conn, golden_id, targets, [s["set_in_version"] for s in segments],
        [s["until_version"] for s in segments])}
    missing = [s for s in segments if any((s["set_in_version"], t) not in first for t in fields)]
    others: dict[tuple[int, str], list[dict[str, Any]]] = {}
    if missing:
        for d in lineage.deliveries_in(conn, golden_id, targets,
                                       [s["set_in_version"] for s in missing],
                                       [s["until_version"] for s in missing]):
            others.setdefault((d["low"], d["target"]), []).append(
                {"delivery_id": d["id"], "version": d["version"], "status": d["status"]})
    for segment in segments:
        for target, field in fields.items():
            r = first.get((segment["set_in_version"], target))
            if r:
                segment["received"][target] = {
                    "field": field, "at": r["acked_at"], "version": r["version"],
                    "delivery_id": r["id"], "idempotency_key": r["idempotency_key"],
                    "response_status": r["response_status"], "target_id": r["target_id"]}
            else:
                segment["received"][target] = {
                    "field": field, "at": None,
                    "deliveries": others.get((segment["set_in_version"], target), [])}


def why(conn: Connection, spec: EntitySpec, golden_id: int, target: str,
        field: str) -> dict[str, Any]:
    """Why `target` shows what it shows in `field`: the newest delivery it acknowledged, the
    value that carried, the version and cause that set that value, and any open divergence
    (a hand edit in the target since)."""
    mapping = spec.targets[target]
    attribute = mapping.fields[field]
    sent = lineage.newest_ack(conn, golden_id, target, field)
    answer: dict[str, Any] = {"target": target, "field": field, "attribute": attribute}
    if sent is None:
        return {**answer, "delivered": None, "set_by": None,
                "explanation": f"{target} has acknowledged no delivery of this record"}
    answer["delivered"] = sent
    # a field shown from a referenced record (department.code): the version that set the reference
    origin = _origin(conn, golden_id, field_path(attribute).attribute, sent["version"])
    answer["set_in_version"], answer["set_by"] = origin
    answer["divergence"] = lineage.open_divergence(conn, golden_id, target)
    answer["explanation"] = _explain(answer, sent["value"])
    return answer


def _origin(conn: Connection, golden_id: int, attribute: str,
            version: int) -> tuple[int, dict[str, Any]]:
    """The version at or before `version` where the attribute took the value it had there."""
    first = None
    origin: dict[str, Any] | None = None
    for mapped in lineage.values_down_from(conn, golden_id, attribute, version):
        if first is None:
            first = mapped["value"]
        elif mapped["value"] != first:
            break
        origin = mapped
    assert origin is not None
    return origin["version"], cause_of(origin)


def _explain(answer: dict[str, Any], value: Any) -> str:
    cause = answer["set_by"]
    if cause["kind"] == "decision":
        what = f"steward {cause['actor']}'s decision on task {cause['task_id']}"
    elif cause["kind"] == "write_back":
        what = f"{cause['target']}'s own answer"
    else:
        what = (f"{cause['source']} transaction {cause['tx_id']} ({cause['op']} of "
                f"{cause['table']} row {cause['row_key']}, committed {cause['commit_ts']})")
    text_ = (f"{answer['target']}.{answer['field']} = {value!r}: sent in version "
             f"{answer['delivered']['version']} (acknowledged {answer['delivered']['acked_at']}); "
             f"the value was set in version {answer['set_in_version']} by {what}")
    if answer.get("divergence"):
        text_ += f"; but {answer['target']}'s copy was edited since: {answer['divergence']['summary']}"
    return text_


def transaction(conn: Connection, source: str, tx_id: int) -> list[dict[str, Any]]:
    """Every version one source transaction made, with its diff and where it was delivered."""
    rows = lineage.transaction_versions(conn, source, tx_id)
    deliveries: dict[tuple[int, int], list[dict[str, Any]]] = {}
    if rows:
        for d in lineage.deliveries_of_versions(conn, [r["golden_id"] for r in rows],
                                                [r["version"] for r in rows]):
            deliveries.setdefault((d["golden_id"], d["version"]), []).append(
                {"target": d["target"], "status": d["status"], "acked_at": d["acked_at"]})
    return [{"entity": r["entity"], "business_key": r["business_key"], "golden_id": r["golden_id"],
             "version": r["version"], "status": r["status"], "table": r["cause_table"],
             "row_key": r["cause_row_key"], "op": r["cause_op"], "lsn": r["cause_lsn"],
             "commit_ts": r["cause_commit_ts"], "changes": diff(r["previous"], r["attributes"]),
             "deliveries": deliveries.get((r["golden_id"], r["version"]), [])} for r in rows]


def decisions(conn: Connection, since: datetime, until: datetime,
              actor: str | None = None) -> list[dict[str, Any]]:
    """Every decision taken in [since, until), oldest first, with its task."""
    return lineage.decisions(conn, since, until, actor)
