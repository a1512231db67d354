"""The business flows, run once by `mdm demo` through the demo systems' own APIs as their users
would (an OA requester and approver, an ERP buyer, a warehouse worker), each step timed from
the user's action to the moment the next system shows its effect."""
from __future__ import annotations

import time
from datetime import date, timedelta
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

STEP_TIMEOUT_S = 60.0


@dataclass
class Step:
    what: str  # what the next system shows, e.g. "ERP PO 4500000001"
    ms: float | None  # since the user's action; None: not within the timeout


@dataclass
class Chain:
    title: str
    origin: str  # the first document, e.g. "OA 采购申请 PR-20261202-0001 approved by 王经理"
    steps: list[Step] = field(default_factory=list)
    numbers: dict[str, str] = field(default_factory=dict)  # document kind → its number

    @property
    def complete(self) -> bool:
        return all(s.ms is not None for s in self.steps)


def until(probe: Callable[[], Any], started: float) -> tuple[Any, float | None]:
    """Poll `probe` until it answers something truthy: (answer, ms since `started`)."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found, (time.monotonic() - started) * 1000
        time.sleep(0.02)
    return None, None


def one(url: str, sql: str, params: tuple[Any, ...]) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    answer.raise_for_status()
    return dict(answer.json())


def purchase_approval(oa_url: str, erp_url: str, erp_api_url: str, oa_db_url: str) -> Chain:
    """Flow 1: a request filled in OA and approved there → the ERP's PO → its number and its
    states on the OA request."""
    needed_by = (date.today() + timedelta(days=14)).isoformat()
    with httpx.Client(base_url=oa_url, timeout=30) as oa, \
            httpx.Client(base_url=erp_api_url, timeout=30) as erp:
        number = post(oa, "/api/purchase-requests", {
            "title": "装配线季度备料", "requester": "E0003", "dept_code": "D01",
            "vendor_code": "S0001", "lines": [
                {"material_code": "M-1002", "quantity": "120", "unit_price": "3.2000",
                 "needed_by": needed_by},
                {"material_code": "M-1003", "quantity": "35.5", "unit_price": "18.7500",
                 "needed_by": needed_by}]})["request_no"]
        post(oa, f"/api/purchase-requests/{number}/submit", {})
        chain = Chain("采购审批 purchase approval (OA → ERP → OA)",
                      f"OA 采购申请 {number} approved by 王经理")
        started = time.monotonic()
        post(oa, f"/api/purchase-requests/{number}/approve", {"approver": "王经理",
                                                                 "comment": "同意采购"})
        po_no, ms = until(lambda: one(erp_url, "SELECT po_no FROM purchase_order WHERE "
                                        "request_no = %s", (number,)), started)
        chain.steps.append(Step(f"ERP PO {po_no or '?'}", ms))
        chain.numbers.update(request=number, po=po_no or "")
        _, ms = until(lambda: one(oa_db_url, "SELECT po_no FROM oa_purchase_request WHERE "
                                    "request_no = %s", (number,)), started)
        chain.steps.append(Step("OA shows the PO number", ms))
        if po_no is None:
            return chain
        released = time.monotonic()
        post(erp, f"/api/purchase-orders/{po_no}/release", {})
        _, ms = until(lambda: one(oa_db_url, "SELECT 1 FROM oa_purchase_request WHERE "
                                    "request_no = %s AND po_status = '已下达供应商'", (number,)),
                       released)
        chain.steps.append(Step("ERP released → OA shows 已下达供应商", ms))
    return chain


def purchase_receipt(chain: Chain, wms_url: str, erp_url: str, wms_db_url: str,
                     oa_db_url: str) -> Chain:
    """Flow 2, continuing flow 1's chain: the released order's WMS pre-receipt; the warehouse
    receives everything, rejecting part of one line → ERP stock-in and purchase return → OA
    shows the order's state."""
    po_no, number = chain.numbers.get("po"), chain.numbers.get("request")
    if not po_no:
        return chain
    started = time.monotonic()
    pre_no, ms = until(lambda: one(wms_db_url, "SELECT pre_no FROM wms_pre_receipt WHERE "
                                     "po_no = %s", (po_no,)), started)
    chain.steps.append(Step(f"WMS pre-receipt {pre_no or '?'}", ms))
    with httpx.Client(base_url=wms_url, timeout=30) as wms:
        receipt = post(wms, "/api/receipts", {
            "po_no": po_no, "warehouse": "WH01", "received_by": "仓管员 刘强", "lines": [
                {"po_line_no": 1, "received_qty": "120", "accepted_qty": "120",
                 "rejected_qty": "0", "batch_no": "B2612-01"},
                {"po_line_no": 2, "received_qty": "35.5", "accepted_qty": "33.5",
                 "rejected_qty": "2", "batch_no": "B2612-02", "reject_reason": "包装破损"}]})
        received = time.monotonic()
        post(wms, f"/api/receipts/{receipt['receipt_no']}/complete", {})
    doc_no, ms = until(lambda: one(erp_url, "SELECT doc_no FROM stock_in WHERE receipt_no = "
                                     "%s", (receipt["receipt_no"],)), received)
    chain.steps.append(Step(f"WMS receipt {receipt['receipt_no']} completed → ERP stock-in "
                            f"{doc_no or '?'}", ms))
    returned, ms = until(lambda: one(erp_url, "SELECT doc_no FROM purchase_return WHERE "
                                       "receipt_no = %s", (receipt["receipt_no"],)), received)
    chain.steps.append(Step(f"ERP purchase return {returned or '?'} (2 rejected)", ms))
    state, ms = until(lambda: one(oa_db_url, "SELECT po_status FROM oa_purchase_request "
                                    "WHERE request_no = %s AND po_status IN ('部分到货', '已完成')",
                                    (number,)), received)
    chain.steps.append(Step(f"OA shows {state or '?'}", ms))
    return chain


def chain_line(chain: Chain) -> str:
    """One chain as the demo prints it (rich markup)."""
    parts = [chain.origin]
    for step in chain.steps:
        parts.append(f"{step.what} +{step.ms:.0f} ms" if step.ms is not None
                     else f"{step.what} [red]not within {STEP_TIMEOUT_S:.0f} s[/red]")
    return f"  [bold]{chain.title}[/bold]\n    " + " → ".join(parts)
