"""The demo ERP's finance (issue 13, flows 5 and 6): payables, payments, and vouchers posted
from its general ledger's interface tables.

- A payable (应付单, AP…) is made by the ERP itself in a stock-in's transaction
  (`make_payable`): Σ quantity × the PO line's price, the supplier's payment_terms_days from
  today as its due date; it names its stock-in and PO.
- POST /api/payments (Idempotency-Key required, kept as mdm_key; the same key again answers the
  payment it made, 200 Idempotent-Replay) `{"payable_no", "request_no", "amount",
  "approved_by"}` pays an open payable in full in one transaction: a payment (FK…) with the
  bank's reference, the payable paid. Refusals are 422 in Chinese storing nothing.
- POST /api/vouchers/post-interface is the ERP's posting job: each pending row of
  gl_voucher_interface becomes a posted gl_voucher (记-YYYY-MM-NNNN: 借 each line's account,
  贷 the header's credit account); a row whose account the chart lacks or whose lines do not
  add up is marked failed with the reason, and posts nothing.
- POST /api/vouchers/{voucher_no}/pay pays a posted voucher's amount to the claimant.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import decimal_value, only_fields, text_value
from mdm.demo.erp_api import Erp, answer_create, check_period, idempotency_key
from mdm.demo.target_store import jsonable
from mdm.demo.target_values import ApiError, parse_body

PAYMENTS = "/api/payments"
PAYMENT_FIELDS = ("payable_no", "request_no", "amount", "approved_by")
Conn = psycopg.Connection[Any]


def make_payable(conn: Conn, stock_in_id: int) -> str:
    """The payable of a stock-in just inserted (same transaction): its number."""
    row = conn.execute(
        "INSERT INTO payable (supplier_id, po_id, po_no, stock_in_id, stock_in_no, amount, "
        "due_date) SELECT p.supplier_id, p.id, p.po_no, s.id, s.doc_no, "
        "(SELECT round(sum(l.quantity * pl.unit_price), 2) FROM stock_in_line l "
        " JOIN purchase_order_line pl ON pl.id = l.po_line_id WHERE l.stock_in_id = s.id), "
        "current_date + coalesce(sp.payment_terms_days, 30) FROM stock_in s "
        "JOIN purchase_order p ON p.id = s.po_id JOIN supplier sp ON sp.id = p.supplier_id "
        "WHERE s.id = %s RETURNING payable_no", (stock_in_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _bank_ref(conn: Conn) -> str:
    """The bank's reference of a transfer (the demo's bank: 招商银行, CMB + date + serial)."""
    row = conn.execute("SELECT 'CMB' || to_char(now(), 'YYYYMMDD') || "
                       "lpad(nextval('erp_payment_no_seq')::text, 8, '0')").fetchone()
    assert row is not None
    return str(row[0])


class Finance:
    """Payments and vouchers in the ERP's database (blocking; worker threads)."""

    def __init__(self, erp: Erp) -> None:
        self.erp = erp

    def pay_payable(self, key: str, body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "payment_no", "status", "bank_ref"}) of the payment."""
        only_fields(body, PAYMENT_FIELDS, "付款单")
        payable_no = text_value(body, "payable_no", 20, required=True)
        amount = decimal_value(body.get("amount"), "amount", (16, 2))
        with self.erp.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _payment_by(conn, "mdm_key", key)) is not None:
                return False, made
            check_period(conn, "付款")
            payable = conn.execute(
                "SELECT p.id, p.amount, p.status, s.name FROM payable p JOIN supplier s ON "
                "s.id = p.supplier_id WHERE p.payable_no = %s FOR UPDATE",
                (payable_no,)).fetchone()
            if payable is None:
                raise ApiError(422, f"应付单 {payable_no} 不存在")
            if payable[2] != "open":
                raise ApiError(422, f"应付单 {payable_no} 状态为 {payable[2]}，不能再次付款")
            if amount != payable[1]:
                raise ApiError(422, f"付款金额 {amount} 与应付单 {payable_no} 的金额 "
                                    f"{payable[1]} 不符")
            conn.execute(
                "INSERT INTO erp_payment (payable_id, payable_no, request_no, payee, amount, "
                "bank_ref, approved_by, mdm_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (payable[0], payable_no, text_value(body, "request_no", 30), payable[3], amount,
                 _bank_ref(conn), text_value(body, "approved_by", 60), key))
            conn.execute("UPDATE payable SET status = 'paid', paid_amount = amount, paid_at = "
                         "localtimestamp WHERE id = %s", (payable[0],))
            made = _payment_by(conn, "mdm_key", key)
        assert made is not None
        return True, made

    def post_interface(self) -> dict[str, list[dict[str, str]]]:
        """The posting job: every pending interface row, posted or marked failed."""
        posted: list[dict[str, str]] = []
        errors: list[dict[str, str]] = []
        with self.erp.pool.connection() as conn:
            while True:
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id, claim_no, summary, credit_account, amount FROM "
                        "gl_voucher_interface WHERE status = 'pending' ORDER BY id LIMIT 1 "
                        "FOR UPDATE SKIP LOCKED").fetchone()
                    if row is None:
                        break
                    problem = _interface_problem(conn, row[0], row[3], row[4])
                    if problem is not None:
                        conn.execute("UPDATE gl_voucher_interface SET status = 'failed', "
                                     "error = %s WHERE id = %s", (problem, row[0]))
                        errors.append({"claim_no": row[1], "error": problem})
                        continue
                    posted.append({"claim_no": row[1], "voucher_no": _post(conn, row)})
        return {"posted": posted, "errors": errors}

    def pay_voucher(self, voucher_no: str, body: dict[str, Any]) -> dict[str, Any]:
        """Pay a posted voucher's amount to its claimant: the payment, the voucher paid."""
        only_fields(body, ("bank_ref", "payee"), "报销付款")
        with self.erp.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id, amount, status FROM gl_voucher WHERE voucher_no = %s "
                               "FOR UPDATE", (voucher_no,)).fetchone()
            if row is None:
                raise ApiError(404, f"凭证 {voucher_no} 不存在")
            if row[2] != "posted":
                raise ApiError(409, f"凭证 {voucher_no} 状态为 {row[2]}，不能付款")
            bank_ref = text_value(body, "bank_ref", 40) or _bank_ref(conn)
            payment = conn.execute(
                "INSERT INTO erp_payment (voucher_id, voucher_no, payee, amount, bank_ref) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING payment_no, paid_at",
                (row[0], voucher_no, text_value(body, "payee", 200), row[1], bank_ref)
            ).fetchone()
            assert payment is not None
            conn.execute("UPDATE gl_voucher SET status = 'paid', paid_amount = amount, "
                         "paid_at = %s, bank_ref = %s WHERE id = %s",
                         (payment[1], bank_ref, row[0]))
        return {"payment_no": payment[0], "voucher_no": voucher_no, "amount": str(row[1]),
                "paid_at": jsonable(payment[1]), "bank_ref": bank_ref}

    def get(self, table: str, column: str, number: str) -> dict[str, Any] | None:
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT * FROM {table} WHERE {column} = %s",  # noqa: S608
                              (number,)).fetchone()
            if row is None:
                return None
            found = {k: jsonable(v) for k, v in row.items()}
            if table == "gl_voucher":
                found["lines"] = [{k: jsonable(v) for k, v in line.items()} for line in cur.execute(
                    "SELECT line_no, account_code, a.name AS account_name, summary, debit, "
                    "credit FROM gl_voucher_line JOIN account a ON a.code = account_code "
                    "WHERE voucher_id = %s ORDER BY line_no", (row["id"],)).fetchall()]
        return found


def _payment_by(conn: Conn, column: str, value: str) -> dict[str, Any] | None:
    query = f"SELECT payment_no, status, bank_ref, paid_at FROM erp_payment WHERE {column} = %s"
    row = conn.execute(query, (value,)).fetchone()  # noqa: S608 (column: ours)
    return None if row is None else {"id": row[0], "payment_no": row[0], "status": row[1],
                                     "bank_ref": row[2], "paid_at": jsonable(row[3])}


def _interface_problem(conn: Conn, interface_id: int, credit: str,
                       amount: Decimal) -> str | None:
    """Why an interface row cannot post (an account not in the chart, lines that do not add
    up to the header's amount), or None."""
    lines = conn.execute("SELECT debit_account, amount FROM gl_voucher_interface_line WHERE "
                         "interface_id = %s", (interface_id,)).fetchall()
    if not lines:
        return "凭证接口没有明细行"
    accounts = {credit, *(a for a, _ in lines)}
    known = {r[0] for r in conn.execute("SELECT code FROM account WHERE code = ANY(%s)",
                                        (sorted(accounts),)).fetchall()}
    missing = sorted(accounts - known)
    if missing:
        return f"会计科目 {', '.join(missing)} 不存在"
    total = sum((a for _, a in lines), Decimal(0))
    if total != amount:
        return f"借方合计 {total} 与贷方金额 {amount} 不平"
    return None


def _post(conn: Conn, row: tuple[Any, ...]) -> str:
    """One interface row as a posted voucher (借 each line, 贷 the credit account): its number."""
    interface_id, claim_no, summary, credit, amount = row
    made = conn.execute("INSERT INTO gl_voucher (claim_no, interface_id, summary, amount) "
                        "VALUES (%s, %s, %s, %s) RETURNING id, voucher_no",
                        (claim_no, interface_id, summary, amount)).fetchone()
    assert made is not None
    conn.execute(
        "INSERT INTO gl_voucher_line (voucher_id, line_no, account_code, summary, debit) "
        "SELECT %s, row_number() OVER (ORDER BY line_no, id), debit_account, "
        "coalesce(summary, %s), amount FROM gl_voucher_interface_line WHERE interface_id = %s",
        (made[0], summary, interface_id))
    conn.execute(
        "INSERT INTO gl_voucher_line (voucher_id, line_no, account_code, summary, credit) "
        "SELECT %s, count(*) + 1, %s, %s, %s FROM gl_voucher_line WHERE voucher_id = %s",
        (made[0], credit, summary, amount, made[0]))
    conn.execute("UPDATE gl_voucher_interface SET status = 'posted', voucher_no = %s, "
                 "error = NULL WHERE id = %s", (made[1], interface_id))
    return str(made[1])


def add_finance_routes(app: FastAPI, erp: Erp) -> None:
    finance = Finance(erp)

    @app.post(PAYMENTS)
    async def create_payment(request: Request) -> Response:
        """Pay a payable: 201 {"id", "payment_no", "status", "bank_ref", "paid_at"}."""
        key = idempotency_key(request)
        body = parse_body(await request.body())
        fault_key = str(body.get("request_no") or body.get("payable_no") or key)
        return await answer_create(erp, fault_key, lambda: finance.pay_payable(key, body))

    @app.post("/api/vouchers/post-interface")
    async def post_interface() -> dict[str, Any]:
        """The ERP's posting job over gl_voucher_interface: {"posted", "errors"}."""
        return await run_in_threadpool(finance.post_interface)

    @app.post("/api/vouchers/{voucher_no}/pay")
    async def pay_voucher(voucher_no: str, request: Request) -> dict[str, Any]:
        body = parse_body(await request.body()) if await request.body() else {}
        return await run_in_threadpool(finance.pay_voucher, voucher_no, body)

    for path, table, column, noun in (
            ("/api/payables/{number}", "payable", "payable_no", "应付单"),
            ("/api/payments/{number}", "erp_payment", "payment_no", "付款单"),
            ("/api/vouchers/{number}", "gl_voucher", "voucher_no", "凭证")):
        _add_read(app, finance, path, table, column, noun)


def _add_read(app: FastAPI, finance: Finance, path: str, table: str, column: str,
              noun: str) -> None:
    @app.get(path)
    async def read(number: str) -> dict[str, Any]:
        found = await run_in_threadpool(finance.get, table, column, number)
        if found is None:
            raise ApiError(404, f"{noun} {number} 不存在")
        return found
