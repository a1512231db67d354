"""The demo WMS's picking and shipping in one open transaction each (demo/wms_outbound.py
calls them): a pick task's FIFO allocation from batch stock, the picker's confirmation, an
outbound order's shipment."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mdm.demo.doc_values import only_fields, text_value
from mdm.demo.outbound_values import ZERO, Batch, Picked, PickTask, allocate_fifo, line_no, \
    quantity, rows_of
from mdm.demo.receipt_values import qty_text
from mdm.demo.target_values import ApiError


def allocate_task(conn: psycopg.Connection[Any], key: str, task: PickTask) -> tuple[str, str]:
    """Insert the task and allocate each line FIFO (batch rows locked): (task_no, status) —
    short when some line could not be covered."""
    row = conn.execute("INSERT INTO wms_pick_task (pick_list_no, mo_no, warehouse, mdm_key) "
                       "VALUES (%s, %s, %s, %s) RETURNING id, task_no",
                       (task.pick_list_no, task.mo_no, task.warehouse, key)).fetchone()
    assert row is not None
    task_id, seq, any_short = row[0], 0, False
    for ln in task.lines:
        batches = [Batch(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT batch_no, received_on, qty - allocated FROM wms_batch_stock WHERE item_code "
            "= %s AND warehouse = %s AND qty > allocated ORDER BY received_on, batch_no "
            "FOR UPDATE", (ln.item_code, task.warehouse)).fetchall()]
        taken, short = allocate_fifo(ln.quantity, batches)
        any_short = any_short or short > 0
        for batch, qty in taken:
            seq += 1
            conn.execute("INSERT INTO wms_pick_allocation (task_id, seq, line_no, item_code, "
                         "batch_no, received_on, qty) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (task_id, seq, ln.line_no, ln.item_code, batch.batch_no,
                          batch.received_on, qty))
            conn.execute("UPDATE wms_batch_stock SET allocated = allocated + %s WHERE item_code "
                         "= %s AND warehouse = %s AND batch_no = %s",
                         (qty, ln.item_code, task.warehouse, batch.batch_no))
        conn.execute("INSERT INTO wms_pick_task_line (task_id, line_no, item_code, required_qty, "
                     "allocated_qty, short_qty) VALUES (%s, %s, %s, %s, %s, %s)",
                     (task_id, ln.line_no, ln.item_code, ln.quantity, ln.quantity - short, short))
    status = "short" if any_short else "open"
    if any_short:
        conn.execute("UPDATE wms_pick_task SET status = 'short' WHERE id = %s", (task_id,))
    return str(row[1]), status


def confirm_task(conn: psycopg.Connection[Any], task_no: str, picked_by: str | None,
                 picked: list[Picked] | None) -> None:
    """open|short → picked: each allocation's picked quantity (≤ allocated; default all), batch
    stock down by it and its allocation released, lines' picked and short quantities."""
    row = conn.execute("SELECT id, status, warehouse FROM wms_pick_task WHERE task_no = %s "
                       "FOR UPDATE", (task_no,)).fetchone()
    if row is None:
        raise ApiError(404, f"拣货任务 {task_no} 不存在")
    if row[1] == "picked":
        raise ApiError(409, f"拣货任务 {task_no} 已确认拣货，不能再次确认")
    task_id, warehouse = row[0], row[2]
    with conn.cursor(row_factory=dict_row) as cur:
        allocations = cur.execute("SELECT seq, line_no, item_code, batch_no, qty FROM "
                                  "wms_pick_allocation WHERE task_id = %s ORDER BY seq",
                                  (task_id,)).fetchall()
    takes = _picked_per_allocation(task_no, allocations, picked)
    for alloc in allocations:
        take = takes[alloc["seq"]]
        conn.execute("UPDATE wms_pick_allocation SET picked_qty = %s WHERE task_id = %s AND "
                     "seq = %s", (take, task_id, alloc["seq"]))
        conn.execute("UPDATE wms_batch_stock SET qty = qty - %s, allocated = allocated - %s "
                     "WHERE item_code = %s AND warehouse = %s AND batch_no = %s",
                     (take, alloc["qty"], alloc["item_code"], warehouse, alloc["batch_no"]))
    conn.execute(
        "UPDATE wms_pick_task_line l SET picked_qty = p.picked, short_qty = l.required_qty - "
        "p.picked FROM (SELECT tl.id, coalesce(sum(a.picked_qty), 0) AS picked FROM "
        "wms_pick_task_line tl LEFT JOIN wms_pick_allocation a ON a.task_id = tl.task_id AND "
        "a.line_no = tl.line_no WHERE tl.task_id = %s GROUP BY tl.id) p WHERE l.id = p.id",
        (task_id,))
    conn.execute("UPDATE wms_pick_task SET status = 'picked', picked_by = %s, picked_at = now(), "
                 "updated_at = now() WHERE id = %s", (picked_by, task_id))


def _picked_per_allocation(task_no: str, allocations: list[dict[str, Any]],
                           picked: list[Picked] | None) -> dict[int, Decimal]:
    """What the picker took of each allocation (seq → quantity). A confirmed line without a
    batch takes its allocations in FIFO order; a line not named is picked as allocated."""
    if picked is None:
        return {a["seq"]: a["qty"] for a in allocations}
    named = {p.line_no for p in picked}
    takes = {a["seq"]: (ZERO if a["line_no"] in named else a["qty"]) for a in allocations}
    for p in picked:
        mine = [a for a in allocations if a["line_no"] == p.line_no
                and (p.batch_no is None or a["batch_no"] == p.batch_no)]
        if not mine:
            raise ApiError(422, f"拣货任务 {task_no} 的第 {p.line_no} 行没有批次 "
                                f"{p.batch_no or '（任何）'} 的分配")
        rest = p.quantity
        for alloc in mine:
            take = min(rest, alloc["qty"] - takes[alloc["seq"]])
            takes[alloc["seq"]] += take
            rest -= take
        if rest > 0:
            raise ApiError(422, f"第 {p.line_no} 行拣货 {qty_text(p.quantity)} 超过分配的数量 "
                                f"{qty_text(sum((a['qty'] for a in mine), ZERO))}")
    return takes


def ship_outbound(conn: psycopg.Connection[Any], outbound_no: str, body: dict[str, Any]) -> None:
    """open → shipped: {tracking_no, carrier, lines: [{line_no, shipped_qty}]} (lines left out:
    each line's quantity); a shipped quantity may not exceed the line's."""
    only_fields(body, ("tracking_no", "carrier", "lines"), "发货")
    tracking = text_value(body, "tracking_no", 40, required=True)
    row = conn.execute("SELECT id, status FROM wms_outbound_order WHERE outbound_no = %s "
                       "FOR UPDATE", (outbound_no,)).fetchone()
    if row is None:
        raise ApiError(404, f"出库单 {outbound_no} 不存在")
    if row[1] != "open":
        raise ApiError(409, f"出库单 {outbound_no} 当前状态为 {row[1]}，不能发货")
    lines = dict(conn.execute("SELECT line_no, quantity FROM wms_outbound_line WHERE "
                              "outbound_id = %s", (row[0],)).fetchall())
    shipped = dict(lines)
    if body.get("lines") is not None:
        for number, item in enumerate(rows_of(body["lines"], ("line_no", "shipped_qty")), 1):
            where = f"第 {number} 行"
            n, qty = line_no(item, where), quantity(item, "shipped_qty", where, positive=False)
            if n not in lines:
                raise ApiError(422, f"出库单 {outbound_no} 没有第 {n} 行")
            if qty > lines[n]:
                raise ApiError(422, f"第 {n} 行发货 {qty_text(qty)} 超过出库数量 "
                                    f"{qty_text(lines[n])}")
            shipped[n] = qty
    with conn.cursor() as cur:
        cur.executemany("UPDATE wms_outbound_line SET shipped_qty = %s WHERE outbound_id = %s "
                        "AND line_no = %s", [(q, row[0], n) for n, q in sorted(shipped.items())])
    conn.execute("UPDATE wms_outbound_order SET status = 'shipped', tracking_no = %s, carrier = "
                 "%s, shipped_at = now(), updated_at = now() WHERE id = %s",
                 (tracking, text_value(body, "carrier", 60), row[0]))
