"""`mdm bench --flows` under load: the whole purchase → payment chain, the bench playing its
humans, pipelined. One driver thread per human step picks up whatever document has appeared
for it (polling every POLL_S) and acts at once, so documents flow through every step together,
with no barrier between stages:

- approver — approves the M purchase requests in a burst or paced (OA);
- buyer — releases each ERP PO once its number is on the OA request (ERP);
- warehouse — receives each open WMS pre-receipt in full and completes the receipt (WMS);
- finance — approves each OA payment request the hub pushed (OA).

Every human action is written straight in its system's database, with the statements that
system's API runs for it, one transaction each (a receipt: the draft with its lines, then its
completion, as POST /api/receipts and …/complete do): OA, the WMS and the ERP's API are one
demo targets process, and the bench's own calls there would queue in front of the calls the
hub makes to the same process (the hub's ERP PO, WMS pre-receipt, ERP stock-in, OA payment
request, ERP payment, OA write-backs), which is what is measured. The capture of each
system sees the same row changes as through its API.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mdm.demo.oa_requests import TRANSITIONS
from mdm.demo.wms_receipts import PRE_STATUS_SQL

POLL_S = 0.05
STALL_S = 180.0  # no step of any document moved for this long: the run stops, incomplete
APPROVER, FINANCE = "王经理", "财务总监 陈静"
RECEIVED_BY = "仓管员 bench"

RELEASE_SQL = ("UPDATE purchase_order SET status = 'released', updated_at = localtimestamp "
               "WHERE po_no = %s AND status = 'created' RETURNING extract(epoch FROM now())")
RECEIPT_SQL = ("INSERT INTO wms_receipt (po_no, pre_no, warehouse, received_by) "
               "VALUES (%s, %s, 'WH01', %s) RETURNING id, receipt_no")
RECEIPT_LINES_SQL = """
INSERT INTO wms_receipt_line (receipt_id, line_no, po_line_no, item_code, received_qty,
                              accepted_qty, rejected_qty, batch_no)
SELECT %s, line_no, line_no, item_code, quantity, quantity, 0, 'B-bench'
FROM wms_pre_receipt_line WHERE pre_receipt_id = %s ORDER BY line_no
"""
COMPLETE_SQL = ("UPDATE wms_receipt SET status = 'completed', received_at = now(), "
                "updated_at = now() WHERE receipt_no = %s AND status = 'draft'")
OPEN_PRE_SQL = """
SELECT p.id, p.pre_no, p.po_no FROM wms_pre_receipt p
WHERE p.po_no = ANY(%s) AND p.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM wms_receipt r WHERE r.pre_no = p.pre_no)
"""


def approve_sql(table: str) -> str:
    """The one UPDATE OA's API runs to approve a submitted document of `table`."""
    source, target, sets = TRANSITIONS["approve"]
    return (f"UPDATE {table} SET status = '{target}', {sets}, updated_at = now() "  # noqa: S608
            f"WHERE request_no = %(no)s AND status = '{source}'")


def approve_all(oa_db: str, numbers: list[str], rate: float) -> float:
    """Approve every purchase request straight in OA's database, each in a transaction of its
    own, at `rate` per second (0: one after the other, at once); the seconds it took."""
    query = approve_sql("oa_purchase_request")
    started = time.monotonic()
    with psycopg.connect(oa_db, autocommit=True) as conn:
        for i, number in enumerate(numbers):
            if rate and (ahead := started + i / rate - time.monotonic()) > 0:
                time.sleep(ahead)
            done = conn.execute(query, {"no": number, "approver": APPROVER, "comment": "bench"})
            if done.rowcount != 1:
                raise RuntimeError(f"request {number} was not submitted: not approved")
    return time.monotonic() - started


@dataclass
class Pipeline:
    """What the humans have done so far (shared between the driver threads)."""

    numbers: list[str]
    released: dict[str, float] = field(default_factory=dict)  # po_no → server clock (epoch s)
    po_of: dict[str, str] = field(default_factory=dict)  # request_no → po_no
    received: set[str] = field(default_factory=set)  # pre_no
    paid_approved: set[str] = field(default_factory=set)  # payment request_no
    paid: int = 0
    moved: float = field(default_factory=time.monotonic)  # last progress of any step
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pos(self) -> list[str]:
        with self.lock:
            return sorted(self.released)

    def progressed(self) -> None:
        self.moved = time.monotonic()


def _loop(pipe: Pipeline, step: Callable[[], bool]) -> None:
    """Run `step` every POLL_S until it says its role is done or the run stops."""
    while not pipe.stop.is_set():
        if step():
            return
        time.sleep(POLL_S)


def buyer(pipe: Pipeline, oa_db: str, erp_db: str) -> None:
    with psycopg.connect(oa_db, autocommit=True) as oa, \
            psycopg.connect(erp_db, autocommit=True) as erp:
        def step() -> bool:
            for request_no, po_no in oa.execute(
                    "SELECT request_no, po_no FROM oa_purchase_request WHERE request_no = ANY(%s) "
                    "AND po_no IS NOT NULL", (pipe.numbers,)).fetchall():
                if request_no in pipe.po_of:
                    continue
                row = erp.execute(RELEASE_SQL, (po_no,)).fetchone()
                if row is None:
                    raise RuntimeError(f"ERP PO {po_no} was not in status created: not released")
                with pipe.lock:
                    pipe.po_of[request_no], pipe.released[po_no] = po_no, float(row[0])
                pipe.progressed()
            return len(pipe.po_of) == len(pipe.numbers)
        _loop(pipe, step)


def warehouse(pipe: Pipeline, wms_db: str) -> None:
    with psycopg.connect(wms_db, autocommit=True) as wms:
        def step() -> bool:
            for pre_id, pre_no, po_no in wms.execute(OPEN_PRE_SQL, (pipe.pos(),)).fetchall():
                if pre_no in pipe.received:
                    continue
                with wms.transaction():
                    made = wms.execute(RECEIPT_SQL, (po_no, pre_no, RECEIVED_BY)).fetchone()
                    assert made is not None
                    wms.execute(RECEIPT_LINES_SQL, (made[0], pre_id))
                with wms.transaction():
                    wms.execute(COMPLETE_SQL, (made[1],))
                    wms.execute(PRE_STATUS_SQL, {"pre_no": pre_no})
                pipe.received.add(pre_no)
                pipe.progressed()
            return len(pipe.received) == len(pipe.numbers)
        _loop(pipe, step)


def finance(pipe: Pipeline, oa_db: str) -> None:
    query = approve_sql("oa_payment_request")
    with psycopg.connect(oa_db, autocommit=True) as oa:
        def step() -> bool:
            for (number,) in oa.execute("SELECT request_no FROM oa_payment_request WHERE po_no = "
                                        "ANY(%s) AND status = 'submitted'",
                                        (pipe.pos(),)).fetchall():
                if oa.execute(query, {"no": number, "approver": FINANCE,
                                      "comment": "按合同付款"}).rowcount == 1:
                    pipe.paid_approved.add(number)
                    pipe.progressed()
            return len(pipe.paid_approved) == len(pipe.numbers)
        _loop(pipe, step)


def _wait_paid(pipe: Pipeline, oa_db: str, progress: Callable[[str], None]) -> None:
    """Until every chain shows 已付款 on its OA payment request, or no step moved for STALL_S."""
    with psycopg.connect(oa_db, autocommit=True) as oa:
        while time.monotonic() - pipe.moved < STALL_S:
            row = oa.execute("SELECT count(*) FROM oa_payment_request WHERE po_no = ANY(%s) AND "
                             "pay_status = '已付款'", (pipe.pos(),)).fetchone()
            paid = int(row[0]) if row else 0
            if paid != pipe.paid:
                if paid // 50 != pipe.paid // 50:
                    progress(f"under load: {paid} of {len(pipe.numbers)} chains paid")
                pipe.paid = paid
                pipe.progressed()
            if paid == len(pipe.numbers):
                return
            time.sleep(POLL_S * 4)


def drive(numbers: list[str], rate: float, dbs: dict[str, str],
          progress: Callable[[str], None]) -> dict[str, Any]:
    """Approve `numbers` and play every human of their chains until each is paid (or the run
    stalls): {"approvals_took_s", "released": {po_no: epoch}, "stalled"}."""
    pipe = Pipeline(numbers)
    with ThreadPoolExecutor(4) as pool:
        approving = pool.submit(approve_all, dbs["oa"], numbers, rate)
        roles = [pool.submit(buyer, pipe, dbs["oa"], dbs["erp"]),
                 pool.submit(warehouse, pipe, dbs["wms"]),
                 pool.submit(finance, pipe, dbs["oa"])]
        try:
            _wait_paid(pipe, dbs["oa"], progress)
        finally:
            pipe.stop.set()
        took = approving.result()
        for role in roles:
            role.result()  # a human's failure is the run's
    return {"approvals_took_s": round(took, 2), "released": dict(pipe.released),
            "stalled": pipe.paid < len(numbers)}
