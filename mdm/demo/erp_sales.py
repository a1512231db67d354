"""The demo ERP's sales (issue 13, flow 4): sales orders (销售订单, SO…: customer, priority 1–5,
ship-to address; created → released → shipped, 已发货), entered by the ERP's sales staff
(POST /api/sales-orders) and released to the warehouse; the hub's sales shipments (销售出库单,
FH…) of what the WMS shipped, which in one transaction, the order's row locked, add to the
lines' shipped_qty, set the order shipped (or partial) with its tracking number, and post the
receivable (应收账款, ar_entry AR…: Σ shipped × price, due after the customer's terms, 30 days
without a row in customer_payment_terms). Idempotency-Key kept as mdm_key; refusals are 422 in
Chinese storing nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import document_lines, line_amount, only_fields, text_value, \
    total_amount
from mdm.demo.erp_api import Erp, answer_create, check_period, idempotency_key
from mdm.demo.outbound_values import Shipment, order_status, parse_shipment, required_text
from mdm.demo.receipt_values import qty_text
from mdm.demo.target_store import jsonable
from mdm.demo.target_values import ApiError, parse_body

ORDERS = "/api/sales-orders"
SHIPMENTS = "/api/sales-shipments"
DEFAULT_TERMS_DAYS = 30
STATUS_TEXT = {"created": "已创建", "released": "已下达仓库", "partial": "部分发货",
               "shipped": "已发货"}
ORDER_FIELDS = ("customer_code", "priority", "ship_to_address", "contact", "phone", "warehouse",
                "sales_rep", "lines")


class Sales:
    """Sales orders, shipments and receivables in the ERP's database (blocking)."""

    def __init__(self, erp: Erp) -> None:
        self.erp = erp

    def create_order(self, body: dict[str, Any]) -> str:
        only_fields(body, ORDER_FIELDS, "销售订单")
        lines = document_lines(body.get("lines"))
        priority = body.get("priority", 3)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
            raise ApiError(422, f"priority 应为 1–5 的整数（1 最急），收到 {priority!r}")
        customer = required_text(body, "customer_code", 20)
        with self.erp.pool.connection() as conn, conn.transaction():
            found = conn.execute("SELECT id FROM customer WHERE code = %s AND active",
                                 (customer,)).fetchone()
            if found is None:
                raise ApiError(422, f"客户 {customer} 不存在或已停用")
            materials = dict(conn.execute(
                "SELECT code, id FROM material WHERE code = ANY(%s) AND active",
                (sorted({ln.material_code for ln in lines}),)).fetchall())
            for ln in lines:
                if ln.material_code not in materials:
                    raise ApiError(422, f"物料 {ln.material_code} 不存在或已停用")
            row = conn.execute(
                "INSERT INTO sales_order (customer_id, priority, ship_to_address, contact, phone, "
                "warehouse, sales_rep, total_amount) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id, so_no",
                (found[0], priority, required_text(body, "ship_to_address", 300),
                 text_value(body, "contact", 60), text_value(body, "phone", 30),
                 text_value(body, "warehouse", 20) or "WH02", text_value(body, "sales_rep", 60),
                 total_amount(lines))).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO sales_order_line (so_id, line_no, material_id, "
                                "quantity, unit_price, amount) VALUES (%s, %s, %s, %s, %s, %s)",
                                [(row[0], ln.line_no, materials[ln.material_code], ln.quantity,
                                  ln.unit_price, ln.amount) for ln in lines])
        return str(row[1])

    def release(self, so_no: str) -> None:
        with self.erp.pool.connection() as conn, conn.transaction():
            if conn.execute("UPDATE sales_order SET status = 'released', updated_at = "
                            "localtimestamp WHERE so_no = %s AND status = 'created' RETURNING id",
                            (so_no,)).fetchone() is not None:
                return
            now = conn.execute("SELECT status FROM sales_order WHERE so_no = %s",
                               (so_no,)).fetchone()
        if now is None:
            raise ApiError(404, f"销售订单 {so_no} 不存在")
        raise ApiError(409, f"销售订单 {so_no} 状态为 {now[0]}，不能下达（只有 created 状态的"
                            "订单可以）")

    def ship(self, key: str, shipment: Shipment) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "doc_no", "ar_no", "so_status", "amount", "due_date"})."""
        with self.erp.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _shipment_made_by(conn, key)) is not None:
                return False, made
            check_period(conn, "销售出库")
            order = conn.execute("SELECT id, status, customer_id, currency FROM sales_order "
                                 "WHERE so_no = %s FOR UPDATE", (shipment.so_no,)).fetchone()
            if order is None:
                raise ApiError(422, f"销售订单 {shipment.so_no} 不存在")
            if order[1] not in ("released", "partial"):
                raise ApiError(422, f"销售订单 {shipment.so_no} 状态为 {order[1]}，不能发货")
            lines = _order_lines(conn, order[0], shipment)
            status = order_status([(ln["quantity"], ln["shipped_qty"]) for ln in lines.values()])
            shipped_at = shipment.shipped_at or datetime.now(timezone.utc)
            amount = sum((line_amount(ln.quantity, lines[ln.line_no]["unit_price"])
                          for ln in shipment.lines), Decimal("0.00"))
            doc_id, doc_no = _insert_shipment(conn, order[0], shipment, lines, key, shipped_at,
                                              amount, status)
            due = shipped_at.date() + timedelta(days=_terms(conn, order[2]))
            ar = conn.execute("INSERT INTO ar_entry (customer_id, so_id, shipment_id, amount, "
                              "currency, due_date) VALUES (%s, %s, %s, %s, %s, %s) RETURNING ar_no",
                              (order[2], order[0], doc_id, amount, order[3], due)).fetchone()
            assert ar is not None
            conn.execute("UPDATE sales_order SET status = %s, tracking_no = coalesce(%s, "
                         "tracking_no), shipped_at = %s, updated_at = localtimestamp WHERE id = %s",
                         (status, shipment.tracking_no, shipped_at, order[0]))
        return True, {"id": doc_no, "doc_no": doc_no, "ar_no": ar[0], "so_status": status,
                      "amount": str(amount), "due_date": due.isoformat()}

    def get_order(self, so_no: str) -> dict[str, Any] | None:
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(
                "SELECT o.id, o.so_no, o.status, c.code AS customer_code, c.name AS "
                "customer_name, o.priority, o.ship_to_address, o.contact, o.phone, o.warehouse, "
                "o.currency, o.total_amount, o.order_date, o.tracking_no, o.shipped_at, "
                "o.sales_rep FROM sales_order o JOIN customer c ON c.id = o.customer_id "
                "WHERE o.so_no = %s", (so_no,)).fetchone()
            if header is None:
                return None
            so_id = header.pop("id")
            lines = cur.execute(
                "SELECT l.line_no, m.code AS material_code, m.name AS material_name, m.uom, "
                "l.quantity, l.unit_price, l.amount, l.shipped_qty FROM sales_order_line l "
                "JOIN material m ON m.id = l.material_id WHERE l.so_id = %s ORDER BY l.line_no",
                (so_id,)).fetchall()
            shipments = cur.execute(
                "SELECT s.doc_no, s.outbound_no, s.tracking_no, s.carrier, s.shipped_at, "
                "s.amount, a.ar_no, a.due_date FROM sales_shipment s JOIN ar_entry a ON "
                "a.shipment_id = s.id WHERE s.so_id = %s ORDER BY s.id", (so_id,)).fetchall()
        return {**_json(header), "status_text": STATUS_TEXT.get(header["status"]),
                "lines": [_json(ln) for ln in lines],
                "shipments": [_json(s) for s in shipments]}


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def _shipment_made_by(conn: psycopg.Connection[Any], key: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT s.doc_no, a.ar_no, s.so_status, s.amount, a.due_date FROM "
                       "sales_shipment s JOIN ar_entry a ON a.shipment_id = s.id WHERE "
                       "s.mdm_key = %s", (key,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "doc_no": row[0], "ar_no": row[1], "so_status": row[2],
            "amount": str(row[3]), "due_date": row[4].isoformat()}


def _order_lines(conn: psycopg.Connection[Any], so_id: int, shipment: Shipment
                 ) -> dict[int, dict[str, Any]]:
    """The order's lines by number, shipped_qty already raised by this shipment; a line the
    order lacks, of another material or shipped beyond its quantity refuses it."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = {ln["line_no"]: ln for ln in cur.execute(
            "SELECT l.line_no, l.id, l.material_id, m.code, l.quantity, l.unit_price, "
            "l.shipped_qty FROM sales_order_line l JOIN material m ON m.id = l.material_id "
            "WHERE l.so_id = %s", (so_id,)).fetchall()}
    for ln in shipment.lines:
        line = found.get(ln.line_no)
        if line is None:
            raise ApiError(422, f"销售订单 {shipment.so_no} 没有订单行 {ln.line_no}")
        if line["code"] != ln.material_code:
            raise ApiError(422, f"订单行 {ln.line_no} 的物料为 {line['code']}，不是 "
                                f"{ln.material_code}")
        if line["shipped_qty"] + ln.quantity > line["quantity"]:
            raise ApiError(422, f"超发：订单行 {ln.line_no} 订购 {qty_text(line['quantity'])}，已发 "
                                f"{qty_text(line['shipped_qty'])}，本次 {qty_text(ln.quantity)}")
        line["shipped_qty"] += ln.quantity
    return found


def _terms(conn: psycopg.Connection[Any], customer_id: int) -> int:
    row = conn.execute("SELECT days FROM customer_payment_terms WHERE customer_id = %s",
                       (customer_id,)).fetchone()
    return DEFAULT_TERMS_DAYS if row is None else int(row[0])


def _insert_shipment(conn: psycopg.Connection[Any], so_id: int, shipment: Shipment,
                     lines: dict[int, dict[str, Any]], key: str, shipped_at: datetime,
                     amount: Decimal, status: str) -> tuple[int, str]:
    row = conn.execute(
        "INSERT INTO sales_shipment (so_id, outbound_no, tracking_no, carrier, shipped_at, "
        "amount, so_status, mdm_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, doc_no",
        (so_id, shipment.outbound_no, shipment.tracking_no, shipment.carrier, shipped_at, amount,
         status, key)).fetchone()
    assert row is not None
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sales_shipment_line (shipment_id, line_no, so_line_id, material_id, "
            "quantity, unit_price, amount) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(row[0], number, lines[ln.line_no]["id"], lines[ln.line_no]["material_id"],
              ln.quantity, lines[ln.line_no]["unit_price"],
              line_amount(ln.quantity, lines[ln.line_no]["unit_price"]))
             for number, ln in enumerate(shipment.lines, start=1)])
        cur.executemany("UPDATE sales_order_line SET shipped_qty = %s WHERE id = %s",
                        [(ln["shipped_qty"], ln["id"]) for ln in lines.values()])
    return int(row[0]), str(row[1])


def add_sales_routes(app: FastAPI, erp: Erp) -> None:
    sales = Sales(erp)

    @app.post(ORDERS, status_code=201)
    async def create_order(request: Request) -> dict[str, Any]:
        """The sales staff's order: {customer_code, priority, ship_to_address, contact, phone,
        warehouse, sales_rep, lines: [{material_code, quantity, unit_price}]} → the order."""
        body = parse_body(await request.body())
        return await get_order(await run_in_threadpool(sales.create_order, body))

    @app.post(ORDERS + "/{so_no}/release")
    async def release(so_no: str) -> dict[str, Any]:
        """created → released: the hub sends it to the WMS as an outbound order."""
        await run_in_threadpool(sales.release, so_no)
        return await get_order(so_no)

    @app.get(ORDERS + "/{so_no}")
    async def get_order(so_no: str) -> dict[str, Any]:
        """The order (status and status_text, e.g. 已发货), its lines, shipments and AR."""
        found = await run_in_threadpool(sales.get_order, so_no)
        if found is None:
            raise ApiError(404, f"销售订单 {so_no} 不存在")
        return found

    @app.post(SHIPMENTS)
    async def create_shipment(request: Request) -> Response:
        """The shipment of a WMS outbound order: 201 {"id", "doc_no", "ar_no", "so_status",
        "amount", "due_date"}; the same Idempotency-Key again: 200 with the one it made."""
        key = idempotency_key(request)
        shipment = parse_shipment(parse_body(await request.body()))
        return await answer_create(erp, shipment.outbound_no or key,
                                   lambda: sales.ship(key, shipment))
