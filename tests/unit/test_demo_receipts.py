"""Flow 2's document bodies in the demo systems, without I/O: pre-receipts, receipts, stock-ins
and returns, the over-receipt tolerance, the order's status and the CLI's receipt lines."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import typer

from mdm.cli.demo_receipts import parse_receipt_line
from mdm.demo.receipt_values import (
    RETURN,
    STOCK_IN,
    check_over_receipt,
    order_status,
    parse_posting,
    parse_pre_receipt,
    parse_receipt,
    qty_text,
)
from mdm.demo.target_values import ApiError, parse_body


def _refused(call, *args) -> tuple[int, str]:
    with pytest.raises(ApiError) as refused:
        call(*args)
    return refused.value.status, refused.value.detail


def test_a_pre_receipt_keeps_po_line_numbers_and_exact_quantities():
    pre = parse_pre_receipt(parse_body(
        b'{"po_no": "4500000001", "supplier_no": "S0001", "expected_date": "2026-12-20", '
        b'"lines": [{"line_no": 2, "item_code": "M-1002", "quantity": 0.1}, '
        b'{"line_no": 1, "item_code": "M-1003", "quantity": "12"}]}'))
    assert (pre.po_no, pre.supplier_no, pre.expected_date) == ("4500000001", "S0001",
                                                               date(2026, 12, 20))
    assert [(ln.line_no, ln.item_code, ln.quantity) for ln in pre.lines] == [
        (2, "M-1002", Decimal("0.1")), (1, "M-1003", Decimal(12))]


@pytest.mark.parametrize(("lines", "message"), [
    ([], "单据至少需要一行明细（lines 不能为空）"),
    ([{"line_no": 1, "item_code": "M-1", "quantity": "-1"}], "第 1 行物料 M-1 的数量必须大于 0，收到 -1"),
    ([{"line_no": 0, "item_code": "M-1", "quantity": "1"}], "第 1 行的 line_no 应为正整数，收到 0"),
    ([{"line_no": True, "item_code": "M-1", "quantity": "1"}],
     "第 1 行的 line_no 应为正整数，收到 True"),
    ([{"line_no": 1, "item_code": "M-1", "quantity": "1"},
      {"line_no": 1, "item_code": "M-2", "quantity": "1"}], "line_no 1 出现了两次"),
    ([{"line_no": 1, "item_code": "M-1", "quantity": "1", "price": 2}],
     "第 1 行明细不接受字段 'price'；可用字段：line_no, item_code, quantity"),
])
def test_a_pre_receipt_with_bad_lines_is_refused_naming_the_line(lines, message):
    assert _refused(parse_pre_receipt, {"po_no": "4500000001", "lines": lines}) == (422, message)


def test_a_receipt_line_defaults_accepted_to_received_less_rejected():
    receipt = parse_receipt({"po_no": "4500000001", "lines": [
        {"po_line_no": 1, "received_qty": "20.5", "rejected_qty": "2", "reject_reason": "破损"},
        {"po_line_no": 2, "item_code": "M-1002", "received_qty": 3, "accepted_qty": 3}]})
    assert (receipt.warehouse, receipt.pre_no) == ("WH01", None)
    assert [(ln.line_no, ln.po_line_no, ln.item_code, ln.received_qty, ln.accepted_qty,
             ln.rejected_qty, ln.reject_reason) for ln in receipt.lines] == [
        (1, 1, None, Decimal("20.5"), Decimal("18.5"), Decimal(2), "破损"),
        (2, 2, "M-1002", Decimal(3), Decimal(3), Decimal(0), None)]


def test_a_receipt_whose_quantities_do_not_add_up_or_bring_nothing_is_refused():
    assert _refused(parse_receipt, {"po_no": "1", "lines": [
        {"po_line_no": 1, "received_qty": "10", "accepted_qty": "9", "rejected_qty": "0.5"}]}
    ) == (422, "第 1 行合格数量 9 加不合格数量 0.5 不等于收货数量 10")
    assert _refused(parse_receipt, {"po_no": "1", "lines": [
        {"po_line_no": 1, "received_qty": "0"}]}) == (422, "收货数量全部为 0：没有收到任何货物")
    assert _refused(parse_receipt, {"po_no": "1", "lines": [
        {"po_line_no": 1, "received_qty": "-1"}]}) == (
        422, "第 1 行的 received_qty 不能为负数，收到 -1")


def test_a_stock_in_drops_zero_lines_and_needs_a_warehouse():
    posting = parse_posting({"po_no": "4500000001", "receipt_no": "GR00000001",
                             "warehouse": "WH01", "lines": [
                                 {"po_line_no": 1, "material_code": "M-1", "quantity": "0"},
                                 {"po_line_no": 2, "material_code": "M-2", "quantity": "1.5",
                                  "batch_no": "B1"}]}, STOCK_IN)
    assert [(ln.po_line_no, ln.quantity, ln.note) for ln in posting.lines] == [
        (2, Decimal("1.5"), "B1")]
    zero = {"po_no": "1", "warehouse": "WH01",
            "lines": [{"po_line_no": 1, "material_code": "M-1", "quantity": 0}]}
    assert _refused(parse_posting, zero, STOCK_IN) == (422, "没有可入库的数量")
    assert _refused(parse_posting, {**zero, "warehouse": None}, STOCK_IN) == (
        422, "缺少必填字段 warehouse")


def test_a_return_takes_reasons_and_no_warehouse():
    body = {"po_no": "1", "lines": [{"po_line_no": 1, "material_code": "M-1", "quantity": "2",
                                     "reason": "包装破损"}]}
    posting = parse_posting(body, RETURN)
    assert (posting.warehouse, posting.lines[0].note) == (None, "包装破损")
    assert _refused(parse_posting, {**body, "warehouse": "WH01"}, RETURN)[0] == 422
    assert _refused(parse_posting, {**body, "lines": [{**body["lines"][0], "quantity": "0"}]},
                    RETURN) == (422, "没有可退货的数量")


def test_an_over_receipt_is_allowed_up_to_ten_percent():
    check_over_receipt(1, Decimal(100), Decimal(95), Decimal(15))  # 110: the limit
    check_over_receipt(1, Decimal("0.3"), Decimal("0.1"), Decimal("0.23"))  # 0.33
    assert _refused(check_over_receipt, 2, Decimal(100), Decimal(95), Decimal(20)) == (
        422, "超收：订单行 2 订购 100.000，已收 95.000，本次 20.000，超过允许的 10%")
    assert _refused(check_over_receipt, 1, Decimal("0.3"), Decimal("0.1"), Decimal("0.231"))[0] \
        == 422
    assert qty_text(Decimal("0.1") + Decimal("0.2")) == "0.300"


def test_an_order_is_done_when_every_line_is_received_in_full():
    assert order_status([(Decimal(100), Decimal(100)), (Decimal(5), Decimal("5.5"))]) == "done"
    assert order_status([(Decimal(100), Decimal(110)), (Decimal(5), Decimal("4.999"))]) \
        == "partial"
    assert order_status([(Decimal(1), Decimal(0))]) == "partial"


def test_the_cli_receipt_line_syntax():
    assert parse_receipt_line("1:80:80", "B1") == {
        "po_line_no": 1, "received_qty": "80", "accepted_qty": "80", "rejected_qty": "0",
        "batch_no": "B1"}
    assert parse_receipt_line("2:20.5:18.5:2:包装破损:有水渍", None) == {
        "po_line_no": 2, "received_qty": "20.5", "accepted_qty": "18.5", "rejected_qty": "2",
        "reject_reason": "包装破损:有水渍"}
    assert parse_receipt_line("3:10:7", None)["rejected_qty"] == "3"
    for bad in ("1:80", "x:1:1", "1:many:1"):
        with pytest.raises(typer.BadParameter):
            parse_receipt_line(bad, None)
