"""The bodies of flow 2's documents (purchase receipt: ERP PO → WMS pre-receipt → WMS receipt →
ERP stock-in and purchase return) and the ERP's receiving arithmetic, without I/O: exact
decimals, strict fields, Chinese refusals naming the line. Used by demo/wms_receipts.py and
demo/erp_receipts.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from mdm.demo.doc_values import MAX_LINES, QUANTITY, date_value, decimal_value, only_fields, \
    text_value
from mdm.demo.target_values import ApiError

OVER_RECEIPT = Decimal("0.10")  # a PO line may be received up to 10 % over its quantity
ZERO = Decimal(0)


def qty_text(value: Decimal) -> str:
    """A quantity as numeric(14,3) prints it: 95 → '95.000'."""
    return str(value.quantize(Decimal("0.001")))


def _int_value(item: dict[str, Any], field: str, where: str) -> int:
    value = item.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ApiError(422, f"{where}的 {field} 应为正整数，收到 {value!r}")
    return value


def _items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "单据至少需要一行明细（lines 不能为空）")
    if len(raw) > MAX_LINES:
        raise ApiError(422, f"单据最多 {MAX_LINES} 行明细，收到 {len(raw)} 行")
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ApiError(422, f"第 {number} 行应为对象")
    return raw


def _quantity(item: dict[str, Any], field: str, where: str, default: Decimal | None = None
              ) -> Decimal:
    if item.get(field) is None and default is not None:
        return default
    number = decimal_value(item.get(field), f"{where} {field}", QUANTITY)
    if number < 0:
        raise ApiError(422, f"{where}的 {field} 不能为负数，收到 {number}")
    return number


# -- the WMS's pre-receipt (入库预约) ----------------------------------------------------------

PRE_RECEIPT_FIELDS = ("po_no", "supplier_no", "expected_date", "lines")
PRE_LINE_FIELDS = ("line_no", "item_code", "quantity")


@dataclass(frozen=True)
class PreLine:
    line_no: int  # the PO's line number
    item_code: str
    quantity: Decimal


@dataclass(frozen=True)
class PreReceipt:
    po_no: str
    supplier_no: str | None
    expected_date: date | None
    lines: list[PreLine]


def parse_pre_receipt(body: dict[str, Any]) -> PreReceipt:
    """The hub's pre-receipt: the PO's number, supplier, expected date and lines (quantity > 0,
    each PO line once)."""
    only_fields(body, PRE_RECEIPT_FIELDS, "入库预约")
    po_no = text_value(body, "po_no", 20, required=True)
    assert po_no is not None
    lines = []
    for number, item in enumerate(_items(body.get("lines")), start=1):
        where = f"第 {number} 行"
        only_fields(item, PRE_LINE_FIELDS, f"{where}明细")
        code = text_value(item, "item_code", 30, required=True)
        assert code is not None
        quantity = decimal_value(item.get("quantity"), f"{where} quantity", QUANTITY)
        if quantity <= 0:
            raise ApiError(422, f"{where}物料 {code} 的数量必须大于 0，收到 {quantity}")
        lines.append(PreLine(_int_value(item, "line_no", where), code, quantity))
    _distinct([ln.line_no for ln in lines], "line_no")
    return PreReceipt(po_no, text_value(body, "supplier_no", 20),
                      date_value(body.get("expected_date"), "expected_date"), lines)


def _distinct(numbers: list[int], field: str) -> None:
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            raise ApiError(422, f"{field} {number} 出现了两次")
        seen.add(number)


# -- the WMS's receipt (收货单) ---------------------------------------------------------------

RECEIPT_FIELDS = ("po_no", "pre_no", "warehouse", "received_by", "lines")
RECEIPT_LINE_FIELDS = ("po_line_no", "item_code", "received_qty", "accepted_qty", "rejected_qty",
                       "batch_no", "reject_reason")


@dataclass(frozen=True)
class ReceiptLine:
    line_no: int
    po_line_no: int
    item_code: str | None  # None: the pre-receipt's item of that PO line
    received_qty: Decimal
    accepted_qty: Decimal
    rejected_qty: Decimal
    batch_no: str | None
    reject_reason: str | None


@dataclass(frozen=True)
class Receipt:
    po_no: str
    pre_no: str | None
    warehouse: str
    received_by: str | None
    lines: list[ReceiptLine]


def parse_receipt(body: dict[str, Any]) -> Receipt:
    """The dock worker's receipt: per line the PO line, the received quantity and how much of
    it was accepted and rejected (accepted + rejected = received; accepted defaults to
    received − rejected), the batch and why goods were rejected."""
    only_fields(body, RECEIPT_FIELDS, "收货单")
    po_no = text_value(body, "po_no", 20, required=True)
    assert po_no is not None
    lines = [_receipt_line(number, item)
             for number, item in enumerate(_items(body.get("lines")), start=1)]
    if all(line.received_qty == 0 for line in lines):
        raise ApiError(422, "收货数量全部为 0：没有收到任何货物")
    return Receipt(po_no, text_value(body, "pre_no", 20),
                   text_value(body, "warehouse", 20) or "WH01",
                   text_value(body, "received_by", 60), lines)


def _receipt_line(number: int, item: dict[str, Any]) -> ReceiptLine:
    where = f"第 {number} 行"
    only_fields(item, RECEIPT_LINE_FIELDS, f"{where}明细")
    received = _quantity(item, "received_qty", where)
    rejected = _quantity(item, "rejected_qty", where, default=ZERO)
    accepted = _quantity(item, "accepted_qty", where, default=received - rejected)
    if accepted + rejected != received:
        raise ApiError(422, f"{where}合格数量 {accepted} 加不合格数量 {rejected} 不等于收货数量 "
                            f"{received}")
    return ReceiptLine(number, _int_value(item, "po_line_no", where),
                       text_value(item, "item_code", 30), received, accepted, rejected,
                       text_value(item, "batch_no", 30), text_value(item, "reject_reason", 200))


# -- the ERP's stock-in (入库单) and purchase return (退货单) -----------------------------------


@dataclass(frozen=True)
class PostingLine:
    po_line_no: int
    material_code: str
    quantity: Decimal
    note: str | None  # the stock-in's batch_no, the return's reason


@dataclass(frozen=True)
class Posting:
    """A stock-in or a purchase return as the hub asks for it (lines of quantity 0 dropped)."""

    po_no: str
    receipt_no: str | None
    warehouse: str | None
    lines: list[PostingLine]


STOCK_IN = ("入库单", ("po_no", "receipt_no", "warehouse", "lines"), "batch_no", 30, "入库")
RETURN = ("退货单", ("po_no", "receipt_no", "lines"), "reason", 200, "退货")


def parse_posting(body: dict[str, Any], kind: tuple[str, tuple[str, ...], str, int, str]
                  ) -> Posting:
    """A stock-in (kind STOCK_IN: warehouse required, lines' batch_no) or a purchase return
    (RETURN: lines' reason); all lines of quantity 0 is a 422 (没有可入库/可退货的数量)."""
    noun, fields, note_field, note_length, verb = kind
    only_fields(body, fields, noun)
    po_no = text_value(body, "po_no", 20, required=True)
    assert po_no is not None
    warehouse = text_value(body, "warehouse", 20, required=True) if "warehouse" in fields \
        else None
    lines = []
    for number, item in enumerate(_items(body.get("lines")), start=1):
        where = f"第 {number} 行"
        only_fields(item, ("po_line_no", "material_code", "quantity", note_field), f"{where}明细")
        code = text_value(item, "material_code", 30, required=True)
        assert code is not None
        quantity = _quantity(item, "quantity", where)
        line = PostingLine(_int_value(item, "po_line_no", where), code, quantity,
                           text_value(item, note_field, note_length))
        if quantity > 0:
            lines.append(line)
    if not lines:
        raise ApiError(422, f"没有可{verb}的数量")
    return Posting(po_no, text_value(body, "receipt_no", 20), warehouse, lines)


def check_over_receipt(po_line_no: int, ordered: Decimal, received: Decimal,
                       this: Decimal) -> None:
    """Refuse receiving `this` on a line ordered `ordered` and received `received` so far when
    the total would pass the ordered quantity by more than OVER_RECEIPT."""
    if received + this > ordered * (1 + OVER_RECEIPT):
        raise ApiError(422, f"超收：订单行 {po_line_no} 订购 {qty_text(ordered)}，已收 "
                            f"{qty_text(received)}，本次 {qty_text(this)}，超过允许的 "
                            f"{OVER_RECEIPT:.0%}")


def order_status(lines: list[tuple[Decimal, Decimal]]) -> str:
    """A received order's status from its lines' (ordered, received): `done` when every line is
    received in full (an over-receipt within the tolerance counts), else `partial`."""
    return "done" if all(received >= ordered for ordered, received in lines) else "partial"
