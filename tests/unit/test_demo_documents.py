"""The demo systems' document bodies, without I/O: exact decimals, lines, the ERP's order and the
CLI's line syntax."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import typer

from mdm.cli.demo_oa import parse_line
from mdm.demo.doc_values import (
    QUANTITY,
    UNIT_PRICE,
    decimal_value,
    document_lines,
    line_amount,
    total_amount,
)
from mdm.demo.erp_api import parse_order
from mdm.demo.target_values import ApiError, parse_body


def test_json_numbers_and_strings_become_exact_decimals():
    body = parse_body(b'{"a": 0.1, "b": "3.2000", "c": 12, "d": 1e2}')
    assert decimal_value(body["a"], "a", UNIT_PRICE) == Decimal("0.1")
    assert str(decimal_value(body["b"], "b", UNIT_PRICE)) == "3.2000"
    assert decimal_value(body["c"], "c", QUANTITY) == Decimal(12)
    assert decimal_value(body["d"], "d", QUANTITY) == Decimal(100)


@pytest.mark.parametrize(("value", "message"), [
    ("1.2345", "quantity 最多 3 位小数，收到 1.2345"),
    ("abc", "quantity 不是数字：'abc'"),
    (True, "quantity 应为数字（JSON 数字或字符串），收到 True"),
    (None, "quantity 应为数字（JSON 数字或字符串），收到 None"),
    ("NaN", "quantity 不是有限的数字：'NaN'"),
    ("100000000000", "quantity 超出范围（最多 11 位整数）：100000000000"),
])
def test_a_value_that_is_no_exact_decimal_of_the_column_is_refused(value, message):
    with pytest.raises(ApiError) as refused:
        decimal_value(value, "quantity", QUANTITY)
    assert (refused.value.status, refused.value.detail) == (422, message)


def test_amounts_round_half_away_from_zero_to_cents_without_floats():
    assert line_amount(Decimal("12.5"), Decimal("3.2000")) == Decimal("40.00")
    assert line_amount(Decimal("3"), Decimal("3.3")) == Decimal("9.90")  # floats: 9.899…
    assert line_amount(Decimal("1"), Decimal("0.005")) == Decimal("0.01")
    assert line_amount(Decimal("1"), Decimal("0.0049")) == Decimal("0.00")
    lines = document_lines([{"material_code": "M-1", "quantity": "12.5", "unit_price": "3.2"},
                            {"material_code": "M-2", "quantity": "1", "unit_price": "0.005"}])
    assert str(total_amount(lines)) == "40.01"


def test_lines_are_numbered_in_order_and_checked():
    lines = document_lines([{"material_code": "M-1002", "quantity": "2", "unit_price": "0",
                             "needed_by": "2026-12-20"},
                            {"material_code": "M-1003", "quantity": 1, "unit_price": 5}])
    assert [(ln.line_no, ln.material_code, ln.needed_by) for ln in lines] == [
        (1, "M-1002", date(2026, 12, 20)), (2, "M-1003", None)]
    for raw, message in [
        ([], "单据至少需要一行明细（lines 不能为空）"),
        (None, "单据至少需要一行明细（lines 不能为空）"),
        ([{"material_code": "M-1", "quantity": "-1", "unit_price": "1"}],
         "第 1 行物料 M-1 的数量必须大于 0，收到 -1"),
        ([{"material_code": "M-1", "quantity": "1", "unit_price": "-1"}],
         "第 1 行物料 M-1 的单价不能为负数，收到 -1"),
        ([{"quantity": "1", "unit_price": "1"}], "缺少必填字段 material_code"),
        ([{"material_code": "M-1", "quantity": "1", "unit_price": "1", "needed_by": "12/20"}],
         "第 1 行 needed_by 不是有效日期（YYYY-MM-DD）：'12/20'"),
        ([{"material_code": "M-1", "quantity": "1", "unit_price": "1", "qty": 1}],
         "第 1 行明细不接受字段 'qty'；可用字段：material_code, quantity, unit_price, needed_by"),
    ]:
        with pytest.raises(ApiError) as refused:
            document_lines(raw)
        assert refused.value.detail == message


def test_an_order_body_names_its_supplier_and_takes_no_unknown_field():
    order = parse_order(json.loads('{"supplier_code": "S0001", "request_no": "PR-1", '
                                   '"lines": [{"material_code": "M-1", "quantity": "1", '
                                   '"unit_price": "2"}]}'))
    assert (order.supplier_code, order.request_no, order.buyer, len(order.lines)) == (
        "S0001", "PR-1", None, 1)
    with pytest.raises(ApiError, match="缺少必填字段 supplier_code"):
        parse_order({"lines": []})
    with pytest.raises(ApiError, match="采购订单不接受字段 'vendor'"):
        parse_order({"vendor": "S0001"})
    with pytest.raises(ApiError, match="buyer 长度为 61，最多 60 个字符"):
        parse_order({"supplier_code": "S0001", "buyer": "x" * 61, "lines": []})


def test_the_cli_line_syntax():
    assert parse_line("M-1002:12.5:3.20") == {"material_code": "M-1002", "quantity": "12.5",
                                              "unit_price": "3.20"}
    assert parse_line("M-1002:1:2:2026-12-20")["needed_by"] == "2026-12-20"
    for bad in ("M-1002:12.5", "M-1002:x:1", ":1:2", "M-1:1:2:3:4"):
        with pytest.raises(typer.BadParameter):
            parse_line(bad)
