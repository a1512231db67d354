"""The demo's two steward scenarios: a bad ERP edit that is quarantined, and a hand edit in
demo OA that the hub catches as a divergence. Each waits for the task it should open."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg

# A USCC whose check character is wrong: the customer's own code with its last character
# changed. Customer codes and OA vendor codes come from the demo seed.
BAD_TAX_ID_SQL = """
UPDATE customer SET tax_id = left(tax_id, 17) || CASE WHEN right(tax_id, 1) = '0' THEN '1' ELSE '0' END,
       updated_at = localtimestamp
WHERE code = (SELECT min(code) FROM customer WHERE tax_id IS NOT NULL AND active)
RETURNING code
"""
HAND_EDIT_SQL = """
UPDATE oa_vendor SET vendor_name = vendor_name || '（OA手工修改）', updated_at = now()
WHERE vendor_code = 'S0003' RETURNING vendor_code
"""


@dataclass(frozen=True)
class Scenario:
    title: str
    task: dict[str, Any] | None
    waited_ms: float


def _edit(url: str, sql: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        conn.commit()
    if row is None:
        raise RuntimeError(f"the scripted edit changed no row: {sql.strip().splitlines()[0]}")
    return str(row[0])


def _wait_task(hub_url: str, type_: str, entity: str, key: str, since_id: int,
               timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(hub_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT id, summary, system, version FROM task WHERE type = %s AND entity = %s "
                "AND business_key = %s AND id > %s AND status = 'open' ORDER BY id DESC LIMIT 1",
                (type_, entity, key, since_id)).fetchone()
            if row:
                return {"id": row[0], "summary": row[1], "system": row[2], "version": row[3]}
            time.sleep(0.05)
    return None


def last_task_id(hub_url: str) -> int:
    with psycopg.connect(hub_url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM task").fetchone()
    return int(row[0]) if row else 0


def _scenario(title: str, db_url: str, sql: str, hub_url: str, type_: str, entity: str,
              timeout: float) -> Scenario:
    """Make the edit, then wait for the task it should open; `title` may use {key}."""
    since, started = last_task_id(hub_url), time.monotonic()
    key = _edit(db_url, sql)
    task = _wait_task(hub_url, type_, entity, key, since, timeout)
    return Scenario(title.format(key=key), task, (time.monotonic() - started) * 1000)


def bad_erp_edit(erp_url: str, hub_url: str, timeout: float = 30.0) -> Scenario:
    return _scenario("ERP edit: an invalid tax id (统一社会信用代码) on customer {key}", erp_url,
                     BAD_TAX_ID_SQL, hub_url, "rule_violation", "customer", timeout)


def hand_edit_in_oa(oa_db_url: str, hub_url: str, timeout: float = 30.0) -> Scenario:
    return _scenario("hand edit in OA's own database: vendor {key} renamed", oa_db_url,
                     HAND_EDIT_SQL, hub_url, "divergence", "supplier", timeout)
