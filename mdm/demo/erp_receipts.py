"""The demo ERP's receiving (issue 13, flow 2): stock-ins (入库单, RK…) and purchase returns
(退货单, TH…) the hub makes from the WMS's receipts, and the buyer's release of an order to its
supplier (已下达供应商: created → released).

POST /api/stock-ins and POST /api/purchase-returns need an Idempotency-Key (kept as mdm_key; the
same key again answers the document it made, 200 with Idempotent-Replay: true) and do all their
work in one ERP transaction, the purchase order's row locked, or refuse with 422 and a Chinese
message, storing nothing. A stock-in adds each line's quantity to its PO line's received_qty
(up to 10 % over the ordered quantity) and to `stock` of its material in the warehouse, and
moves the order to partial or done, and makes the stock-in's payable (应付单, erp_finance.py:
Σ quantity × PO price, due by the supplier's payment terms). A return records rejected goods going back to the supplier
(they never entered stock) and adds to the PO lines' returned_qty.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from fastapi import FastAPI, Query, Request, Response
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.erp_api import Erp, answer_create, check_period, idempotency_key
from mdm.demo.erp_finance import add_finance_routes, make_payable
from mdm.demo.receipt_values import RETURN, STOCK_IN, Posting, check_over_receipt, \
    order_status, parse_posting
from mdm.demo.target_store import jsonable
from mdm.demo.target_values import ApiError, parse_body

STOCK_INS = "/api/stock-ins"
RETURNS = "/api/purchase-returns"
ORDERS = "/api/purchase-orders"


@dataclass(frozen=True)
class Document:
    """Where one kind of receiving document lives."""

    table: str
    line_table: str
    parent: str  # the line table's column naming its document
    note: str    # the line's batch_no or reason
    noun: str


STOCK_IN_DOC = Document("stock_in", "stock_in_line", "stock_in_id", "batch_no", "入库单")
RETURN_DOC = Document("purchase_return", "purchase_return_line", "return_id", "reason", "退货单")


@dataclass
class PoLine:
    id: int
    material_id: int
    material_code: str
    quantity: Decimal
    received: Decimal


class Receiving:
    """Stock-ins, returns and releases in the ERP's database (blocking; worker threads)."""

    def __init__(self, erp: Erp) -> None:
        self.erp = erp

    def stock_in(self, key: str, posting: Posting) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "doc_no", "po_status"}): the new stock-in, or the one `key` made."""
        with self.erp.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _made_by(conn, STOCK_IN_DOC, key)) is not None:
                return False, made
            check_period(conn, "入库")
            po_id = _order_id(conn, posting.po_no, ("released", "partial"), "入库")
            lines = _po_lines(conn, po_id, posting)
            for ln in posting.lines:
                line = lines[ln.po_line_no]
                check_over_receipt(ln.po_line_no, line.quantity, line.received, ln.quantity)
                line.received += ln.quantity
            stock_in_id, doc_no = _insert(conn, STOCK_IN_DOC, po_id, posting, lines, key)
            touched = sorted({ln.po_line_no for ln in posting.lines})
            with conn.cursor() as cur:
                cur.executemany("UPDATE purchase_order_line SET received_qty = %s WHERE id = %s",
                                [(lines[n].received, lines[n].id) for n in touched])
                cur.executemany(
                    "INSERT INTO stock (material_id, warehouse, on_hand) VALUES (%s, %s, %s) "
                    "ON CONFLICT (material_id, warehouse) DO UPDATE "
                    "SET on_hand = stock.on_hand + EXCLUDED.on_hand",
                    [(material, posting.warehouse, quantity)
                     for material, quantity in sorted(_per_material(posting, lines).items())])
            status = order_status([(line.quantity, line.received) for line in lines.values()])
            conn.execute("UPDATE purchase_order SET status = %s, updated_at = localtimestamp "
                         "WHERE id = %s", (status, po_id))
            make_payable(conn, stock_in_id)  # the supplier's invoice falls due
        return True, {"id": doc_no, "doc_no": doc_no, "po_status": status}

    def purchase_return(self, key: str, posting: Posting) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "doc_no"}): the new return, or the one `key` made."""
        with self.erp.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            if (made := _made_by(conn, RETURN_DOC, key)) is not None:
                return False, {"id": made["id"], "doc_no": made["doc_no"]}
            po_id = _order_id(conn, posting.po_no, ("released", "partial", "done"), "退货")
            lines = _po_lines(conn, po_id, posting)
            _, doc_no = _insert(conn, RETURN_DOC, po_id, posting, lines, key)
            with conn.cursor() as cur:
                cur.executemany("UPDATE purchase_order_line SET returned_qty = returned_qty + %s "
                                "WHERE id = %s",
                                [(ln.quantity, lines[ln.po_line_no].id) for ln in posting.lines])
        return True, {"id": doc_no, "doc_no": doc_no}

    def release(self, po_no: str) -> None:
        """created → released (the buyer sent the order to the supplier); 409 from any other."""
        with self.erp.pool.connection() as conn, conn.transaction():
            if conn.execute("UPDATE purchase_order SET status = 'released', updated_at = "
                            "localtimestamp WHERE po_no = %s AND status = 'created' RETURNING id",
                            (po_no,)).fetchone() is not None:
                return
            now = conn.execute("SELECT status FROM purchase_order WHERE po_no = %s",
                               (po_no,)).fetchone()
        if now is None:
            raise ApiError(404, f"采购订单 {po_no} 不存在")
        raise ApiError(409, f"采购订单 {po_no} 状态为 {now[0]}，不能下达（只有 created 状态的"
                            "订单可以）")

    def get(self, doc: Document, doc_no: str) -> dict[str, Any] | None:
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(_header_sql(doc) + " WHERE d.doc_no = %s", (doc_no,)).fetchone()
            if header is None:
                return None
            lines = cur.execute(  # noqa: S608 (the names are this module's own)
                "SELECT d.line_no, l.line_no AS po_line_no, m.code AS material_code, "
                f"m.uom, d.quantity, d.{doc.note} FROM {doc.line_table} d "
                "JOIN purchase_order_line l ON l.id = d.po_line_id "
                "JOIN material m ON m.id = d.material_id "
                f"WHERE d.{doc.parent} = %s ORDER BY d.line_no", (header.pop("id"),)).fetchall()
        return {**_json(header), "lines": [_json(line) for line in lines]}

    def find(self, doc: Document, po_no: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest documents' headers, of one purchase order if given."""
        where, params = ("WHERE o.po_no = %s", [po_no]) if po_no else ("", [])
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"{_header_sql(doc)} {where} ORDER BY d.id DESC LIMIT %s",
                               [*params, limit]).fetchall()
        return [_json({k: v for k, v in row.items() if k != "id"}) for row in rows]


def _header_sql(doc: Document) -> str:
    extra = "d.warehouse, d.posted_at" if doc is STOCK_IN_DOC else "d.status, d.created_at"
    return (f"SELECT d.id, d.doc_no, o.po_no, d.receipt_no, {extra}, d.mdm_key "  # noqa: S608
            f"FROM {doc.table} d JOIN purchase_order o ON o.id = d.po_id")


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def _made_by(conn: psycopg.Connection[Any], doc: Document, key: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT d.doc_no, o.status FROM {doc.table} d "  # noqa: S608
                       "JOIN purchase_order o ON o.id = d.po_id WHERE d.mdm_key = %s",
                       (key,)).fetchone()
    return None if row is None else {"id": row[0], "doc_no": row[0], "po_status": row[1]}


def _order_id(conn: psycopg.Connection[Any], po_no: str, states: tuple[str, ...],
              doing: str) -> int:
    """The order's id, its row locked for the transaction; it must be in one of `states`."""
    row = conn.execute("SELECT id, status FROM purchase_order WHERE po_no = %s FOR UPDATE",
                       (po_no,)).fetchone()
    if row is None:
        raise ApiError(422, f"采购订单 {po_no} 不存在")
    if row[1] not in states:
        raise ApiError(422, f"采购订单 {po_no} 状态为 {row[1]}，不能{doing}")
    return int(row[0])


def _po_lines(conn: psycopg.Connection[Any], po_id: int, posting: Posting) -> dict[int, PoLine]:
    """The order's lines by line number; each of the posting's lines must name one of them
    with that line's material."""
    found = {row[0]: PoLine(*row[1:]) for row in conn.execute(
        "SELECT l.line_no, l.id, l.material_id, m.code, l.quantity, l.received_qty "
        "FROM purchase_order_line l JOIN material m ON m.id = l.material_id "
        "WHERE l.po_id = %s ORDER BY l.line_no", (po_id,)).fetchall()}
    for ln in posting.lines:
        line = found.get(ln.po_line_no)
        if line is None:
            raise ApiError(422, f"采购订单 {posting.po_no} 没有订单行 {ln.po_line_no}")
        if line.material_code != ln.material_code:
            raise ApiError(422, f"订单行 {ln.po_line_no} 的物料为 {line.material_code}，"
                                f"不是 {ln.material_code}")
    return found


def _insert(conn: psycopg.Connection[Any], doc: Document, po_id: int, posting: Posting,
            lines: dict[int, PoLine], key: str) -> tuple[int, str]:
    """The document's header and lines (numbered 1… in the posting's order): (id, doc_no)."""
    if doc is STOCK_IN_DOC:
        row = conn.execute("INSERT INTO stock_in (po_id, receipt_no, warehouse, mdm_key) "
                           "VALUES (%s, %s, %s, %s) RETURNING id, doc_no",
                           (po_id, posting.receipt_no, posting.warehouse, key)).fetchone()
    else:
        row = conn.execute("INSERT INTO purchase_return (po_id, receipt_no, mdm_key) "
                           "VALUES (%s, %s, %s) RETURNING id, doc_no",
                           (po_id, posting.receipt_no, key)).fetchone()
    assert row is not None
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {doc.line_table} ({doc.parent}, line_no, po_line_id, "  # noqa: S608
            f"material_id, quantity, {doc.note}) VALUES (%s, %s, %s, %s, %s, %s)",
            [(row[0], number, lines[ln.po_line_no].id, lines[ln.po_line_no].material_id,
              ln.quantity, ln.note) for number, ln in enumerate(posting.lines, start=1)])
    return int(row[0]), str(row[1])


def _per_material(posting: Posting, lines: dict[int, PoLine]) -> dict[int, Decimal]:
    total: dict[int, Decimal] = {}
    for ln in posting.lines:
        material = lines[ln.po_line_no].material_id
        total[material] = total.get(material, Decimal(0)) + ln.quantity
    return total


# -- the routes ------------------------------------------------------------------------------


def add_receiving_routes(app: FastAPI, erp: Erp) -> None:
    receiving = Receiving(erp)

    @app.post(STOCK_INS)
    async def create_stock_in(request: Request) -> Response:
        """A stock-in for a receipt's accepted quantities: 201 {"id", "doc_no", "po_status"};
        the same Idempotency-Key again: 200 with the one it made; a refusal: 422 {"detail"}."""
        key = idempotency_key(request)
        posting = parse_posting(parse_body(await request.body()), STOCK_IN)
        return await answer_create(erp, posting.receipt_no or key,
                                   lambda: receiving.stock_in(key, posting))

    @app.post(RETURNS)
    async def create_return(request: Request) -> Response:
        """A purchase return for a receipt's rejected quantities: 201 {"id", "doc_no"}."""
        key = idempotency_key(request)
        posting = parse_posting(parse_body(await request.body()), RETURN)
        return await answer_create(erp, posting.receipt_no or key,
                                   lambda: receiving.purchase_return(key, posting))

    @app.post(ORDERS + "/{po_no}/release")
    async def release_order(po_no: str) -> dict[str, Any]:
        """created → released (已下达供应商); the order as GET answers it."""
        await run_in_threadpool(receiving.release, po_no)
        found = await run_in_threadpool(erp.get, po_no)
        assert found is not None
        return found

    for path, doc in ((STOCK_INS, STOCK_IN_DOC), (RETURNS, RETURN_DOC)):
        _add_reads(app, receiving, path, doc)
    add_finance_routes(app, erp)  # payables, payments, vouchers (flows 5 and 6)


def _add_reads(app: FastAPI, receiving: Receiving, path: str, doc: Document) -> None:
    @app.get(path + "/{doc_no}", name=f"get_{doc.table}")
    async def get_document(doc_no: str) -> dict[str, Any]:
        """The document's header (PO by number) and lines (PO line number, material by code)."""
        found = await run_in_threadpool(receiving.get, doc, doc_no)
        if found is None:
            raise ApiError(404, f"{doc.noun} {doc_no} 不存在")
        return found

    @app.get(path, name=f"list_{doc.table}")
    async def list_documents(po_no: str | None = Query(None, max_length=20),
                             limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        """The newest documents' headers (of one purchase order: ?po_no=45…)."""
        return {"items": await run_in_threadpool(receiving.find, doc, po_no, limit)}
