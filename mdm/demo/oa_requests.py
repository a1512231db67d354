"""The demo OA's purchase requests (采购申请): the UI-less API of its approval workflow.

A request is created as a draft with its lines, then submitted, then approved or rejected; each
step is one UPDATE in a transaction of its own, so the hub, capturing OA's database, sees every
state. The hub writes the ERP purchase order's number and status back with
PATCH /api/purchase-requests/{request_no} (po_no, po_status only). Expense claims and payment
requests (demo/oa_finance.py) are added with them. Routes are added to the OA
app by demo/targets.py, ahead of its collections' routes.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import document_lines, only_fields, text_value
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import IDEMPOTENCY_HEADER, VERSION_HEADER, jsonable
from mdm.demo.target_values import ApiError, parse_body

PATH = "/api/purchase-requests"
HEADER_FIELDS = ("title", "requester", "dept_code", "vendor_code", "lines")
WRITE_BACK_FIELDS = {"po_no": 20, "po_status": 40}  # what the hub may set, and their lengths
# action → (the state it leaves, the state it enters, what it sets besides)
TRANSITIONS: dict[str, tuple[str, str, str]] = {
    "submit": ("draft", "submitted", "submitted_at = now()"),
    "approve": ("submitted", "approved",
                "approver = %(approver)s, approved_at = now(), approval_comment = %(comment)s"),
    "reject": ("submitted", "rejected",
               "approver = %(approver)s, approval_comment = %(comment)s"),
}
ACTION_NAMES = {"submit": "提交", "approve": "审批通过", "reject": "驳回"}
Injected = Callable[[str], Awaitable[Response | None]]


def add_request_routes(app: FastAPI, pool: ConnectionPool, injected: Injected) -> None:
    """Add the purchase-request routes; `injected(key)` applies an armed fault to the hub's
    write-back (the other routes are people's actions, not the hub's calls)."""
    requests = PurchaseRequests(pool)

    @app.post(PATH, status_code=201)
    async def create_request(request: Request) -> dict[str, str]:
        """A new draft request with its lines: {"request_no", "status": "draft"}."""
        body = parse_body(await request.body())
        return await run_in_threadpool(requests.create, body)

    @app.get(PATH + "/{request_no}")
    async def get_request(request_no: str) -> dict[str, Any]:
        return await run_in_threadpool(requests.get_or_404, request_no)

    @app.post(PATH + "/{request_no}/{action}")
    async def transition(request_no: str, action: str, request: Request) -> dict[str, Any]:
        """submit (draft → submitted), approve {approver, comment} (submitted → approved),
        reject {approver, comment} (submitted → rejected); any other move is a 409."""
        if action not in TRANSITIONS:
            raise ApiError(404, f"未知操作 {action!r}；可用：{', '.join(TRANSITIONS)}")
        body = parse_body(await request.body()) if await request.body() else {}
        return await run_in_threadpool(requests.transition, request_no, action, body)

    @app.patch(PATH + "/{request_no}")
    async def write_back(request_no: str, request: Request) -> Response:
        """The hub's update by link: po_no and/or po_status, nothing else."""
        if (fault := await injected(request_no)) is not None:
            return fault
        body = parse_body(await request.body())
        version = request.headers.get(VERSION_HEADER, "")
        row = await run_in_threadpool(requests.write_back, request_no, body,
                                      request.headers.get(IDEMPOTENCY_HEADER),
                                      int(version) if version.isdigit() else None)
        return JSONResponse(row)

    from mdm.demo.oa_finance import add_finance_routes  # it builds on this module
    add_finance_routes(app, pool, injected)  # expense claims, payment requests (flows 5, 6)


class PurchaseRequests:
    """The requests in OA's database (blocking; run in a worker thread)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, body: dict[str, Any]) -> dict[str, str]:
        only_fields(body, HEADER_FIELDS, "采购申请")
        header = {"title": text_value(body, "title", 200, required=True),
                  "requester": text_value(body, "requester", 20),
                  "dept_code": text_value(body, "dept_code", 20),
                  "vendor_code": text_value(body, "vendor_code", 20)}
        lines = document_lines(body.get("lines"))
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO oa_purchase_request (title, requester, dept_code, vendor_code) "
                "VALUES (%(title)s, %(requester)s, %(dept_code)s, %(vendor_code)s) "
                "RETURNING id, request_no", header).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO oa_purchase_request_line (request_id, line_no, material_code, "
                    "quantity, unit_price, needed_by) VALUES (%s, %s, %s, %s, %s, %s)",
                    [(row[0], ln.line_no, ln.material_code, ln.quantity, ln.unit_price,
                      ln.needed_by) for ln in lines])
        return {"request_no": row[1], "status": "draft"}

    def get(self, request_no: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute("SELECT * FROM oa_purchase_request WHERE request_no = %s",
                                 (request_no,)).fetchone()
            if header is None:
                return None
            lines = cur.execute(
                "SELECT line_no, material_code, quantity, unit_price, needed_by "
                "FROM oa_purchase_request_line WHERE request_id = %s ORDER BY line_no",
                (header["id"],)).fetchall()
        return {**{k: jsonable(v) for k, v in header.items()},
                "lines": [{k: jsonable(v) for k, v in line.items()} for line in lines]}

    def get_or_404(self, request_no: str) -> dict[str, Any]:
        found = self.get(request_no)
        if found is None:
            raise ApiError(404, f"采购申请 {request_no} 不存在")
        return found

    def transition(self, request_no: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        source, target, sets = TRANSITIONS[action]
        params: dict[str, Any] = {"no": request_no, "source": source, "target": target}
        if action != "submit":
            only_fields(body, ("approver", "comment"), f"{ACTION_NAMES[action]}操作")
            params["approver"] = text_value(body, "approver", 60, required=True)
            params["comment"] = text_value(body, "comment", None, required=action == "reject")
        query = (f"UPDATE oa_purchase_request SET status = %(target)s, {sets}, updated_at = now() "
                 "WHERE request_no = %(no)s AND status = %(source)s RETURNING id")
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute(query, params).fetchone() is None:
                now = conn.execute("SELECT status FROM oa_purchase_request WHERE request_no = %s",
                                   (request_no,)).fetchone()
                if now is None:
                    raise ApiError(404, f"采购申请 {request_no} 不存在")
                raise ApiError(409, f"采购申请 {request_no} 当前状态为 {now[0]}，不能"
                                    f"{ACTION_NAMES[action]}（只有 {source} 状态的申请可以）")
        return self.get_or_404(request_no)

    def write_back(self, request_no: str, body: dict[str, Any], idempotency_key: str | None,
                   version: int | None) -> dict[str, Any]:
        only_fields(body, tuple(WRITE_BACK_FIELDS), "采购申请的回写")
        if not body:
            raise ApiError(422, f"请求体至少包含 {' 或 '.join(WRITE_BACK_FIELDS)} 之一")
        values = {f: text_value(body, f, n) for f, n in WRITE_BACK_FIELDS.items() if f in body}
        sets = ", ".join(f"{f} = %({f})s" for f in values)
        with self.pool.connection() as conn, conn.transaction():
            try:
                row = conn.execute(f"UPDATE oa_purchase_request SET {sets}, updated_at = now() "
                                   "WHERE request_no = %(no)s RETURNING id",
                                   {**values, "no": request_no}).fetchone()
            except psycopg.errors.DataError as exc:
                raise ApiError(422, f"回写的值无效：{exc.diag.message_primary}") from exc
            if row is None:
                raise ApiError(404, f"采购申请 {request_no} 不存在")
            conn.execute("INSERT INTO api_receipt (collection, record_key, version, "
                         "idempotency_key, replay) VALUES ('purchase-requests', %s, %s, %s, false)",
                         (request_no, version, idempotency_key))
        return self.get_or_404(request_no)
