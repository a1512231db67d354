"""Read queries for lineage and audit (versions with their causes, deliveries, decisions, one
source transaction's versions), and the history retention that drops old versions. Reads take
SQLAlchemy connections and answer rows as dicts; retention runs on psycopg."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, text

CAUSE_COLUMNS = ("cause_kind, cause_source, cause_table, cause_row_key, cause_op, cause_lsn, "
                 "cause_tx_id, cause_commit_ts, cause_inbox_id, cause_task_id, cause_actor")
VERSION_COLUMNS = f"version, status, attributes, valid_from, valid_to, recorded_at, quality, {CAUSE_COLUMNS}"

Row = dict[str, Any]


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def _row(conn: Connection, sql: str, params: dict[str, Any]) -> Row | None:
    row = conn.execute(text(sql), params).first()
    return None if row is None else dict(row._mapping)


# -- versions -----------------------------------------------------------------------------------
def versions_page(conn: Connection, golden_id: int, limit: int,
                  before_version: int | None) -> list[Row]:
    """Up to `limit` versions (VERSION_COLUMNS) newest first, below `before_version` if set."""
    return _rows(conn,
                 f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g "
                 "AND (CAST(:b AS int) IS NULL OR version < :b) ORDER BY version DESC LIMIT :l",
                 {"g": golden_id, "b": before_version, "l": limit})


def version(conn: Connection, golden_id: int, number: int) -> Row | None:
    return _row(conn, f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g "
                      "AND version = :v", {"g": golden_id, "v": number})


def version_at(conn: Connection, golden_id: int, instant: datetime) -> Row | None:
    """The newest version whose validity starts at or before `instant`."""
    return _row(conn, f"SELECT {VERSION_COLUMNS} FROM golden_version WHERE golden_id = :g "
                      "AND valid_from <= :t ORDER BY valid_from DESC, version DESC LIMIT 1",
                {"g": golden_id, "t": instant})


def graph_versions(conn: Connection, golden_id: int, limit: int) -> list[Row]:
    """The newest `limit` versions: number, status, quality, validity start and cause."""
    return _rows(conn, f"SELECT version, status, quality, valid_from, {CAUSE_COLUMNS} "
                       "FROM golden_version WHERE golden_id = :g ORDER BY version DESC LIMIT :l",
                 {"g": golden_id, "l": limit})


def values_down_from(conn: Connection, golden_id: int, attribute: str,
                     version: int) -> list[Row]:
    """The attribute's value in each version at or below `version`, newest first, with causes."""
    return _rows(conn, f"SELECT version, attributes -> :a AS value, {CAUSE_COLUMNS} FROM golden_version "
                       "WHERE golden_id = :g AND version <= :v ORDER BY version DESC",
                 {"g": golden_id, "a": attribute, "v": version})


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


def field_segments(conn: Connection, golden_id: int, attribute: str, limit: int,
                   before_version: int | None) -> list[Row]:
    """Each run of versions in which `attribute` kept one value (newest `limit` first): its
    first version with cause, and until which version and instant it held."""
    return _rows(conn, FIELD_SEGMENTS_SQL,
                 {"g": golden_id, "a": attribute, "b": before_version, "l": limit})


def first_acks(conn: Connection, golden_id: int, targets: list[str], lows: list[int],
               highs: list[int]) -> list[Row]:
    """Per version range [low, high] and target: the first acknowledged delivery in it."""
    return _rows(conn, FIRST_ACKS_SQL,
                 {"g": golden_id, "t": targets, "lows": lows, "highs": highs})


def deliveries_in(conn: Connection, golden_id: int, targets: list[str], lows: list[int],
                  highs: list[int]) -> list[Row]:
    """Per version range [low, high]: every delivery of it to `targets` (low, target, id,
    version, status)."""
    return _rows(conn, UNACKED_SQL, {"g": golden_id, "t": targets, "lows": lows, "highs": highs})


# -- deliveries, decisions, tasks ---------------------------------------------------------------
def newest_ack(conn: Connection, golden_id: int, target: str, field: str) -> Row | None:
    """The newest delivery `target` acknowledged, with the value it carried in `field`."""
    return _row(conn,
                "SELECT id, version, payload -> :f AS value, acked_at, idempotency_key, response_status, "
                "target_id FROM delivery WHERE golden_id = :g AND target = :t AND status = 'acked' "
                "ORDER BY version DESC, acked_at DESC LIMIT 1", {"g": golden_id, "t": target, "f": field})


def graph_deliveries(conn: Connection, golden_id: int, low: int) -> list[Row]:
    return _rows(conn,
                 "SELECT id, version, target, status, attempts, response_status, target_id, acked_at, "
                 "last_error FROM delivery WHERE golden_id = :g AND version >= :v ORDER BY version, id",
                 {"g": golden_id, "v": low})


def open_divergence(conn: Connection, golden_id: int, target: str) -> Row | None:
    return _row(conn,
                "SELECT id, summary, detail, created_at FROM task WHERE type = 'divergence' AND "
                "status = 'open' AND golden_id = :g AND system = :t", {"g": golden_id, "t": target})


def decisions_on_versions(conn: Connection, golden_id: int, versions: list[int]) -> list[Row]:
    return _rows(conn,
                 "SELECT id, task_id, actor, action, reason, version, decided_at FROM decision "
                 "WHERE golden_id = :g AND version = ANY(:v)", {"g": golden_id, "v": versions})


def decisions_since_version(conn: Connection, golden_id: int, low: int) -> list[Row]:
    """Decisions about versions from `low` on that did not make a version themselves."""
    return _rows(conn,
                 "SELECT d.id, d.task_id, d.actor, d.action, d.reason, d.version, d.decided_at "
                 "FROM decision d WHERE d.golden_id = :g AND d.version >= :v "
                 "AND d.action <> 'approve_edited' ORDER BY d.id", {"g": golden_id, "v": low})


def decisions(conn: Connection, since: datetime, until: datetime,
              actor: str | None = None) -> list[Row]:
    """Every decision taken in [since, until), oldest first, with its task and record (its
    golden id too: a draft's task has no business key)."""
    return _rows(conn,
                 "SELECT d.id, d.decided_at, d.actor, d.action, d.reason, d.before, d.after, d.version, "
                 "COALESCE(d.golden_id, t.golden_id) AS golden_id, t.id AS task_id, t.type AS task_type, t.entity, t.business_key, t.system, t.summary "
                 "FROM decision d JOIN task t ON t.id = d.task_id WHERE d.decided_at >= :s AND "
                 "d.decided_at < :u AND (CAST(:a AS text) IS NULL OR d.actor = :a) ORDER BY d.decided_at, d.id",
                 {"s": since, "u": until, "a": actor})


# -- one source transaction ---------------------------------------------------------------------
def transaction_versions(conn: Connection, source: str, tx_id: int) -> list[Row]:
    """Every version one source transaction made, with the attributes of the version before."""
    return _rows(conn,
                 "SELECT v.golden_id, v.entity, v.business_key, v.version, v.status, v.attributes, "
                 "v.cause_table, v.cause_row_key, v.cause_op, v.cause_lsn, v.cause_commit_ts, "
                 "p.attributes AS previous FROM golden_version v LEFT JOIN golden_version p "
                 "ON p.golden_id = v.golden_id AND p.version = v.version - 1 "
                 "WHERE v.cause_source = :s AND v.cause_tx_id = :t ORDER BY v.entity, v.business_key",
                 {"s": source, "t": tx_id})


def deliveries_of_versions(conn: Connection, golden_ids: list[int],
                           versions: list[int]) -> list[Row]:
    return _rows(conn,
                 "SELECT golden_id, version, target, status, acked_at FROM delivery "
                 "WHERE (golden_id, version) IN (SELECT * FROM unnest(CAST(:g AS bigint[]), CAST(:v AS int[])))",
                 {"g": golden_ids, "v": versions})


# -- retention ----------------------------------------------------------------------------------
DOOMED = """
doomed AS (
    SELECT v.golden_id, v.version FROM golden_version v
    JOIN golden_record g ON g.id = v.golden_id
    WHERE v.entity = %(entity)s AND v.version < g.version
      AND (%(days)s::int IS NULL OR v.valid_to < clock_timestamp() - make_interval(days => %(days)s::int))
      AND (%(keep)s::int IS NULL OR v.version < g.version - %(keep)s::int)
      AND NOT EXISTS (SELECT 1 FROM task t WHERE t.golden_id = v.golden_id
                      AND t.version = v.version AND t.status = 'open')
      AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.golden_id = v.golden_id
                      AND d.version = v.version AND d.status IN ('pending', 'failed'))
    LIMIT %(batch)s)"""
PRUNE_SQL = f"""
WITH {DOOMED},
gone_deliveries AS (
    DELETE FROM delivery d USING doomed x WHERE d.golden_id = x.golden_id AND d.version = x.version),
gone_results AS (
    DELETE FROM rule_result r USING doomed x WHERE r.golden_id = x.golden_id AND r.version = x.version)
DELETE FROM golden_version v USING doomed x WHERE v.golden_id = x.golden_id AND v.version = x.version
"""
COUNT_SQL = f"WITH {DOOMED} SELECT count(*) FROM doomed"


def count_doomed(conn: psycopg.Connection, params: dict[str, Any]) -> int:
    """How many versions the policy (entity, days, keep, batch) would drop."""
    row = conn.execute(COUNT_SQL, params).fetchone()
    return int(row[0]) if row else 0


def drop_doomed(conn: psycopg.Connection, params: dict[str, Any]) -> int:
    """Drop up to `batch` versions the policy lets go, with their finished deliveries and rule
    results; how many."""
    return conn.execute(PRUNE_SQL, params).rowcount
