"""The demo ERP's stock consumer reads the hub's envelope into an erp_stock row: quantities as
exact decimals (strings or JSON numbers), a retirement as an inactive zero level, and anything
else as Malformed (rejected, never retried)."""
from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from mdm.demo.erp_stock_consumer import Malformed, stock_row
from mdm.demo.stock import stock_levels

ENVELOPE = {"entity": "stock_level", "key": "M-1002@WH01", "golden_id": 41, "version": 3,
            "operation": "upsert", "status": "active", "idempotency_key": "mdm-g41-v3-erp_mq",
            "data": {"material_code": "M-1002", "warehouse": "WH01", "on_hand": "1234.567",
                     "reserved": "0.001"}}


def test_an_envelope_is_a_row_with_exact_decimals_and_the_message_id():
    row = stock_row(orjson.dumps(ENVELOPE), "mdm-g41-v3-erp_mq")
    assert row == {"material_code": "M-1002", "warehouse": "WH01", "on_hand": Decimal("1234.567"),
                   "reserved": Decimal("0.001"), "active": True, "golden_id": 41, "version": 3,
                   "message_id": "mdm-g41-v3-erp_mq"}


def test_json_numbers_keep_the_digits_that_were_sent():
    body = {**ENVELOPE, "data": {**ENVELOPE["data"], "on_hand": 0.1, "reserved": 7}}
    row = stock_row(orjson.dumps(body), None)
    assert (row["on_hand"], row["reserved"]) == (Decimal("0.1"), Decimal("7"))
    assert row["message_id"] == "mdm-g41-v3-erp_mq"  # no message id: the envelope's key


def test_a_retirement_is_an_inactive_zero_level():
    row = stock_row(orjson.dumps({**ENVELOPE, "operation": "retire", "status": "retired"}), "x")
    assert (row["active"], row["on_hand"], row["reserved"]) == (False, 0, 0)


@pytest.mark.parametrize("body", [b"not json", b"[]", orjson.dumps({**ENVELOPE, "data": {}}),
                                  orjson.dumps({**ENVELOPE, "version": "v3"}),
                                  orjson.dumps({**ENVELOPE, "data": {**ENVELOPE["data"],
                                                                     "on_hand": "lots"}})])
def test_anything_else_is_malformed(body: bytes):
    with pytest.raises(Malformed):
        stock_row(body, "x")


def test_seeded_levels_are_per_material_and_warehouse_with_reserved_within_on_hand():
    levels = stock_levels([f"M-{1001 + i}" for i in range(12)])
    assert len({(item, wh) for item, wh, _, _ in levels}) == len(levels)
    assert {wh for _, wh, _, _ in levels} == {"WH01", "WH02", "WH03"}
    assert all(0 <= reserved <= on_hand and on_hand.as_tuple().exponent >= -3
               for _, _, on_hand, reserved in levels)
