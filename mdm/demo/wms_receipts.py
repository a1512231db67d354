"""The demo WMS's inbound documents (issue 13, flow 2): pre-receipts (入库预约, ASN…) the hub
makes from released ERP purchase orders, and the dock's receipts (收货单, GR…).

POST /api/pre-receipts needs an Idempotency-Key (kept as mdm_key: the same key again answers
the pre-receipt it made, 200 with Idempotent-Replay: true) and refuses with 422 and a Chinese
message, storing nothing, an item not in the WMS's item master (wms_item, which the hub feeds)
or a supplier not in wms_supplier. A receipt is entered as a draft (POST /api/receipts) and
completed (POST /api/receipts/{no}/complete), each one transaction, so the hub capturing the
WMS's database sees both states; the hub writes the ERP stock-in's number back with
PATCH /api/receipts/{no} (erp_doc_no only). Routes are added to the WMS app by demo/targets.py,
ahead of its collections' routes.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import only_fields, text_value
from mdm.demo.erp_api import idempotency_key
from mdm.demo.receipt_values import PreReceipt, Receipt, parse_pre_receipt, parse_receipt
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import IDEMPOTENCY_HEADER, REPLAY_HEADER, VERSION_HEADER, jsonable
from mdm.demo.target_values import ApiError, parse_body

PRE_PATH = "/api/pre-receipts"
RECEIPT_PATH = "/api/receipts"
Injected = Callable[[str], Awaitable[Response | None]]


def add_receipt_routes(app: FastAPI, pool: ConnectionPool, injected: Injected) -> None:
    """Add the pre-receipt and receipt routes; `injected(key)` applies an armed fault to the
    hub's calls (the pre-receipt's creation, keyed by PO number; the write-back, by receipt
    number); the dock's own entries take none."""
    wms = Inbound(pool)

    @app.post(PRE_PATH)
    async def create_pre_receipt(request: Request) -> Response:
        """A pre-receipt with its lines: 201 {"id", "pre_no"}; the same Idempotency-Key again:
        200 with the one it made; a refusal: 422 {"detail"} and nothing stored."""
        key = idempotency_key(request)
        pre = parse_pre_receipt(parse_body(await request.body()))
        if (fault := await injected(pre.po_no)) is not None:
            return fault
        created, reply = await run_in_threadpool(wms.create_pre_receipt, key, pre)
        if created:
            return JSONResponse(reply, status_code=201)
        return JSONResponse(reply, status_code=200, headers={REPLAY_HEADER: "true"})

    @app.get(PRE_PATH + "/{pre_no}")
    async def get_pre_receipt(pre_no: str) -> dict[str, Any]:
        return await run_in_threadpool(wms.get_or_404, "pre", pre_no)

    @app.post(RECEIPT_PATH, status_code=201)
    async def create_receipt(request: Request) -> dict[str, str]:
        """The dock worker's draft receipt: {"receipt_no", "status": "draft"}."""
        receipt = parse_receipt(parse_body(await request.body()))
        return await run_in_threadpool(wms.create_receipt, receipt)

    @app.post(RECEIPT_PATH + "/{receipt_no}/complete")
    async def complete_receipt(receipt_no: str) -> dict[str, Any]:
        """draft → completed, received now (409 when it is completed already)."""
        return await run_in_threadpool(wms.complete, receipt_no)

    @app.get(RECEIPT_PATH + "/{receipt_no}")
    async def get_receipt(receipt_no: str) -> dict[str, Any]:
        return await run_in_threadpool(wms.get_or_404, "receipt", receipt_no)

    @app.patch(RECEIPT_PATH + "/{receipt_no}")
    async def write_back(receipt_no: str, request: Request) -> Response:
        """The hub's update by link: erp_doc_no, nothing else."""
        if (fault := await injected(receipt_no)) is not None:
            return fault
        body = parse_body(await request.body())
        version = request.headers.get(VERSION_HEADER, "")
        return JSONResponse(await run_in_threadpool(
            wms.write_back, receipt_no, body, request.headers.get(IDEMPOTENCY_HEADER),
            int(version) if version.isdigit() else None))


class Inbound:
    """The WMS's inbound documents in its database (blocking; run in a worker thread)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create_pre_receipt(self, key: str, pre: PreReceipt) -> tuple[bool, dict[str, str]]:
        """(created, {"id", "pre_no"}): the new pre-receipt, or the one `key` made."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _pre_made_by(conn, key)) is not None:
                return False, made
            if pre.supplier_no is not None and conn.execute(
                    "SELECT 1 FROM wms_supplier WHERE supplier_no = %s",
                    (pre.supplier_no,)).fetchone() is None:
                raise ApiError(422, f"供应商 {pre.supplier_no} 在WMS中不存在")
            _check_items(conn, [ln.item_code for ln in pre.lines])
            row = conn.execute(
                "INSERT INTO wms_pre_receipt (po_no, supplier_no, expected_date, mdm_key) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (mdm_key) DO NOTHING RETURNING id, pre_no",
                (pre.po_no, pre.supplier_no, pre.expected_date, key)).fetchone()
            if row is None:  # made meanwhile without the lock (not by this app)
                made = _pre_made_by(conn, key)
                assert made is not None
                return False, made
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO wms_pre_receipt_line (pre_receipt_id, line_no, item_code, "
                    "quantity) VALUES (%s, %s, %s, %s)",
                    [(row[0], ln.line_no, ln.item_code, ln.quantity) for ln in pre.lines])
        return True, {"id": row[1], "pre_no": row[1]}

    def create_receipt(self, receipt: Receipt) -> dict[str, str]:
        """A draft receipt. Without pre_no it is the PO's newest open pre-receipt, if any; a
        line without item_code takes its PO line's item from that pre-receipt."""
        with self.pool.connection() as conn, conn.transaction():
            pre_id, pre_no = _pre_receipt_of(conn, receipt)
            items = dict(conn.execute(
                "SELECT line_no, item_code FROM wms_pre_receipt_line WHERE pre_receipt_id = %s",
                (pre_id,)).fetchall()) if pre_id is not None else {}
            lines = []
            for ln in receipt.lines:
                item = ln.item_code or items.get(ln.po_line_no)
                if item is None:
                    raise ApiError(422, f"第 {ln.line_no} 行缺少 item_code（入库预约中没有订单行 "
                                        f"{ln.po_line_no}）")
                lines.append((ln, item))
            _check_items(conn, [item for _, item in lines])
            row = conn.execute(
                "INSERT INTO wms_receipt (po_no, pre_no, warehouse, received_by) "
                "VALUES (%s, %s, %s, %s) RETURNING id, receipt_no",
                (receipt.po_no, pre_no, receipt.warehouse, receipt.received_by)).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO wms_receipt_line (receipt_id, line_no, po_line_no, item_code, "
                    "received_qty, accepted_qty, rejected_qty, batch_no, reject_reason) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(row[0], ln.line_no, ln.po_line_no, item, ln.received_qty, ln.accepted_qty,
                      ln.rejected_qty, ln.batch_no, ln.reject_reason) for ln, item in lines])
        return {"receipt_no": row[1], "status": "draft"}

    def complete(self, receipt_no: str) -> dict[str, Any]:
        """draft → completed in one transaction; its pre-receipt becomes `receiving`, or
        `closed` once its completed receipts have brought every line's quantity."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE wms_receipt SET status = 'completed', received_at = now(), "
                "updated_at = now() WHERE receipt_no = %s AND status = 'draft' RETURNING pre_no",
                (receipt_no,)).fetchone()
            if row is None:
                now = conn.execute("SELECT status FROM wms_receipt WHERE receipt_no = %s",
                                   (receipt_no,)).fetchone()
                if now is None:
                    raise ApiError(404, f"收货单 {receipt_no} 不存在")
                raise ApiError(409, f"收货单 {receipt_no} 当前状态为 {now[0]}，不能完成收货"
                                    "（只有 draft 状态的收货单可以）")
            if row[0] is not None:
                conn.execute(PRE_STATUS_SQL, {"pre_no": row[0]})
        return self.get_or_404("receipt", receipt_no)

    def write_back(self, receipt_no: str, body: dict[str, Any], key: str | None,
                   version: int | None) -> dict[str, Any]:
        only_fields(body, ("erp_doc_no",), "收货单的回写")
        doc_no = text_value(body, "erp_doc_no", 20, required=True)
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute("UPDATE wms_receipt SET erp_doc_no = %s, updated_at = now() "
                            "WHERE receipt_no = %s RETURNING id",
                            (doc_no, receipt_no)).fetchone() is None:
                raise ApiError(404, f"收货单 {receipt_no} 不存在")
            conn.execute("INSERT INTO api_receipt (collection, record_key, version, "
                         "idempotency_key, replay) VALUES ('receipts', %s, %s, %s, false)",
                         (receipt_no, version, key))
        return self.get_or_404("receipt", receipt_no)

    def get(self, kind: str, number: str) -> dict[str, Any] | None:
        """A pre-receipt (kind "pre") or receipt ("receipt") with its lines."""
        table, key, line_sql = DOCUMENTS[kind]
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(f"SELECT * FROM {table} WHERE {key} = %s",  # noqa: S608
                                 (number,)).fetchone()
            if header is None:
                return None
            lines = cur.execute(line_sql, (header.pop("id"),)).fetchall()
        return {**_json(header), "lines": [_json(line) for line in lines]}

    def get_or_404(self, kind: str, number: str) -> dict[str, Any]:
        found = self.get(kind, number)
        if found is None:
            raise ApiError(404, f"{'入库预约' if kind == 'pre' else '收货单'} {number} 不存在")
        return found


DOCUMENTS = {
    "pre": ("wms_pre_receipt", "pre_no",
            "SELECT line_no, item_code, quantity FROM wms_pre_receipt_line "
            "WHERE pre_receipt_id = %s ORDER BY line_no"),
    "receipt": ("wms_receipt", "receipt_no",
                "SELECT line_no, po_line_no, item_code, received_qty, accepted_qty, "
                "rejected_qty, batch_no, reject_reason FROM wms_receipt_line "
                "WHERE receipt_id = %s ORDER BY line_no"),
}
# Every line of the pre-receipt accepted in full by its completed receipts: closed (rejected
# goods are to be delivered again).
PRE_STATUS_SQL = """
UPDATE wms_pre_receipt p SET updated_at = now(), status = CASE WHEN NOT EXISTS (
    SELECT 1 FROM wms_pre_receipt_line pl WHERE pl.pre_receipt_id = p.id AND pl.quantity > (
        SELECT coalesce(sum(rl.accepted_qty), 0) FROM wms_receipt r
        JOIN wms_receipt_line rl ON rl.receipt_id = r.id
        WHERE r.pre_no = p.pre_no AND r.status = 'completed' AND rl.po_line_no = pl.line_no))
    THEN 'closed' ELSE 'receiving' END
WHERE p.pre_no = %(pre_no)s AND p.status IN ('open', 'receiving')
"""


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def _pre_made_by(conn: psycopg.Connection[Any], key: str) -> dict[str, str] | None:
    row = conn.execute("SELECT pre_no FROM wms_pre_receipt WHERE mdm_key = %s", (key,)).fetchone()
    return None if row is None else {"id": row[0], "pre_no": row[0]}


def _check_items(conn: psycopg.Connection[Any], codes: list[str]) -> None:
    """Each item must be in the WMS's item master and active; the first that is not refuses."""
    found = dict(conn.execute("SELECT item_code, is_active FROM wms_item WHERE item_code = ANY(%s)",
                              (sorted(set(codes)),)).fetchall())
    for code in codes:
        if code not in found:
            raise ApiError(422, f"物料 {code} 在WMS中不存在")
        if not found[code]:
            raise ApiError(422, f"物料 {code} 在WMS中已停用")


def _pre_receipt_of(conn: psycopg.Connection[Any], receipt: Receipt
                    ) -> tuple[int | None, str | None]:
    """The receipt's pre-receipt (id, pre_no): the named one, which must be of the same PO, or
    the PO's newest open or receiving one, or none."""
    if receipt.pre_no is None:
        row = conn.execute("SELECT id, pre_no FROM wms_pre_receipt WHERE po_no = %s AND status "
                           "IN ('open', 'receiving') ORDER BY id DESC LIMIT 1",
                           (receipt.po_no,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])
    row = conn.execute("SELECT id, po_no FROM wms_pre_receipt WHERE pre_no = %s",
                       (receipt.pre_no,)).fetchone()
    if row is None:
        raise ApiError(422, f"入库预约 {receipt.pre_no} 在WMS中不存在")
    if row[1] != receipt.po_no:
        raise ApiError(422, f"入库预约 {receipt.pre_no} 属于采购订单 {row[1]}，不是 "
                            f"{receipt.po_no}")
    return row[0], receipt.pre_no
