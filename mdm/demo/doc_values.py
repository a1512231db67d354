"""What the demo systems' document APIs take from a request body: exact decimals (a JSON number
or a string, never a float), dates, bounded texts and document lines, refused with a Chinese
message naming the field (the ERP's and OA's users read them). No I/O: used by
demo/erp_api.py and demo/oa_requests.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from mdm.demo.target_values import ApiError

CENT = Decimal("0.01")
# numeric(precision, scale) of the line columns, the same in the ERP and in OA
QUANTITY = (14, 3)
UNIT_PRICE = (14, 4)
MAX_LINES = 500


@dataclass(frozen=True)
class Line:
    line_no: int
    material_code: str
    quantity: Decimal
    unit_price: Decimal
    needed_by: date | None

    @property
    def amount(self) -> Decimal:
        return line_amount(self.quantity, self.unit_price)


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """round(quantity × unit_price, 2), half away from zero as PostgreSQL's round()."""
    return (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_value(value: Any, field: str, digits: tuple[int, int]) -> Decimal:
    """`value` (a JSON number kept as its text, an integer or a string) as an exact Decimal
    that fits numeric(precision, scale) without rounding."""
    text = getattr(value, "text", None)  # target_values' JSON number keeps its text
    if text is None and isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
    if text is None:
        raise ApiError(422, f"{field} 应为数字（JSON 数字或字符串），收到 {value!r}")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ApiError(422, f"{field} 不是数字：{text!r}") from None
    precision, scale = digits
    if not number.is_finite():
        raise ApiError(422, f"{field} 不是有限的数字：{text!r}")
    if number != number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP):
        raise ApiError(422, f"{field} 最多 {scale} 位小数，收到 {text}")
    if abs(number) >= Decimal(10) ** (precision - scale):
        raise ApiError(422, f"{field} 超出范围（最多 {precision - scale} 位整数）：{text}")
    return number


def date_value(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"{field} 应为日期字符串 YYYY-MM-DD，收到 {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"{field} 不是有效日期（YYYY-MM-DD）：{value!r}") from None


def text_value(body: dict[str, Any], field: str, max_length: int | None,
               required: bool = False) -> str | None:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(422, f"缺少必填字段 {field}")
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"{field} 应为字符串，收到 {value!r}")
    if max_length is not None and len(value) > max_length:
        raise ApiError(422, f"{field} 长度为 {len(value)}，最多 {max_length} 个字符")
    return value


def only_fields(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    """Refuse a body naming a field `what` does not take, naming it."""
    unknown = [f for f in body if f not in allowed]
    if unknown:
        raise ApiError(422, f"{what}不接受字段 {', '.join(map(repr, unknown))}；"
                            f"可用字段：{', '.join(allowed)}")


LINE_FIELDS = ("material_code", "quantity", "unit_price", "needed_by")


def document_lines(raw: Any) -> list[Line]:
    """The body's `lines`: at least one, each with a material code, a quantity > 0 and a unit
    price ≥ 0, numbered 1… in order."""
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "单据至少需要一行明细（lines 不能为空）")
    if len(raw) > MAX_LINES:
        raise ApiError(422, f"单据最多 {MAX_LINES} 行明细，收到 {len(raw)} 行")
    return [_line(number, item) for number, item in enumerate(raw, start=1)]


def _line(number: int, item: Any) -> Line:
    where = f"第 {number} 行"
    if not isinstance(item, dict):
        raise ApiError(422, f"{where}应为对象 {{material_code, quantity, unit_price, needed_by}}")
    only_fields(item, LINE_FIELDS, f"{where}明细")
    code = text_value(item, "material_code", 30, required=True)
    assert code is not None
    quantity = decimal_value(item.get("quantity"), f"{where} quantity", QUANTITY)
    if quantity <= 0:
        raise ApiError(422, f"{where}物料 {code} 的数量必须大于 0，收到 {quantity}")
    price = decimal_value(item.get("unit_price"), f"{where} unit_price", UNIT_PRICE)
    if price < 0:
        raise ApiError(422, f"{where}物料 {code} 的单价不能为负数，收到 {price}")
    return Line(number, code, quantity, price, date_value(item.get("needed_by"),
                                                          f"{where} needed_by"))


def total_amount(lines: list[Line]) -> Decimal:
    """Σ round(quantity × unit_price, 2) over the lines."""
    return sum((line.amount for line in lines), Decimal("0.00"))
