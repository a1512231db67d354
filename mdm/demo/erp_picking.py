"""The demo ERP's production picking (issue 13, flow 3): a production order's picking list
(领料单, LL…, made from its BOM by the SQL function make_picking_list), released to the
warehouse (created → released), the hub's stock issues of what the WMS picked (生产领料出库单,
CK…: stock −, issued_qty +, the list picked or short, one transaction with the list's row
locked, Idempotency-Key kept as mdm_key) and the hub's shortage onto the list's lines
(PATCH /api/picking-lists/{no}: short_qty, status short) as soon as the WMS knows it."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.demo.erp_api import Erp, answer_create, check_period, idempotency_key
from mdm.demo.outbound_values import StockIssue, list_status, parse_shortage, parse_stock_issue
from mdm.demo.receipt_values import qty_text
from mdm.demo.target_control import fault_answer
from mdm.demo.target_store import jsonable
from mdm.demo.target_values import ApiError, parse_body

LISTS = "/api/picking-lists"
ISSUES = "/api/stock-issues"


class Picking:
    """Picking lists and stock issues in the ERP's database (blocking; worker threads)."""

    def __init__(self, erp: Erp) -> None:
        self.erp = erp

    def make_list(self, mo_no: str) -> str:
        with self.erp.pool.connection() as conn, conn.transaction():
            try:
                row = conn.execute("SELECT make_picking_list(%s)", (mo_no,)).fetchone()
            except psycopg.errors.RaiseException as exc:
                raise ApiError(422, exc.diag.message_primary or str(exc)) from None
        assert row is not None
        return str(row[0])

    def release(self, pick_list_no: str) -> None:
        with self.erp.pool.connection() as conn, conn.transaction():
            if conn.execute("UPDATE picking_list SET status = 'released', updated_at = "
                            "localtimestamp WHERE pick_list_no = %s AND status = 'created' "
                            "RETURNING id", (pick_list_no,)).fetchone() is not None:
                return
            now = conn.execute("SELECT status FROM picking_list WHERE pick_list_no = %s",
                               (pick_list_no,)).fetchone()
        if now is None:
            raise ApiError(404, f"领料单 {pick_list_no} 不存在")
        raise ApiError(409, f"领料单 {pick_list_no} 状态为 {now[0]}，不能下达（只有 created "
                            "状态的领料单可以）")

    def issue(self, key: str, issue: StockIssue) -> tuple[bool, dict[str, Any]]:
        """(created, {"id", "doc_no", "list_status"}): the new stock issue, or the one `key`
        made."""
        with self.erp.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            made = conn.execute("SELECT doc_no, list_status FROM stock_issue WHERE mdm_key = %s",
                                (key,)).fetchone()
            if made is not None:
                return False, {"id": made[0], "doc_no": made[0], "list_status": made[1]}
            check_period(conn, "领料出库")
            list_id, lines = _locked_list(conn, issue.pick_list_no, ("released", "short"), "出库")
            for ln in issue.lines:
                line = _line_of(lines, issue.pick_list_no, ln.line_no, ln.material_code)
                if line["issued_qty"] + ln.quantity > line["required_qty"]:
                    raise ApiError(422, f"超领：领料单行 {ln.line_no} 需求 "
                                        f"{qty_text(line['required_qty'])}，已领 "
                                        f"{qty_text(line['issued_qty'])}，本次 "
                                        f"{qty_text(ln.quantity)}")
                line["issued_qty"] += ln.quantity
            _take_stock(conn, issue, lines)
            status = list_status([(ln["required_qty"], ln["issued_qty"]) for ln in lines.values()])
            doc_no = _insert_issue(conn, list_id, issue, lines, key, status)
            with conn.cursor() as cur:
                cur.executemany("UPDATE picking_list_line SET issued_qty = %s, short_qty = "
                                "greatest(required_qty - %s, 0) WHERE id = %s",
                                [(ln["issued_qty"], ln["issued_qty"], ln["id"])
                                 for ln in lines.values()])
            conn.execute("UPDATE picking_list SET status = %s, pick_task_no = coalesce(%s, "
                         "pick_task_no), updated_at = localtimestamp WHERE id = %s",
                         (status, issue.pick_task_no, list_id))
        return True, {"id": doc_no, "doc_no": doc_no, "list_status": status}

    def shortage(self, pick_list_no: str, body: dict[str, Any]) -> None:
        """The WMS's shortage on the list's lines: short_qty the greater of what it was and
        what the WMS says (a stock issue posted first has set the final one), status short."""
        task_no, shorts = parse_shortage(body)
        with self.erp.pool.connection() as conn, conn.transaction():
            list_id, lines = _locked_list(conn, pick_list_no, ("released", "short", "picked"),
                                          "登记缺料")
            for number, material, short in shorts:
                line = _line_of(lines, pick_list_no, number, material)
                if short > line["required_qty"]:
                    raise ApiError(422, f"领料单行 {number} 缺料 {qty_text(short)} 超过需求 "
                                        f"{qty_text(line['required_qty'])}")
                conn.execute("UPDATE picking_list_line SET short_qty = greatest(short_qty, %s) "
                             "WHERE id = %s", (short, line["id"]))
            if any(short > 0 for *_, short in shorts):
                conn.execute("UPDATE picking_list SET status = 'short', pick_task_no = "
                             "coalesce(%s, pick_task_no), updated_at = localtimestamp "
                             "WHERE id = %s", (task_no, list_id))

    def get(self, pick_list_no: str) -> dict[str, Any] | None:
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(
                "SELECT p.id, p.pick_list_no, p.status, o.mo_no, pm.code AS product_code, "
                "o.quantity AS mo_quantity, p.warehouse, p.pick_task_no FROM picking_list p "
                "JOIN production_order o ON o.id = p.mo_id JOIN material pm ON pm.id = "
                "o.product_id WHERE p.pick_list_no = %s", (pick_list_no,)).fetchone()
            if header is None:
                return None
            list_id = header.pop("id")
            lines = cur.execute(
                "SELECT l.line_no, m.code AS material_code, m.name AS material_name, m.uom, "
                "l.required_qty, l.issued_qty, l.short_qty FROM picking_list_line l JOIN "
                "material m ON m.id = l.material_id WHERE l.picking_list_id = %s "
                "ORDER BY l.line_no", (list_id,)).fetchall()
            issues = cur.execute("SELECT doc_no, pick_task_no, posted_at FROM stock_issue "
                                 "WHERE picking_list_id = %s ORDER BY id", (list_id,)).fetchall()
        return {**_json(header), "lines": [_json(ln) for ln in lines],
                "stock_issues": [_json(i) for i in issues]}

    def get_issue(self, doc_no: str) -> dict[str, Any] | None:
        with self.erp.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(
                "SELECT s.id, s.doc_no, p.pick_list_no, s.pick_task_no, s.warehouse, "
                "s.list_status, s.mdm_key, s.posted_at FROM stock_issue s JOIN picking_list p "
                "ON p.id = s.picking_list_id WHERE s.doc_no = %s", (doc_no,)).fetchone()
            if header is None:
                return None
            lines = cur.execute(
                "SELECT s.line_no, l.line_no AS pl_line_no, m.code AS material_code, s.quantity, "
                "s.batch_no FROM stock_issue_line s JOIN picking_list_line l ON l.id = "
                "s.pl_line_id JOIN material m ON m.id = s.material_id WHERE s.stock_issue_id = "
                "%s ORDER BY s.line_no", (header.pop("id"),)).fetchall()
        return {**_json(header), "lines": [_json(ln) for ln in lines]}


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def _locked_list(conn: psycopg.Connection[Any], pick_list_no: str, states: tuple[str, ...],
                 doing: str) -> tuple[int, dict[int, dict[str, Any]]]:
    """The list's id (its row locked) and its lines by number; it must be in `states`."""
    row = conn.execute("SELECT id, status FROM picking_list WHERE pick_list_no = %s FOR UPDATE",
                       (pick_list_no,)).fetchone()
    if row is None:
        raise ApiError(422, f"领料单 {pick_list_no} 不存在")
    if row[1] not in states:
        raise ApiError(422, f"领料单 {pick_list_no} 状态为 {row[1]}，不能{doing}")
    with conn.cursor(row_factory=dict_row) as cur:
        lines = cur.execute(
            "SELECT l.line_no, l.id, l.material_id, m.code, l.required_qty, l.issued_qty "
            "FROM picking_list_line l JOIN material m ON m.id = l.material_id "
            "WHERE l.picking_list_id = %s ORDER BY l.line_no", (row[0],)).fetchall()
    return int(row[0]), {ln["line_no"]: ln for ln in lines}


def _line_of(lines: dict[int, dict[str, Any]], pick_list_no: str, number: int,
             material: str) -> dict[str, Any]:
    line = lines.get(number)
    if line is None:
        raise ApiError(422, f"领料单 {pick_list_no} 没有第 {number} 行")
    if line["code"] != material:
        raise ApiError(422, f"领料单行 {number} 的物料为 {line['code']}，不是 {material}")
    return line


def _take_stock(conn: psycopg.Connection[Any], issue: StockIssue,
                lines: dict[int, dict[str, Any]]) -> None:
    """stock.on_hand − the issued quantity per material; not below zero (库存不足)."""
    per: dict[int, Decimal] = {}
    codes = {}
    for ln in issue.lines:
        material = lines[ln.line_no]["material_id"]
        per[material] = per.get(material, Decimal(0)) + ln.quantity
        codes[material] = ln.material_code
    for material, quantity in sorted(per.items()):
        row = conn.execute("UPDATE stock SET on_hand = on_hand - %s WHERE material_id = %s AND "
                           "warehouse = %s AND on_hand >= %s RETURNING on_hand",
                           (quantity, material, issue.warehouse, quantity)).fetchone()
        if row is None:
            had = conn.execute("SELECT on_hand FROM stock WHERE material_id = %s AND warehouse "
                               "= %s", (material, issue.warehouse)).fetchone()
            raise ApiError(422, f"库存不足：物料 {codes[material]} 在仓库 {issue.warehouse} 现存 "
                                f"{qty_text(had[0] if had else Decimal(0))}，本次出库 "
                                f"{qty_text(quantity)}")


def _insert_issue(conn: psycopg.Connection[Any], list_id: int, issue: StockIssue,
                  lines: dict[int, dict[str, Any]], key: str, status: str) -> str:
    row = conn.execute("INSERT INTO stock_issue (picking_list_id, pick_task_no, warehouse, "
                       "list_status, mdm_key) VALUES (%s, %s, %s, %s, %s) RETURNING id, doc_no",
                       (list_id, issue.pick_task_no, issue.warehouse, status, key)).fetchone()
    assert row is not None
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO stock_issue_line (stock_issue_id, line_no, pl_line_id, material_id, "
            "quantity, batch_no) VALUES (%s, %s, %s, %s, %s, %s)",
            [(row[0], number, lines[ln.line_no]["id"], lines[ln.line_no]["material_id"],
              ln.quantity, ln.batch_no) for number, ln in enumerate(issue.lines, start=1)])
    return str(row[1])


def add_picking_routes(app: FastAPI, erp: Erp) -> None:
    picking = Picking(erp)

    @app.post("/api/production-orders/{mo_no}/picking-list", status_code=201)
    async def make_list(mo_no: str) -> dict[str, Any]:
        """A picking list from the order's BOM (required = order qty × qty per unit)."""
        number = await run_in_threadpool(picking.make_list, mo_no)
        return await get_list(number)

    @app.post(LISTS + "/{pick_list_no}/release")
    async def release(pick_list_no: str) -> dict[str, Any]:
        """created → released: the hub sends it to the WMS as a pick task."""
        await run_in_threadpool(picking.release, pick_list_no)
        return await get_list(pick_list_no)

    @app.get(LISTS + "/{pick_list_no}")
    async def get_list(pick_list_no: str) -> dict[str, Any]:
        found = await run_in_threadpool(picking.get, pick_list_no)
        if found is None:
            raise ApiError(404, f"领料单 {pick_list_no} 不存在")
        return found

    @app.patch(LISTS + "/{pick_list_no}")
    async def shortage(pick_list_no: str, request: Request) -> Response:
        """The hub's shortage (缺料) from the WMS: {pick_task_no, lines: [{line_no,
        material_code, short_qty}]}; the list as GET answers it."""
        body = parse_body(await request.body())
        fault = erp.faults.take(pick_list_no)
        if fault is not None and (answer := await fault_answer(erp, fault)) is not None:
            return answer
        await run_in_threadpool(picking.shortage, pick_list_no, body)
        return JSONResponse(await get_list(pick_list_no))

    @app.post(ISSUES)
    async def create_issue(request: Request) -> Response:
        """A stock issue of the picked quantities: 201 {"id", "doc_no", "list_status"}; the
        same Idempotency-Key again: 200 with the one it made; a refusal: 422 {"detail"}."""
        key = idempotency_key(request)
        issue = parse_stock_issue(parse_body(await request.body()))
        return await answer_create(erp, issue.pick_task_no or key,
                                   lambda: picking.issue(key, issue))

    @app.get(ISSUES + "/{doc_no}")
    async def get_issue(doc_no: str) -> dict[str, Any]:
        found = await run_in_threadpool(picking.get_issue, doc_no)
        if found is None:
            raise ApiError(404, f"领料出库单 {doc_no} 不存在")
        return found
