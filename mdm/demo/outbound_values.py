"""The bodies of flows 3 and 4's documents (production picking, sales outbound) and their
arithmetic, without I/O: exact decimals, strict fields, Chinese refusals naming the line.
FIFO allocation of batch stock (the WMS's pick task) is here, pure, so it is tested alone.
Used by demo/erp_picking.py, demo/erp_sales.py and demo/wms_outbound.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mdm.demo.doc_values import MAX_LINES, QUANTITY, decimal_value, only_fields, text_value
from mdm.demo.target_values import ApiError

ZERO = Decimal(0)


def rows_of(raw: Any, allowed: tuple[str, ...], what: str = "明细") -> list[dict[str, Any]]:
    """A body's list of objects: at least one, at most MAX_LINES, only `allowed` fields."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "单据至少需要一行明细（lines 不能为空）")
    if len(raw) > MAX_LINES:
        raise ApiError(422, f"单据最多 {MAX_LINES} 行明细，收到 {len(raw)} 行")
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ApiError(422, f"第 {number} 行应为对象")
        only_fields(item, allowed, f"第 {number} 行{what}")
    return raw


def line_no(item: dict[str, Any], where: str, field: str = "line_no") -> int:
    value = item.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ApiError(422, f"{where}的 {field} 应为正整数，收到 {value!r}")
    return value


def quantity(item: dict[str, Any], field: str, where: str, positive: bool = True) -> Decimal:
    number = decimal_value(item.get(field), f"{where} {field}", QUANTITY)
    if number < 0 or (positive and number == 0):
        raise ApiError(422, f"{where}的 {field} 必须大于 0，收到 {number}" if positive
                       else f"{where}的 {field} 不能为负数，收到 {number}")
    return number


def required_text(body: dict[str, Any], field: str, max_length: int) -> str:
    value = text_value(body, field, max_length, required=True)
    assert value is not None
    return value


# -- FIFO allocation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    batch_no: str
    received_on: date
    available: Decimal  # qty − allocated


def allocate_fifo(needed: Decimal, batches: list[Batch]) -> tuple[list[tuple[Batch, Decimal]],
                                                                  Decimal]:
    """Take `needed` from the oldest batches first (received_on, then batch number): the
    (batch, quantity) taken and what is still short (needs 50, 30 in stock → 30, short 20)."""
    taken = []
    rest = needed
    for batch in sorted(batches, key=lambda b: (b.received_on, b.batch_no)):
        if rest <= 0:
            break
        take = min(rest, batch.available)
        if take > 0:
            taken.append((batch, take))
            rest -= take
    return taken, max(rest, ZERO)


# -- the WMS's pick task and the ERP's stock issue ---------------------------------------------

@dataclass(frozen=True)
class TaskLine:
    line_no: int
    item_code: str
    quantity: Decimal


@dataclass(frozen=True)
class PickTask:
    pick_list_no: str
    mo_no: str | None
    warehouse: str
    lines: list[TaskLine]


def parse_pick_task(body: dict[str, Any]) -> PickTask:
    """The hub's pick task from an ERP picking list: {pick_list_no, mo_no, warehouse, lines:
    [{line_no, item_code, quantity}]} (each picking-list line once)."""
    only_fields(body, ("pick_list_no", "mo_no", "warehouse", "lines"), "拣货任务")
    lines = []
    for number, item in enumerate(rows_of(body.get("lines"), ("line_no", "item_code",
                                                                "quantity")), start=1):
        where = f"第 {number} 行"
        lines.append(TaskLine(line_no(item, where), required_text(item, "item_code", 30),
                              quantity(item, "quantity", where)))
    _unique([ln.line_no for ln in lines], "领料单行")
    return PickTask(required_text(body, "pick_list_no", 20), text_value(body, "mo_no", 20),
                    text_value(body, "warehouse", 20) or "WH01", lines)


@dataclass(frozen=True)
class Picked:
    line_no: int
    batch_no: str | None  # None: every batch of the line as allocated
    quantity: Decimal


def parse_confirmation(body: dict[str, Any]) -> tuple[str | None, list[Picked] | None]:
    """The picker's confirmation: {picked_by, lines: [{line_no, batch_no, picked_qty}]}
    (lines left out: everything allocated was picked)."""
    only_fields(body, ("picked_by", "lines"), "拣货确认")
    if body.get("lines") is None:
        return text_value(body, "picked_by", 60), None
    picked = []
    for number, item in enumerate(rows_of(body["lines"], ("line_no", "batch_no", "picked_qty")),
                                  start=1):
        where = f"第 {number} 行"
        picked.append(Picked(line_no(item, where), text_value(item, "batch_no", 30),
                             quantity(item, "picked_qty", where, positive=False)))
    return text_value(body, "picked_by", 60), picked


@dataclass(frozen=True)
class IssueLine:
    line_no: int  # the picking list's line
    material_code: str
    quantity: Decimal
    batch_no: str | None


@dataclass(frozen=True)
class StockIssue:
    pick_list_no: str
    pick_task_no: str | None
    warehouse: str
    lines: list[IssueLine]


def parse_stock_issue(body: dict[str, Any]) -> StockIssue:
    """{pick_list_no, pick_task_no, warehouse, lines: [{line_no, material_code, quantity,
    batch_no}]}: a line per picking-list line and batch; quantity 0 is skipped (all zero: 422)."""
    only_fields(body, ("pick_list_no", "pick_task_no", "warehouse", "lines"), "领料出库单")
    lines = []
    for number, item in enumerate(rows_of(body.get("lines"), ("line_no", "material_code",
                                                                "quantity", "batch_no")), start=1):
        where = f"第 {number} 行"
        lines.append(IssueLine(line_no(item, where), required_text(item, "material_code", 30),
                               quantity(item, "quantity", where, positive=False),
                               text_value(item, "batch_no", 30)))
    lines = [ln for ln in lines if ln.quantity > 0]
    if not lines:
        raise ApiError(422, "没有可出库的数量")
    return StockIssue(required_text(body, "pick_list_no", 20), text_value(body, "pick_task_no", 20),
                      text_value(body, "warehouse", 20) or "WH01", lines)


def parse_shortage(body: dict[str, Any]) -> tuple[str | None, list[tuple[int, str, Decimal]]]:
    """The hub's shortage onto a picking list: {pick_task_no, lines: [{line_no, material_code,
    short_qty}]} → (task, [(line_no, material, short)])."""
    only_fields(body, ("pick_task_no", "lines"), "缺料回写")
    lines = []
    for number, item in enumerate(rows_of(body.get("lines"), ("line_no", "material_code",
                                                                "short_qty")), start=1):
        where = f"第 {number} 行"
        lines.append((line_no(item, where), required_text(item, "material_code", 30),
                      quantity(item, "short_qty", where, positive=False)))
    return text_value(body, "pick_task_no", 20), lines


def list_status(lines: list[tuple[Decimal, Decimal]]) -> str:
    """A picking list's state from its lines' (required, issued): picked when every line was
    issued in full, else short."""
    return "picked" if all(issued >= required for required, issued in lines) else "short"


def _unique(numbers: list[int], noun: str) -> None:
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            raise ApiError(422, f"{noun} {number} 出现了两次")
        seen.add(number)


# -- sales: the WMS's outbound order and the ERP's shipment ------------------------------------

@dataclass(frozen=True)
class Outbound:
    so_no: str
    customer_no: str
    priority: int
    ship_to_address: str
    contact: str | None
    phone: str | None
    warehouse: str
    lines: list[TaskLine]


def parse_outbound(body: dict[str, Any]) -> Outbound:
    """{so_no, customer_no, priority, ship_to_address, contact, phone, warehouse, lines:
    [{line_no, item_code, quantity}]}."""
    only_fields(body, ("so_no", "customer_no", "priority", "ship_to_address", "contact", "phone",
                       "warehouse", "lines"), "出库单")
    priority = body.get("priority", 3)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise ApiError(422, f"priority 应为 1–5 的整数（1 最急），收到 {priority!r}")
    lines = []
    for number, item in enumerate(rows_of(body.get("lines"), ("line_no", "item_code",
                                                                "quantity")), start=1):
        where = f"第 {number} 行"
        lines.append(TaskLine(line_no(item, where), required_text(item, "item_code", 30),
                              quantity(item, "quantity", where)))
    _unique([ln.line_no for ln in lines], "销售订单行")
    return Outbound(required_text(body, "so_no", 20), required_text(body, "customer_no", 20),
                    priority, required_text(body, "ship_to_address", 300),
                    text_value(body, "contact", 60), text_value(body, "phone", 30),
                    text_value(body, "warehouse", 20) or "WH02", lines)


@dataclass(frozen=True)
class ShipLine:
    line_no: int
    material_code: str
    quantity: Decimal


@dataclass(frozen=True)
class Shipment:
    so_no: str
    outbound_no: str | None
    tracking_no: str | None
    carrier: str | None
    shipped_at: datetime | None
    lines: list[ShipLine]


def parse_shipment(body: dict[str, Any]) -> Shipment:
    """{so_no, outbound_no, tracking_no, carrier, shipped_at, lines: [{line_no, material_code,
    quantity}]}; quantity 0 is skipped (all zero: 422)."""
    only_fields(body, ("so_no", "outbound_no", "tracking_no", "carrier", "shipped_at", "lines"),
                "销售出库单")
    lines = []
    for number, item in enumerate(rows_of(body.get("lines"), ("line_no", "material_code",
                                                                "quantity")), start=1):
        where = f"第 {number} 行"
        lines.append(ShipLine(line_no(item, where), required_text(item, "material_code", 30),
                              quantity(item, "quantity", where, positive=False)))
    _unique([ln.line_no for ln in lines], "销售订单行")
    lines = [ln for ln in lines if ln.quantity > 0]
    if not lines:
        raise ApiError(422, "没有可发货的数量")
    return Shipment(required_text(body, "so_no", 20), text_value(body, "outbound_no", 20),
                    text_value(body, "tracking_no", 40), text_value(body, "carrier", 60),
                    _instant(body.get("shipped_at")), lines)


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"shipped_at 应为 ISO 8601 时间字符串，收到 {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"shipped_at 不是有效时间：{value!r}") from None


def order_status(lines: list[tuple[Decimal, Decimal]]) -> str:
    """A sales order's state from its lines' (ordered, shipped): shipped in full, else partial."""
    return "shipped" if all(shipped >= ordered for ordered, shipped in lines) else "partial"
