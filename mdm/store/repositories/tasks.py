"""SQL on steward tasks and their decisions (`task`, `decision`): open (or refresh) tasks, close
them automatically, lock one for a decision and record it, list and show them.

At most one open task per (type, entity, key, system, hop) — per (type, entity, record, system,
hop) for a draft, whose key is NULL; the hop is a flow task's, '' for every other type (0017): a repeated finding refreshes the open task instead of piling up new
ones. Each function runs in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mdm.model.tasks import NewTask, TaskFilter

OPEN_TASK_SQL = """
INSERT INTO task (type, entity, business_key, golden_id, version, system, severity, summary,
                  detail, hop)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (type, entity, business_key, system, hop) WHERE status = 'open'
DO UPDATE SET golden_id = EXCLUDED.golden_id, version = EXCLUDED.version,
    severity = EXCLUDED.severity, summary = EXCLUDED.summary, detail = EXCLUDED.detail,
    updated_at = clock_timestamp()
RETURNING id
"""
# The same for a draft (business_key NULL): its open task is unique per record (0014).
OPEN_DRAFT_TASK_SQL = OPEN_TASK_SQL.replace(
    "ON CONFLICT (type, entity, business_key, system, hop) WHERE status = 'open'",
    "ON CONFLICT (type, entity, golden_id, system, hop) WHERE status = 'open' "
    "AND business_key IS NULL")
# A record that reached the target (a retry, a replay, a later version) closes its open
# dead-delivery task: there is nothing left to decide. Parameters: golden ids, targets, versions.
CLOSE_DEAD_SQL = """
WITH closed AS (
    UPDATE task t SET status = 'resolved', resolution = 'delivered', resolved_by = 'system',
        resolved_at = clock_timestamp(), updated_at = clock_timestamp()
    FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS a(golden_id, target, version)
    WHERE t.type = 'dead_delivery' AND t.status = 'open' AND t.golden_id = a.golden_id
      AND t.system = a.target AND t.version <= a.version
    RETURNING t.id, t.golden_id, a.version)
INSERT INTO decision (task_id, actor, action, reason, golden_id, version)
SELECT id, 'system', 'delivered', 'version ' || version || ' reached the target', golden_id,
       version FROM closed
"""


def task_params(t: NewTask) -> tuple[Any, ...]:
    """The parameters of OPEN_TASK_SQL for `t`."""
    return (t.type, t.entity, t.business_key, t.golden_id, t.version, t.system, t.severity,
            t.summary, Jsonb(t.detail), t.hop)


def open_task(conn: psycopg.Connection, task: NewTask) -> int:
    """Open the task, or refresh the open one of its (type, entity, key, system, hop); its id."""
    sql = OPEN_TASK_SQL if task.business_key is not None else OPEN_DRAFT_TASK_SQL
    row = conn.execute(sql, task_params(task)).fetchone()
    assert row is not None
    return int(row[0])


def open_tasks(conn: psycopg.Connection, tasks: Sequence[NewTask]) -> None:
    """`open_task` for many, in one round trip."""
    keyed = [task_params(t) for t in tasks if t.business_key is not None]
    drafts = [task_params(t) for t in tasks if t.business_key is None]
    with conn.cursor() as cur:
        for sql, params in ((OPEN_TASK_SQL, keyed), (OPEN_DRAFT_TASK_SQL, drafts)):
            if params:
                cur.executemany(sql, params)


# A keyed task is found through task_open_uq, a draft's (no key) through task_open_draft_uq:
# two lookups, since one OR of both would defeat either index.
CLOSE_RULE_TASKS_SQL = """
WITH p AS (SELECT * FROM unnest(%(entity)s::text[], %(key)s::text[], %(version)s::int[],
                                %(golden_id)s::bigint[]) AS p(entity, business_key, version, golden_id)),
found AS (
    SELECT t.id, p.version FROM p JOIN task t ON t.type = 'rule_violation' AND t.status = 'open'
        AND t.entity = p.entity AND t.business_key = p.business_key AND t.system = %(system)s
    WHERE t.version < p.version OR (%(same)s AND t.version = p.version)
    UNION ALL
    SELECT t.id, p.version FROM p JOIN task t ON t.type = 'rule_violation' AND t.status = 'open'
        AND t.entity = p.entity AND t.business_key IS NULL AND t.golden_id = p.golden_id
        AND t.system = %(system)s
    WHERE t.version < p.version OR (%(same)s AND t.version = p.version))
UPDATE task t SET status = 'resolved', resolution = 'superseded',
    resolved_by = 'system', resolved_at = clock_timestamp(), updated_at = clock_timestamp()
FROM found WHERE t.id = found.id
RETURNING t.id, found.version, t.golden_id
"""


def close_rule_tasks(conn: psycopg.Connection,
                     passed: Sequence[tuple[str, str | None, int, int]], system: str,
                     same_version: bool = False) -> int:
    """A later version that passes releases the record: its open rule task is closed (with
    `same_version`, also one about the very version that now passes changed rules). `passed`:
    (entity, business key, version, golden id); a draft's task (no key) is found by record."""
    if not passed:
        return 0
    rows = conn.execute(CLOSE_RULE_TASKS_SQL, {
        "entity": [p[0] for p in passed], "key": [p[1] for p in passed],
        "version": [p[2] for p in passed], "golden_id": [p[3] for p in passed],
        "system": system, "same": same_version}).fetchall()
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO decision (task_id, actor, action, reason, golden_id, version) "
                "VALUES (%s, 'system', 'superseded', %s, %s, %s)",
                [(task_id, f"version {version} supersedes it (it passes the error rules, or "
                           "retires the record)", golden_id, version)
                 for task_id, version, golden_id in rows])
    return len(rows)


def close_divergences(conn: psycopg.Connection, entity: str, system: str,
                      converged: Sequence[tuple[str, int]]) -> int:
    """These records' copies at `system` equal the newest version sent (key, version): their
    open divergence tasks are closed. One statement for a whole batch."""
    if not converged:
        return 0
    rows = conn.execute(
        """
        UPDATE task t SET status = 'resolved', resolution = 'converged', resolved_by = 'system',
            resolved_at = clock_timestamp(), updated_at = clock_timestamp()
        FROM unnest(%s::text[], %s::int[]) AS c(business_key, version)
        WHERE t.type = 'divergence' AND t.status = 'open' AND t.entity = %s AND t.system = %s
          AND t.business_key = c.business_key
        RETURNING t.id, c.version, t.golden_id
        """, ([k for k, _ in converged], [v for _, v in converged], entity, system)).fetchall()
    for task_id, version, golden_id in rows:
        conn.execute("INSERT INTO decision (task_id, actor, action, reason, golden_id, version) "
                     "VALUES (%s, 'system', 'converged', %s, %s, %s)",
                     (task_id, f"{system} again holds version {version}", golden_id, version))
    return len(rows)


# -- decisions ----------------------------------------------------------------------------------
def lock_task(conn: psycopg.Connection, task_id: int) -> dict[str, Any] | None:
    """The task, locked (FOR UPDATE) for a decision."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM task WHERE id = %s FOR UPDATE", (task_id,)).fetchone()


def record_decision(conn: psycopg.Connection, task: dict[str, Any], actor: str, action: str,
                    reason: str | None, before: Any, after: Any, version: int | None,
                    status: str) -> None:
    """Store a steward's decision and settle the task with it (status: resolved or waived)."""
    conn.execute(
        "INSERT INTO decision (task_id, actor, action, reason, before, after, golden_id, "
        "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (task["id"], actor, action, reason, Jsonb(before), Jsonb(after), task["golden_id"],
         version))
    conn.execute(
        "UPDATE task SET status = %s, resolution = %s, resolved_by = %s, "
        "resolved_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = %s",
        (status, action, actor, task["id"]))


# -- reads --------------------------------------------------------------------------------------
def list_tasks(conn: psycopg.Connection, f: TaskFilter) -> list[dict[str, Any]]:
    clauses, params = ["true"], []
    for column in ("status", "type", "entity", "system"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if f.since is not None:
        clauses.append("created_at >= %s")
        params.append(f.since)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM task WHERE {' AND '.join(clauses)} "
                    "ORDER BY id DESC LIMIT %s OFFSET %s", (*params, f.limit, f.offset))
        return cur.fetchall()


def count_open(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT type, count(*) FROM task WHERE status = 'open' GROUP BY type")
    return {t: int(n) for t, n in rows.fetchall()}


def get_task(conn: psycopg.Connection, task_id: int) -> dict[str, Any] | None:
    """A task with its decisions and, when it names a version, that version's rule results."""
    with conn.cursor(row_factory=dict_row) as cur:
        task = cur.execute("SELECT * FROM task WHERE id = %s", (task_id,)).fetchone()
        if task is None:
            return None
        task["decisions"] = cur.execute(
            "SELECT id, actor, action, reason, before, after, golden_id, version, decided_at "
            "FROM decision WHERE task_id = %s ORDER BY id", (task_id,)).fetchall()
        if task["golden_id"] is not None and task["version"] is not None:
            task["rule_results"] = cur.execute(
                "SELECT rule, kind, attribute, severity, outcome, observed, expectation, detail "
                "FROM rule_result WHERE golden_id = %s AND version = %s ORDER BY id",
                (task["golden_id"], task["version"])).fetchall()
        return task
