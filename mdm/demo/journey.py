"""Scripted ERP edits and their journey: ERP commit → golden version → OA ack → WMS ack."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class Edit:
    title: str
    sql: str


SCRIPTED_EDITS = [
    Edit("rename supplier S0001", "UPDATE supplier SET name = name || '（更名）', updated_at = localtimestamp WHERE code = 'S0001'"),
    Edit("change the unit of measure of material M-1002", "UPDATE material SET uom = CASE WHEN uom = '箱' THEN '件' ELSE '箱' END, updated_at = localtimestamp WHERE code = 'M-1002'"),
    Edit("deactivate employee E0042", "UPDATE employee SET active = false, updated_at = localtimestamp WHERE code = 'E0042'"),
    Edit("add department 质量管理部", "INSERT INTO department (code, name, parent_id) SELECT 'D' || (100 + count(*)), '质量管理部' || count(*), (SELECT id FROM department WHERE code = 'D01') FROM department"),
    Edit("add a bank account to supplier S0002", "INSERT INTO supplier_bank_account (supplier_id, bank_name, account_name, account_no, is_default) SELECT id, '招商银行上海分行', name, '6214' || lpad((floor(random() * 1e12))::bigint::text, 12, '0'), false FROM supplier WHERE code = 'S0002'"),
]


@dataclass
class Journey:
    title: str
    tx_id: int
    golden_id: int | None = None
    commit_ts: datetime | None = None
    entity: str | None = None
    business_key: str | None = None
    version: int | None = None
    golden_ms: float | None = None
    acks_ms: dict[str, float] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.version is not None and set(self.acks_ms) >= set(self.targets)


def run_edit(erp_url: str, sql: str) -> int:
    """Run SQL in one ERP transaction; return its transaction id as Debezium reports it."""
    with psycopg.connect(erp_url) as conn:
        tx = conn.execute("SELECT txid_current() % 4294967296").fetchone()
        conn.execute(sql)
        conn.commit()
    assert tx is not None
    return int(tx[0])


def follow(hub_url: str, journey: Journey, targets_of: Callable[[str], list[str]],
           timeout: float = 30.0, on_update: Callable[[Journey], None] | None = None) -> Journey:
    """Poll the hub until the edit's version is acked by every target (or timeout)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(hub_url, autocommit=True) as conn:
        while time.monotonic() < deadline and not journey.complete:
            _refresh(conn, journey, targets_of, on_update)
            time.sleep(0.01)
    return journey


def _refresh(conn: psycopg.Connection, journey: Journey, targets_of: Callable[[str], list[str]],
             on_update: Callable[[Journey], None] | None) -> None:
    if journey.version is None:
        row = conn.execute(
            "SELECT v.golden_id, v.version, v.entity, v.business_key, v.cause_commit_ts, "
            "extract(epoch FROM v.recorded_at - v.cause_commit_ts) * 1000 FROM golden_version v "
            "WHERE v.cause_source = 'erp' AND v.cause_tx_id = %s ORDER BY v.version DESC LIMIT 1",
            (journey.tx_id,)).fetchone()
        if row is None:
            return
        journey.golden_id = row[0]
        journey.version, journey.entity, journey.business_key, journey.commit_ts = row[1], row[2], row[3], row[4]
        journey.golden_ms = float(row[5])
        journey.targets = targets_of(journey.entity)
        if on_update:
            on_update(journey)
    rows = conn.execute(
        "SELECT target, extract(epoch FROM acked_at - %s) * 1000 FROM delivery "
        "WHERE golden_id = %s AND version = %s AND status = 'acked'",
        (journey.commit_ts, journey.golden_id, journey.version)).fetchall()
    for target, ms in rows:
        if target not in journey.acks_ms:
            journey.acks_ms[target] = float(ms)
            if on_update:
                on_update(journey)
