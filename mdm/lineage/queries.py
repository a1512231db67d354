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

from sqlalchemy import Connection, text

from mdm.config.models import EntitySpec

CAUSE_COLUMNS = ("cause_kind, cause_source, cause_table, cause_row_key, cause_op, cause_lsn, "
                 "cause_tx_id, cause_commit_ts, cause_inbox_id, cause_task_id, cause_actor")
VERSION_COLUMNS = f"version, status, attributes, valid_from, valid_to, recorded_at, quality, {CAUSE_COLUMNS}"


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
    rows = [dict(r._mapping) for r in conn.execute(text(
        f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g "
        "AND (CAST(:b AS int) IS NULL OR version < :b) ORDER BY version DESC LIMIT :l"),
        {"g": golden_id, "b": before_version, "l": limit + 1})]
    result = []
    for i, row in enumerate(rows[:limit]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        if older is not None and older["version"] != row["version"] - 1:
            older = None  # versions in between were dropped by the history policy
        if older is None and row["version"] > 1:  # the page ends: fetch the one before
            older = _version(conn, golden_id, row["version"] - 1)
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


def _version(conn: Connection, golden_id: int, version: int) -> dict[str, Any] | None:
    row = conn.execute(text(
        f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g AND version = :v"),
        {"g": golden_id, "v": version}).first()
    return None if row is None else dict(row._mapping)


def version(conn: Connection, golden_id: int, number: int) -> dict[str, Any] | None:
    row = _version(conn, golden_id, number)
    if row is None:
        return None
    return _public(row)


def as_of(conn: Connection, golden_id: int, instant: datetime) -> dict[str, Any] | None:
    """The version valid at `instant`: valid_from <= instant < valid_to. A version's
    valid_from is the commit time of what made it, so at that exact instant it is returned."""
    row = conn.execute(text(
        f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g AND valid_from <= :t "
        "ORDER BY valid_from DESC, version DESC LIMIT 1"), {"g": golden_id, "t": instant}).first()
    if row is None:
        return None
    found = dict(row._mapping)
    if found["valid_to"] is not None and found["valid_to"] <= instant:
        return None  # cannot happen while validity intervals tile time; kept as a guard
    return _public(found)


FIELD_SEGMENTS_SQL = f"""
WITH v AS (
    SELECT version, attributes -> :a AS value, valid_from, valid_to, {CAUSE_COLUMNS},
           lag(attributes -> :a) OVER w AS before_value, lag(version) OVER w AS before_version
    FROM golden_version WHERE golden_id = :g WINDOW w AS (ORDER BY version)),
starts AS (
    SELECT *, lead(version) OVER (ORDER BY version) AS next_start,
           lead(valid_from) OVER (ORDER BY version) AS next_from
    FROM v WHERE before_version IS NULL OR before_value IS DISTINCT FROM value
                 OR before_version <> version - 1)
SELECT *, coalesce(next_start - 1, (SELECT max(version) FROM v)) AS until_version,
       CASE WHEN next_start IS NULL THEN (SELECT valid_to FROM v ORDER BY version DESC LIMIT 1)
            ELSE next_from END AS until
FROM starts WHERE CAST(:b AS int) IS NULL OR version < :b
ORDER BY version DESC LIMIT :l
"""
FIRST_ACKS_SQL = """
SELECT DISTINCT ON (s.low, d.target) s.low, d.target, d.id, d.version, d.acked_at,
       d.idempotency_key, d.response_status, d.target_id
FROM unnest(CAST(:lows AS int[]), CAST(:highs AS int[])) AS s(low, high)
JOIN delivery d ON d.golden_id = :g AND d.target = ANY(:t) AND d.status = 'acked'
               AND d.version BETWEEN s.low AND s.high
ORDER BY s.low, d.target, d.acked_at
"""
UNACKED_SQL = """
SELECT s.low, d.target, d.id, d.version, d.status
FROM unnest(CAST(:lows AS int[]), CAST(:highs AS int[])) AS s(low, high)
JOIN delivery d ON d.golden_id = :g AND d.target = ANY(:t) AND d.version BETWEEN s.low AND s.high
ORDER BY s.low, d.version, d.id
"""


def field_lineage(conn: Connection, spec: EntitySpec, golden_id: int, attribute: str,
                  limit: int = 100, before_version: int | None = None) -> list[dict[str, Any]]:
    """Each value `attribute` took (the newest `limit` values, oldest first; page back with
    `before_version`): the version that set it, what set it, until when it held, and when each
    target mapping it first received it. The segmenting runs in the database."""
    rows = [dict(r._mapping) for r in conn.execute(text(FIELD_SEGMENTS_SQL), {
        "g": golden_id, "a": attribute, "b": before_version, "l": limit})]
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
    rows = conn.execute(text(
        "SELECT id, task_id, actor, action, reason, version, decided_at FROM decision "
        "WHERE golden_id = :g AND version = ANY(:v)"),
        {"g": golden_id, "v": [s["set_in_version"] for s in decided]})
    by_version = {r.version: dict(r._mapping) for r in rows}
    for s in decided:
        s["set_by"]["decision"] = by_version.get(s["set_in_version"])


def _add_receipts(conn: Connection, spec: EntitySpec, golden_id: int, attribute: str,
                  segments: list[dict[str, Any]]) -> None:
    """Per segment and target mapping the attribute: the first acknowledged delivery of a
    version in the segment, or, if none was acknowledged, what became of its deliveries."""
    fields = {target: field for target, mapping in spec.targets.items()
              for field, attr in mapping.fields.items() if attr == attribute}
    if not fields or not segments:
        return
    params = {"g": golden_id, "t": list(fields), "lows": [s["set_in_version"] for s in segments],
              "highs": [s["until_version"] for s in segments]}
    first = {(r.low, r.target): r for r in conn.execute(text(FIRST_ACKS_SQL), params)}
    missing = [s for s in segments if any((s["set_in_version"], t) not in first for t in fields)]
    others: dict[tuple[int, str], list[dict[str, Any]]] = {}
    if missing:
        for d in conn.execute(text(UNACKED_SQL), {**params, "lows": [s["set_in_version"] for s in missing],
                                                  "highs": [s["until_version"] for s in missing]}):
            others.setdefault((d.low, d.target), []).append(
                {"delivery_id": d.id, "version": d.version, "status": d.status})
    for segment in segments:
        for target, field in fields.items():
            r = first.get((segment["set_in_version"], target))
            if r:
                segment["received"][target] = {
                    "field": field, "at": r.acked_at, "version": r.version, "delivery_id": r.id,
                    "idempotency_key": r.idempotency_key, "response_status": r.response_status,
                    "target_id": r.target_id}
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
    sent = conn.execute(text(
        "SELECT id, version, payload -> :f AS value, acked_at, idempotency_key, response_status, "
        "target_id FROM delivery WHERE golden_id = :g AND target = :t AND status = 'acked' "
        "ORDER BY version DESC, acked_at DESC LIMIT 1"), {"g": golden_id, "t": target, "f": field}).first()
    answer: dict[str, Any] = {"target": target, "field": field, "attribute": attribute}
    if sent is None:
        return {**answer, "delivered": None, "set_by": None,
                "explanation": f"{target} has acknowledged no delivery of this record"}
    answer["delivered"] = dict(sent._mapping)
    origin = _origin(conn, golden_id, attribute, sent.version)
    answer["set_in_version"], answer["set_by"] = origin
    diverged = conn.execute(text(
        "SELECT id, summary, detail, created_at FROM task WHERE type = 'divergence' AND "
        "status = 'open' AND golden_id = :g AND system = :t"), {"g": golden_id, "t": target}).first()
    answer["divergence"] = None if diverged is None else dict(diverged._mapping)
    answer["explanation"] = _explain(answer, sent.value)
    return answer


def _origin(conn: Connection, golden_id: int, attribute: str,
            version: int) -> tuple[int, dict[str, Any]]:
    """The version at or before `version` where the attribute took the value it had there."""
    rows = conn.execute(text(
        f"SELECT version, attributes -> :a AS value, {CAUSE_COLUMNS} FROM golden_version "
        "WHERE golden_id = :g AND version <= :v ORDER BY version DESC"),
        {"g": golden_id, "a": attribute, "v": version})
    first = None
    origin: dict[str, Any] | None = None
    for row in rows:
        mapped = dict(row._mapping)
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
    rows = conn.execute(text(
        "SELECT v.golden_id, v.entity, v.business_key, v.version, v.status, v.attributes, "
        "v.cause_table, v.cause_row_key, v.cause_op, v.cause_lsn, v.cause_commit_ts, "
        "p.attributes AS previous FROM golden_version v LEFT JOIN golden_version p "
        "ON p.golden_id = v.golden_id AND p.version = v.version - 1 "
        "WHERE v.cause_source = :s AND v.cause_tx_id = :t ORDER BY v.entity, v.business_key"),
        {"s": source, "t": tx_id}).all()
    deliveries: dict[tuple[int, int], list[dict[str, Any]]] = {}
    if rows:
        for d in conn.execute(text(
                "SELECT golden_id, version, target, status, acked_at FROM delivery "
                "WHERE (golden_id, version) IN (SELECT * FROM unnest(CAST(:g AS bigint[]), CAST(:v AS int[])))"),
                {"g": [r.golden_id for r in rows], "v": [r.version for r in rows]}):
            deliveries.setdefault((d.golden_id, d.version), []).append(
                {"target": d.target, "status": d.status, "acked_at": d.acked_at})
    return [{"entity": r.entity, "business_key": r.business_key, "golden_id": r.golden_id,
             "version": r.version, "status": r.status, "table": r.cause_table,
             "row_key": r.cause_row_key, "op": r.cause_op, "lsn": r.cause_lsn,
             "commit_ts": r.cause_commit_ts, "changes": diff(r.previous, r.attributes),
             "deliveries": deliveries.get((r.golden_id, r.version), [])} for r in rows]


def decisions(conn: Connection, since: datetime, until: datetime,
              actor: str | None = None) -> list[dict[str, Any]]:
    """Every decision taken in [since, until), oldest first, with its task."""
    rows = conn.execute(text(
        "SELECT d.id, d.decided_at, d.actor, d.action, d.reason, d.before, d.after, d.version, "
        "t.id AS task_id, t.type AS task_type, t.entity, t.business_key, t.system, t.summary "
        "FROM decision d JOIN task t ON t.id = d.task_id WHERE d.decided_at >= :s AND "
        "d.decided_at < :u AND (CAST(:a AS text) IS NULL OR d.actor = :a) ORDER BY d.decided_at, d.id"),
        {"s": since, "u": until, "a": actor})
    return [dict(r._mapping) for r in rows]
