"""The demo ERP's REST API: where the hub creates ERP documents (targets/erp.yaml); its
receiving (stock-ins, purchase returns, releasing an order) is demo/erp_receipts.py.

POST /api/purchase-orders creates a purchase order with its lines in one ERP transaction, or
refuses it (422, a Chinese message for the ERP's users) and stores nothing: an unknown or
inactive supplier or material, no lines, a quantity ≤ 0, a closed accounting period. The
Idempotency-Key header is required and kept as the order's mdm_key: the same key again answers
the order it made (200, Idempotent-Replay: true), also after a crash between the commit and
the answer. The master data stays in the ERP's tables (demo/seed.py); this app only reads it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.doc_values import Line, document_lines, only_fields, text_value, total_amount
from mdm.demo.target_control import add_control_routes, add_error_handlers, fault_answer
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import IDEMPOTENCY_HEADER, REPLAY_HEADER, Instrumented, jsonable
from mdm.demo.target_values import ApiError, parse_body

PATH = "/api/purchase-orders"
ORDER_FIELDS = ("request_no", "supplier_code", "buyer", "approved_by", "remark", "lines")
MAX_KEY_LENGTH = 200  # purchase_order.mdm_key


@dataclass(frozen=True)
class Order:
    """A purchase order as the create call asks for it."""

    supplier_code: str
    request_no: str | None
    buyer: str | None
    approved_by: str | None
    remark: str | None
    lines: list[Line]


def parse_order(body: dict[str, Any]) -> Order:
    """The create call's body, checked; decimals exact (demo/doc_values.py)."""
    only_fields(body, ORDER_FIELDS, "采购订单")
    supplier = text_value(body, "supplier_code", 20, required=True)
    assert supplier is not None
    return Order(supplier, text_value(body, "request_no", 30), text_value(body, "buyer", 60),
                 text_value(body, "approved_by", 60), text_value(body, "remark", None),
                 document_lines(body.get("lines")))


def idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ApiError(400, f"缺少请求头 {IDEMPOTENCY_HEADER}：创建单据必须带幂等键，"
                            "重试时使用同一个键")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, f"{IDEMPOTENCY_HEADER} 最多 {MAX_KEY_LENGTH} 个字符，收到 {len(key)} 个")
    return key


class Erp(Instrumented):
    """The ERP's documents in its database (blocking methods; run in a worker thread)."""

    def __init__(self, database_url: str) -> None:
        super().__init__("erp", ("creates", "replays", "refusals"))
        self.pool = ConnectionPool(database_url)

    def ping(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT 1")

    def create(self, key: str, order: Order) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "po_no", "status"}): the new order, or the one `key` made."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _made_by(conn, key)) is not None:
                return False, made
            check_period(conn)
            supplier_id = _active_id(conn, "supplier", order.supplier_code, "供应商")
            materials = _material_ids(conn, order.lines)
            row = conn.execute(
                "INSERT INTO purchase_order (supplier_id, request_no, total_amount, buyer, "
                "approved_by, remark, mdm_key, expected_date) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (mdm_key) DO NOTHING RETURNING id, po_no, status",
                (supplier_id, order.request_no, total_amount(order.lines), order.buyer,
                 order.approved_by, order.remark, key,
                 min((ln.needed_by for ln in order.lines if ln.needed_by), default=None))
            ).fetchone()
            if row is None:  # made meanwhile without the lock (not by this app)
                made = _made_by(conn, key)
                assert made is not None
                return False, made
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO purchase_order_line (po_id, line_no, material_id, quantity, "
                    "unit_price, amount, needed_by) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [(row[0], ln.line_no, materials[ln.material_code], ln.quantity,
                      ln.unit_price, ln.amount, ln.needed_by) for ln in order.lines])
        return True, {"id": row[1], "po_no": row[1], "status": row[2]}

    def get(self, po_no: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(HEADER_SQL + " WHERE o.po_no = %s", (po_no,)).fetchone()
            if header is None:
                return None
            lines = cur.execute(
                "SELECT l.line_no, m.code AS material_code, m.name AS material_name, m.uom, "
                "l.quantity, l.unit_price, l.amount, l.received_qty, l.returned_qty, l.needed_by "
                "FROM purchase_order_line l JOIN material m ON m.id = l.material_id "
                "WHERE l.po_id = %s ORDER BY l.line_no", (header.pop("id"),)).fetchall()
        return {**_json(header), "lines": [_json(line) for line in lines]}

    def find(self, request_no: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest orders' headers, of one purchase request if given."""
        where, params = ("WHERE o.request_no = %s", [request_no]) if request_no else ("", [])
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"{HEADER_SQL} {where} ORDER BY o.id DESC LIMIT %s",
                               [*params, limit]).fetchall()
        return [_json({k: v for k, v in row.items() if k != "id"}) for row in rows]


HEADER_SQL = ("SELECT o.id, o.po_no, o.status, o.request_no, s.code AS supplier_code, "
              "s.name AS supplier_name, o.order_date, o.currency, o.total_amount, o.buyer, "
              "o.approved_by, o.remark, o.mdm_key, o.created_at, o.updated_at "
              "FROM purchase_order o JOIN supplier s ON s.id = o.supplier_id")


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def _made_by(conn: psycopg.Connection[Any], key: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT po_no, status FROM purchase_order WHERE mdm_key = %s",
                       (key,)).fetchone()
    return None if row is None else {"id": row[0], "po_no": row[0], "status": row[1]}


def check_period(conn: psycopg.Connection[Any], doing: str = "创建采购订单") -> None:
    """This month's accounting period must be open (a month without a row is)."""
    row = conn.execute(
        "SELECT p.period, coalesce(a.closed, false) FROM (SELECT to_char(current_date, "
        "'YYYY-MM') AS period) p LEFT JOIN accounting_period a ON a.period = p.period").fetchone()
    assert row is not None
    if row[1]:
        raise ApiError(422, f"会计期间 {row[0]} 已关账，不能{doing}")


def _active_id(conn: psycopg.Connection[Any], table: str, code: str, noun: str) -> int:
    row = conn.execute(f"SELECT id FROM {table} WHERE code = %s AND active",  # noqa: S608
                       (code,)).fetchone()
    if row is None:
        raise ApiError(422, f"{noun} {code} 不存在或已停用")
    return int(row[0])


def _material_ids(conn: psycopg.Connection[Any], lines: list[Line]) -> dict[str, int]:
    """Each line's material id; the first unknown or inactive one refuses the order."""
    codes = sorted({ln.material_code for ln in lines})
    found = dict(conn.execute("SELECT code, id FROM material WHERE code = ANY(%s) AND active",
                              (codes,)).fetchall())
    for line in lines:
        if line.material_code not in found:
            raise ApiError(422, f"物料 {line.material_code} 不存在或已停用")
    return found


async def answer_create(erp: Erp, fault_key: str,
                        create: Callable[[], tuple[bool, dict[str, Any]]]) -> Response:
    """Run `create` (blocking: (created, reply)) under the armed faults keyed `fault_key`:
    201 with the new document, 200 Idempotent-Replay: true with the one its key made."""
    fault = erp.faults.take(fault_key)
    if fault is not None and not fault.after_write \
            and (answer := await fault_answer(erp, fault)) is not None:
        return answer
    try:
        created, reply = await run_in_threadpool(create)
    except ApiError:
        erp.count("refusals")
        raise
    erp.count("creates" if created else "replays")
    if fault is not None and fault.after_write \
            and (answer := await fault_answer(erp, fault)) is not None:
        return answer
    if created:
        return JSONResponse(reply, status_code=201)
    return JSONResponse(reply, status_code=200, headers={REPLAY_HEADER: "true"})


# -- the app ---------------------------------------------------------------------------------


def create_erp_app(database_url: str) -> FastAPI:
    """The demo ERP's REST app over `database_url` (tables from sql/erp.sql, seeded)."""
    from mdm.demo.erp_k3 import add_k3_routes
    from mdm.demo.erp_picking import add_picking_routes  # they build on this module
    from mdm.demo.erp_receipts import add_receiving_routes
    from mdm.demo.erp_sales import add_sales_routes

    erp = Erp(database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            erp.pool.close()

    app = FastAPI(title="demo ERP", lifespan=lifespan)
    app.state.erp = erp
    add_error_handlers(app, "erp")

    @app.exception_handler(psycopg.errors.UndefinedTable)
    async def _no_tables(_: Request, exc: psycopg.errors.UndefinedTable) -> JSONResponse:
        return JSONResponse({"detail": f"ERP 数据库缺少表（{exc.diag.message_primary}）：请先执行 "
                                       "mdm/demo/sql/erp.sql（mdm demo 启动时会建表）"},
                            status_code=503)
    _add_order_routes(app, erp)
    add_receiving_routes(app, erp)
    add_picking_routes(app, erp)
    add_sales_routes(app, erp)
    add_k3_routes(app, erp)
    add_control_routes(app, erp, after_write=True)
    return app


def _add_order_routes(app: FastAPI, erp: Erp) -> None:
    @app.post(PATH)
    async def create_order(request: Request) -> Response:
        """Create a purchase order: 201 {"id", "po_no", "status"}; the same Idempotency-Key
        again: 200 with the order it made; a refusal: 422 {"detail"} and nothing stored."""
        key = idempotency_key(request)
        order = parse_order(parse_body(await request.body()))
        return await answer_create(erp, order.request_no or key, lambda: erp.create(key, order))

    @app.get(PATH + "/{po_no}")
    async def get_order(po_no: str) -> dict[str, Any]:
        """The order's header (supplier by code) and lines (materials by code)."""
        found = await run_in_threadpool(erp.get, po_no)
        if found is None:
            raise ApiError(404, f"采购订单 {po_no} 不存在")
        return found

    @app.get(PATH)
    async def list_orders(request_no: str | None = Query(None, max_length=30),
                          limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        """The newest orders' headers (of one purchase request: ?request_no=PR-…)."""
        return {"items": await run_in_threadpool(erp.find, request_no, limit)}
