"""The demo OA's finance documents (issue 13, flows 5 and 6), approved in its workflow like
purchase requests (one UPDATE per step, so capture sees every state; any other move is a 409):

- Expense claims (费用报销, BX-YYYYMMDD-NNNN): `POST /api/expense-claims` `{"title",
  "claimant", "dept_code", "lines": [{"expense_type", "amount", "invoice_no",
  "description"}]}` makes a draft (total = Σ lines, exact); `…/{claim_no}/submit`,
  `…/approve` `{"approver", "comment"}` (erp_status 已审批), `…/reject` (comment required).
  `PATCH …/{claim_no}` is the hub's write-back: voucher_no, erp_status, paid_amount, paid_at,
  bank_ref only.
- Payment requests (付款申请, PAY-YYYYMMDD-NNNN): `POST /api/payment-requests` with an
  Idempotency-Key (the hub pushing an ERP payable; kept as mdm_key, the same key again
  answers 200 with the same request) `{"payable_no", "po_no", "stock_in_no", "supplier_code",
  "amount", "due_date"}` arrives submitted (armed /_faults hit it, keyed by payable_no);
  approve / reject as above; `PATCH` takes payment_no, pay_status, paid_at, bank_ref.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import date_value, decimal_value, only_fields, text_value
from mdm.demo.oa_requests import ACTION_NAMES, TRANSITIONS, Injected
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import IDEMPOTENCY_HEADER, REPLAY_HEADER, VERSION_HEADER, jsonable
from mdm.demo.target_values import ApiError, parse_body

AMOUNT = (16, 2)


@dataclass(frozen=True)
class Kind:
    """One kind of OA finance document."""

    path: str
    collection: str
    table: str
    key: str
    noun: str
    write_back: tuple[str, ...]  # the fields the hub may set
    line_table: str | None = None
    approved_sets: str = ""      # set besides on approval


CLAIMS = Kind("/api/expense-claims", "expense-claims", "oa_expense_claim", "claim_no", "报销单",
              ("voucher_no", "erp_status", "paid_amount", "paid_at", "bank_ref"),
              "oa_expense_claim_line", ", erp_status = '已审批'")
PAYMENT_REQUESTS = Kind("/api/payment-requests", "payment-requests", "oa_payment_request",
                        "request_no", "付款申请", ("payment_no", "pay_status", "paid_at",
                                                  "bank_ref"))
CLAIM_FIELDS = ("title", "claimant", "dept_code", "lines")
LINE_FIELDS = ("expense_type", "amount", "invoice_no", "description")
PUSH_FIELDS = ("payable_no", "po_no", "stock_in_no", "supplier_code", "amount", "due_date")


class Documents:
    """One kind's documents in OA's database (blocking; run in a worker thread)."""

    def __init__(self, pool: ConnectionPool, kind: Kind) -> None:
        self.pool, self.kind = pool, kind

    def get(self, number: str) -> dict[str, Any]:
        k = self.kind
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(f"SELECT * FROM {k.table} WHERE {k.key} = %s",  # noqa: S608
                                 (number,)).fetchone()
            if header is None:
                raise ApiError(404, f"{k.noun} {number} 不存在")
            found = {f: jsonable(v) for f, v in header.items()}
            if k.line_table:
                query = ("SELECT line_no, expense_type, amount, invoice_no, description FROM "
                         f"{k.line_table} WHERE claim_id = %s ORDER BY line_no")  # noqa: S608
                found["lines"] = [{f: jsonable(v) for f, v in ln.items()}
                                  for ln in cur.execute(query, (header["id"],)).fetchall()]
        return found

    def transition(self, number: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        k = self.kind
        source, target, sets = TRANSITIONS[action]
        if action == "approve":
            sets += k.approved_sets
        params: dict[str, Any] = {"no": number, "source": source, "target": target}
        if action != "submit":
            only_fields(body, ("approver", "comment"), f"{ACTION_NAMES[action]}操作")
            params["approver"] = text_value(body, "approver", 60, required=True)
            params["comment"] = text_value(body, "comment", None, required=action == "reject")
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute(f"UPDATE {k.table} SET status = %(target)s, {sets}, "  # noqa: S608
                            f"updated_at = now() WHERE {k.key} = %(no)s AND status = %(source)s "
                            "RETURNING id", params).fetchone() is None:
                now = conn.execute(f"SELECT status FROM {k.table} WHERE {k.key} = %s",  # noqa: S608
                                   (number,)).fetchone()
                if now is None:
                    raise ApiError(404, f"{k.noun} {number} 不存在")
                raise ApiError(409, f"{k.noun} {number} 当前状态为 {now[0]}，不能"
                                    f"{ACTION_NAMES[action]}（只有 {source} 状态的可以）")
        return self.get(number)

    def write_back(self, number: str, body: dict[str, Any], idempotency_key: str | None,
                   version: int | None) -> dict[str, Any]:
        k = self.kind
        only_fields(body, k.write_back, f"{k.noun}的回写")
        if not body:
            raise ApiError(422, f"请求体至少包含 {' 或 '.join(k.write_back)} 之一")
        values = {f: None if body[f] in (None, "") else str(getattr(body[f], "text", body[f]))
                  for f in body}
        sets = ", ".join(f"{f} = %({f})s" for f in values)
        with self.pool.connection() as conn, conn.transaction():
            try:
                row = conn.execute(f"UPDATE {k.table} SET {sets}, updated_at = now() "  # noqa: S608
                                   f"WHERE {k.key} = %(no)s RETURNING id",
                                   {**values, "no": number}).fetchone()
            except (psycopg.errors.DataError, psycopg.errors.DatatypeMismatch) as exc:
                raise ApiError(422, f"回写的值无效：{exc.diag.message_primary}") from exc
            if row is None:
                raise ApiError(404, f"{k.noun} {number} 不存在")
            conn.execute("INSERT INTO api_receipt (collection, record_key, version, "
                         "idempotency_key, replay) VALUES (%s, %s, %s, %s, false)",
                         (k.collection, number, version, idempotency_key))
        return self.get(number)


def create_claim(pool: ConnectionPool, body: dict[str, Any]) -> dict[str, str]:
    """A draft expense claim with its lines: {"claim_no", "status": "draft"}."""
    only_fields(body, CLAIM_FIELDS, "报销单")
    raw = body.get("lines")
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "报销单至少需要一行费用明细")
    lines = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ApiError(422, f"第 {n} 行应为对象")
        only_fields(item, LINE_FIELDS, f"第 {n} 行")
        amount = decimal_value(item.get("amount"), f"第 {n} 行 amount", AMOUNT)
        if amount <= 0:
            raise ApiError(422, f"第 {n} 行金额必须大于 0，收到 {amount}")
        lines.append((n, text_value(item, "expense_type", 20, required=True), amount,
                      text_value(item, "invoice_no", 40), text_value(item, "description", 200)))
    header = (text_value(body, "title", 200, required=True),
              text_value(body, "claimant", 20, required=True), text_value(body, "dept_code", 20),
              sum((ln[2] for ln in lines), Decimal(0)))
    with pool.connection() as conn, conn.transaction():
        row = conn.execute("INSERT INTO oa_expense_claim (title, claimant, dept_code, "
                           "total_amount) VALUES (%s, %s, %s, %s) RETURNING id, claim_no",
                           header).fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO oa_expense_claim_line (claim_id, line_no, expense_type, "
                            "amount, invoice_no, description) VALUES (%s, %s, %s, %s, %s, %s)",
                            [(row[0], *ln) for ln in lines])
    return {"claim_no": row[1], "status": "draft"}


def push_payment_request(pool: ConnectionPool, key: str,
                         body: dict[str, Any]) -> tuple[bool, dict[str, str]]:
    """(created, {"id", "request_no", "status"}): a payment request submitted for approval."""
    only_fields(body, PUSH_FIELDS, "付款申请")
    payable_no = text_value(body, "payable_no", 20, required=True)
    supplier = text_value(body, "supplier_code", 20, required=True)
    values = (f"支付供应商 {supplier} 货款（应付单 {payable_no}）", payable_no,
              text_value(body, "po_no", 20), text_value(body, "stock_in_no", 20), supplier,
              decimal_value(body.get("amount"), "amount", AMOUNT),
              date_value(body.get("due_date"), "due_date"), key)
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        made = conn.execute("SELECT request_no, status FROM oa_payment_request WHERE mdm_key = %s",
                            (key,)).fetchone()
        if made is None:
            row = conn.execute(
                "INSERT INTO oa_payment_request (title, payable_no, po_no, stock_in_no, "
                "supplier_code, amount, due_date, mdm_key) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                "%s) RETURNING request_no, status", values).fetchone()
            assert row is not None
            return True, {"id": row[0], "request_no": row[0], "status": row[1]}
    return False, {"id": made[0], "request_no": made[0], "status": made[1]}


def add_finance_routes(app: FastAPI, pool: ConnectionPool, injected: Injected) -> None:
    """The claims' and payment requests' routes (added by oa_requests.add_request_routes)."""
    for kind in (CLAIMS, PAYMENT_REQUESTS):
        _add_workflow(app, Documents(pool, kind), injected)

    @app.post(CLAIMS.path, status_code=201)
    async def create(request: Request) -> dict[str, str]:
        return await run_in_threadpool(create_claim, pool, parse_body(await request.body()))

    @app.post(PAYMENT_REQUESTS.path)
    async def push(request: Request) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not key or len(key) > 200:
            raise ApiError(400, f"缺少请求头 {IDEMPOTENCY_HEADER}（最多 200 个字符）")
        body = parse_body(await request.body())
        if (fault := await injected(str(body.get("payable_no") or key))) is not None:
            return fault  # the hub's push takes armed faults, keyed by the payable
        created, reply = await run_in_threadpool(push_payment_request, pool, key, body)
        if created:
            return JSONResponse(reply, status_code=201)
        return JSONResponse(reply, headers={REPLAY_HEADER: "true"})


def _add_workflow(app: FastAPI, docs: Documents, injected: Injected) -> None:
    path = docs.kind.path

    @app.get(path + "/{number}", name=f"get_{docs.kind.table}")
    async def get(number: str) -> dict[str, Any]:
        return await run_in_threadpool(docs.get, number)

    @app.post(path + "/{number}/{action}", name=f"act_{docs.kind.table}")
    async def act(number: str, action: str, request: Request) -> dict[str, Any]:
        if action not in TRANSITIONS:
            raise ApiError(404, f"未知操作 {action!r}；可用：{', '.join(TRANSITIONS)}")
        body = parse_body(await request.body()) if await request.body() else {}
        return await run_in_threadpool(docs.transition, number, action, body)

    @app.patch(path + "/{number}", name=f"write_back_{docs.kind.table}")
    async def write_back(number: str, request: Request) -> Response:
        if (fault := await injected(number)) is not None:
            return fault
        version = request.headers.get(VERSION_HEADER, "")
        row = await run_in_threadpool(docs.write_back, number, parse_body(await request.body()),
                                      request.headers.get(IDEMPOTENCY_HEADER),
                                      int(version) if version.isdigit() else None)
        return JSONResponse(row)
