"""Flows 3 and 4's document arithmetic without I/O: FIFO allocation of batch stock (the
shortage), the bodies' refusals, the states, and the `mdm demo erp|wms` line syntax."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import typer

from mdm.cli.demo_outbound import parse_pick_line, parse_sales_line, parse_ship_line
from mdm.demo.outbound_values import Batch, allocate_fifo, list_status, order_status, \
    parse_pick_task, parse_shipment, parse_stock_issue
from mdm.demo.target_values import ApiError

D = Decimal


def test_fifo_takes_the_oldest_batch_first_whatever_the_order_given() -> None:
    newer = Batch("B2", date(2026, 11, 2), D("20"))
    older = Batch("B1", date(2026, 11, 1), D("10"))
    taken, short = allocate_fifo(D("25"), [newer, older])
    assert [(b.batch_no, q) for b, q in taken] == [("B1", D("10")), ("B2", D("15"))]
    assert short == 0


def test_fifo_needs_50_with_30_in_stock_is_30_taken_and_20_short() -> None:
    taken, short = allocate_fifo(D("50"), [Batch("B1", date(2026, 11, 1), D("10")),
                                           Batch("B2", date(2026, 11, 2), D("20"))])
    assert sum(q for _, q in taken) == D("30") and short == D("20")


def test_fifo_same_day_by_batch_number_and_empty_batches_skipped() -> None:
    day = date(2026, 11, 1)
    taken, short = allocate_fifo(D("0.5"), [Batch("B9", day, D("1")), Batch("B0", day, D("0")),
                                            Batch("B3", day, D("1"))])
    assert [(b.batch_no, q) for b, q in taken] == [("B3", D("0.5"))] and short == 0


def test_states() -> None:
    assert list_status([(D("40"), D("40")), (D("10"), D("10"))]) == "picked"
    assert list_status([(D("50"), D("30"))]) == "short"
    assert order_status([(D("3"), D("3")), (D("2.5"), D("2"))]) == "partial"
    assert order_status([(D("3"), D("3"))]) == "shipped"


def test_bodies_refuse_in_chinese() -> None:
    with pytest.raises(ApiError, match="出现了两次"):
        parse_pick_task({"pick_list_no": "LL1", "lines": [
            {"line_no": 1, "item_code": "M-1", "quantity": 1},
            {"line_no": 1, "item_code": "M-2", "quantity": 1}]})
    with pytest.raises(ApiError, match="没有可出库的数量"):
        parse_stock_issue({"pick_list_no": "LL1", "lines": [
            {"line_no": 1, "material_code": "M-1", "quantity": 0}]})
    with pytest.raises(ApiError, match="shipped_at 不是有效时间"):
        parse_shipment({"so_no": "SO1", "shipped_at": "yesterday", "lines": [
            {"line_no": 1, "material_code": "M-1", "quantity": 1}]})
    with pytest.raises(ApiError, match="最多 3 位小数"):
        parse_stock_issue({"pick_list_no": "LL1", "lines": [
            {"line_no": 1, "material_code": "M-1", "quantity": "1.0001"}]})


def test_cli_line_syntax() -> None:
    assert parse_pick_line("1:12.5:B20261008-01") == {"line_no": 1, "picked_qty": "12.5",
                                                      "batch_no": "B20261008-01"}
    assert parse_sales_line("M-1021:12:368.50") == {"material_code": "M-1021", "quantity": "12",
                                                    "unit_price": "368.50"}
    assert parse_ship_line("2:1.5") == {"line_no": 2, "shipped_qty": "1.5"}
    for bad, parse in (("x:1", parse_pick_line), ("M-1:2", parse_sales_line),
                       ("2", parse_ship_line)):
        with pytest.raises(typer.BadParameter):
            parse(bad)
