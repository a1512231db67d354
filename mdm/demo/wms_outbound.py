"""The demo WMS's outbound documents (issue 13, flows 3 and 4): pick tasks (拣货任务, PK…) the
hub makes from released ERP picking lists, and outbound orders (出库单, OB…) it makes from
released ERP sales orders.

POST /api/pick-tasks allocates each line at once from the item's batch stock in the task's
warehouse, oldest batch first (FIFO by received_on), holding what it takes (allocated); a
line the batches cannot cover is short from the start (needs 50, 30 in stock → 30 allocated,
20 short) and the task's status is `short`, so the shortage is known — and captured — the
moment the task exists. POST /api/pick-tasks/{no}/confirm is the picker's: the actual
quantity per line and batch (at most what was allocated; default all of it), batch stock
down by it, the allocation released; short = required − picked; status picked. POST
/api/outbound-orders (customer and items must be in the WMS's masters) and POST
/api/outbound-orders/{no}/ship {tracking_no, carrier, lines: [{line_no, shipped_qty}]}
(default: everything) → shipped. Creation needs an Idempotency-Key (kept as mdm_key; a
replay answers the same number, 200 Idempotent-Replay: true); PATCH takes the hub's
write-backs only (erp_doc_no; an outbound order also erp_status). Each call is one
transaction."""
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
from mdm.demo.outbound_values import Outbound, PickTask, parse_confirmation, parse_outbound, \
    parse_pick_task
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import REPLAY_HEADER, jsonable
from mdm.demo.target_values import ApiError, parse_body
from mdm.demo.wms_picking import allocate_task, confirm_task

TASKS = "/api/pick-tasks"
OUTBOUND = "/api/outbound-orders"
Injected = Callable[[str], Awaitable[Response | None]]


def _created(created: bool, reply: dict[str, Any]) -> JSONResponse:
    if created:
        return JSONResponse(reply, status_code=201)
    return JSONResponse(reply, status_code=200, headers={REPLAY_HEADER: "true"})


def add_outbound_routes(app: FastAPI, pool: ConnectionPool, injected: Injected) -> None:
    """The pick-task and outbound-order routes; `injected(key)` applies an armed fault to the
    hub's calls (keyed by the ERP's picking-list or sales-order number, or the WMS number for a
    write-back)."""
    wms = OutboundDocs(pool)

    @app.post(TASKS)
    async def create_task(request: Request) -> Response:
        """A pick task, allocated FIFO at once: 201 {"id", "task_no", "status"}."""
        key = idempotency_key(request)
        task = parse_pick_task(parse_body(await request.body()))
        if (fault := await injected(task.pick_list_no)) is not None:
            return fault
        return _created(*await run_in_threadpool(wms.create_task, key, task))

    @app.post(TASKS + "/{task_no}/confirm")
    async def confirm(task_no: str, request: Request) -> dict[str, Any]:
        """The picker's confirmation: open|short → picked with the actual quantities."""
        picked_by, picked = parse_confirmation(parse_body(await request.body() or b"{}"))
        await run_in_threadpool(wms.confirm, task_no, picked_by, picked)
        return await run_in_threadpool(wms.get_or_404, "task", task_no)

    @app.post(OUTBOUND)
    async def create_outbound(request: Request) -> Response:
        """An outbound order: 201 {"id", "outbound_no"}."""
        key = idempotency_key(request)
        order = parse_outbound(parse_body(await request.body()))
        if (fault := await injected(order.so_no)) is not None:
            return fault
        return _created(*await run_in_threadpool(wms.create_outbound, key, order))

    @app.post(OUTBOUND + "/{outbound_no}/ship")
    async def ship(outbound_no: str, request: Request) -> dict[str, Any]:
        """open → shipped with tracking number, carrier and shipped quantities."""
        body = parse_body(await request.body() or b"{}")
        await run_in_threadpool(wms.ship, outbound_no, body)
        return await run_in_threadpool(wms.get_or_404, "outbound", outbound_no)

    for path, kind, fields in ((TASKS, "task", ("erp_doc_no",)),
                               (OUTBOUND, "outbound", ("erp_doc_no", "erp_status"))):
        _add_reads(app, wms, path, kind, fields, injected)


def _add_reads(app: FastAPI, wms: OutboundDocs, path: str, kind: str, fields: tuple[str, ...],
               injected: Injected) -> None:
    @app.get(path + "/{number}", name=f"get_{kind}")
    async def get_document(number: str) -> dict[str, Any]:
        return await run_in_threadpool(wms.get_or_404, kind, number)

    @app.patch(path + "/{number}", name=f"write_back_{kind}")
    async def write_back(number: str, request: Request) -> Response:
        """The hub's update by link: only the write-back fields."""
        if (fault := await injected(number)) is not None:
            return fault
        body = parse_body(await request.body())
        only_fields(body, fields, "回写")
        values = {f: text_value(body, f, 20) for f in fields if f in body}
        await run_in_threadpool(wms.write_back, kind, number, values,
                                request.headers.get("Idempotency-Key"))
        return JSONResponse(await run_in_threadpool(wms.get_or_404, kind, number))


DOCUMENTS = {  # kind: (table, number column, noun, lines, allocations)
    "task": ("wms_pick_task", "task_no", "拣货任务",
             "SELECT line_no, item_code, required_qty, allocated_qty, picked_qty, short_qty "
             "FROM wms_pick_task_line WHERE task_id = %s ORDER BY line_no",
             "SELECT seq, line_no, item_code, batch_no, received_on, qty, picked_qty "
             "FROM wms_pick_allocation WHERE task_id = %s ORDER BY seq"),
    "outbound": ("wms_outbound_order", "outbound_no", "出库单",
                 "SELECT line_no, item_code, quantity, shipped_qty FROM wms_outbound_line "
                 "WHERE outbound_id = %s ORDER BY line_no", None),
}


class OutboundDocs:
    """The WMS's pick tasks and outbound orders in its database (blocking)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create_task(self, key: str, task: PickTask) -> tuple[bool, dict[str, Any]]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            made = conn.execute("SELECT task_no, status FROM wms_pick_task WHERE mdm_key = %s",
                                (key,)).fetchone()
            if made is not None:
                return False, {"id": made[0], "task_no": made[0], "status": made[1]}
            check_items(conn, [ln.item_code for ln in task.lines])
            task_no, status = allocate_task(conn, key, task)
        return True, {"id": task_no, "task_no": task_no, "status": status}

    def confirm(self, task_no: str, picked_by: str | None, picked: Any) -> None:
        with self.pool.connection() as conn, conn.transaction():
            confirm_task(conn, task_no, picked_by, picked)

    def create_outbound(self, key: str, order: Outbound) -> tuple[bool, dict[str, Any]]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            made = conn.execute("SELECT outbound_no FROM wms_outbound_order WHERE mdm_key = %s",
                                (key,)).fetchone()
            if made is not None:
                return False, {"id": made[0], "outbound_no": made[0]}
            if conn.execute("SELECT 1 FROM wms_customer WHERE customer_no = %s AND is_active",
                            (order.customer_no,)).fetchone() is None:
                raise ApiError(422, f"客户 {order.customer_no} 在WMS中不存在或已停用")
            check_items(conn, [ln.item_code for ln in order.lines])
            row = conn.execute(
                "INSERT INTO wms_outbound_order (so_no, customer_no, priority, ship_to_address, "
                "contact, phone, warehouse, mdm_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id, outbound_no",
                (order.so_no, order.customer_no, order.priority, order.ship_to_address,
                 order.contact, order.phone, order.warehouse, key)).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO wms_outbound_line (outbound_id, line_no, item_code, "
                                "quantity) VALUES (%s, %s, %s, %s)",
                                [(row[0], ln.line_no, ln.item_code, ln.quantity)
                                 for ln in order.lines])
        return True, {"id": row[1], "outbound_no": row[1]}

    def ship(self, outbound_no: str, body: dict[str, Any]) -> None:
        from mdm.demo.wms_picking import ship_outbound

        with self.pool.connection() as conn, conn.transaction():
            ship_outbound(conn, outbound_no, body)

    def write_back(self, kind: str, number: str, values: dict[str, str | None],
                   key: str | None) -> None:
        table, column, noun, *_ = DOCUMENTS[kind]
        if not values:
            return
        sets = ", ".join(f"{f} = %({f})s" for f in values)
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute(f"UPDATE {table} SET {sets}, updated_at = now() "  # noqa: S608
                            f"WHERE {column} = %(number)s RETURNING id",
                            {**values, "number": number}).fetchone() is None:
                raise ApiError(404, f"{noun} {number} 不存在")
            conn.execute("INSERT INTO api_receipt (collection, record_key, version, "
                         "idempotency_key, replay) VALUES (%s, %s, NULL, %s, false)",
                         (table, number, key))

    def get_or_404(self, kind: str, number: str) -> dict[str, Any]:
        table, column, noun, line_sql, alloc_sql = DOCUMENTS[kind]
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            header = cur.execute(f"SELECT * FROM {table} WHERE {column} = %s",  # noqa: S608
                                 (number,)).fetchone()
            if header is None:
                raise ApiError(404, f"{noun} {number} 不存在")
            doc_id = header.pop("id")
            found = {**_json(header), "lines": [_json(r) for r in cur.execute(line_sql,
                                                                              (doc_id,))]}
            if alloc_sql is not None:
                found["allocations"] = [_json(r) for r in cur.execute(alloc_sql, (doc_id,))]
        return found


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def check_items(conn: psycopg.Connection[Any], codes: list[str]) -> None:
    """Each item must be in the WMS's item master and active; the first that is not refuses."""
    found = dict(conn.execute("SELECT item_code, is_active FROM wms_item WHERE item_code = ANY(%s)",
                              (sorted(set(codes)),)).fetchall())
    for code in codes:
        if code not in found:
            raise ApiError(422, f"物料 {code} 在WMS中不存在")
        if not found[code]:
            raise ApiError(422, f"物料 {code} 在WMS中已停用")
