"""`mdm demo oa claim`'s line syntax and which OA collection a document number names."""
from __future__ import annotations

import pytest
import typer

from mdm.cli.demo_finance import collection_of, parse_claim_line


def test_a_claim_line_keeps_its_amount_as_written_and_its_optional_parts():
    assert parse_claim_line("差旅费:1280.50") == {"expense_type": "差旅费", "amount": "1280.50"}
    assert parse_claim_line("业务招待费:356:04403312:客户午餐: 三人") == {
        "expense_type": "业务招待费", "amount": "356", "invoice_no": "04403312",
        "description": "客户午餐: 三人"}


@pytest.mark.parametrize("text", ["差旅费", ":12", "差旅费:十二"])
def test_a_claim_line_without_a_type_or_a_numeric_amount_is_refused(text: str):
    with pytest.raises(typer.BadParameter):
        parse_claim_line(text)


def test_numbers_name_their_collection():
    assert collection_of("BX-20261202-0001") == "/api/expense-claims"
    assert collection_of("PAY-20261202-0001") == "/api/payment-requests"
    assert collection_of("PR-20261202-0001") is None
