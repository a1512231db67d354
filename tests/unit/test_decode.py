"""Debezium's encodings (decimal.handling.mode=string, time.precision.mode=isostring) decode
to the golden record's canonical values."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdm.model.decode import DecodeError, decode


def test_decimal_keeps_its_scale_exactly():
    assert decode("decimal", "12.5000") == "12.5000"
    assert decode("decimal", "-0.0001") == "-0.0001"
    assert decode("decimal", "12345678901234.99") == "12345678901234.99"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_decimal_round_trips_any_value(value: Decimal):
    assert Decimal(decode("decimal", str(value))) == value


def test_date_from_isostring_and_epoch_days():
    assert decode("date", "2026-11-25Z") == "2026-11-25"
    assert decode("date", 20417) == (date(1970, 1, 1) + timedelta(days=20417)).isoformat()


def test_timestamp_without_time_zone_keeps_wall_clock_time():
    assert decode("timestamp", "2026-11-25T10:11:12.123456Z") == "2026-11-25T10:11:12.123456"


def test_timestamptz_is_normalised_to_utc():
    assert decode("timestamptz", "2026-11-25T02:11:12.500000Z") == "2026-11-25T02:11:12.500000+00:00"
    assert decode("timestamptz", "2026-11-25T10:11:12.5+08:00") == "2026-11-25T02:11:12.500000+00:00"


@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamptz_round_trips(value: datetime):
    encoded = value.isoformat().replace("+00:00", "Z")
    assert datetime.fromisoformat(decode("timestamptz", encoded)) == value


def test_time_and_boolean_and_json():
    assert decode("time", "08:30:00Z") == "08:30:00"
    assert decode("boolean", True) is True
    assert decode("json", '{"a": 1}') == {"a": 1}


def test_none_stays_none():
    assert decode("integer", None) is None


@pytest.mark.parametrize("type_, raw", [("integer", "abc"), ("decimal", "1,5"), ("date", "25/11/2026"),
                                        ("boolean", "yes"), ("decimal", "NaN"), ("integer", True)])
def test_wrong_values_raise_with_what_was_expected(type_: str, raw: object):
    with pytest.raises(DecodeError, match="expected"):
        decode(type_, raw)


def test_float_is_an_int_when_integral_else_its_shortest_float():
    assert decode("float", 500.0) == 500 and isinstance(decode("float", 500.0), int)
    assert decode("float", 500) == 500
    assert decode("float", 0.1) == 0.1 and repr(decode("float", 0.1)) == "0.1"
    assert decode("float", "500.00") == 500  # a target's numeric(10,2) echo of the same value
    assert decode("float", "1e-7") == 1e-7
    assert decode("float", -0.0) == 0
    assert decode("float", 2.0**60) == 2**60  # still exact: integral doubles are integers


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trips_through_json_and_every_echo_form(value: float):
    import json

    canonical = decode("float", value)
    assert canonical == value
    for echo in (value, repr(value), json.loads(json.dumps(canonical))):
        assert decode("float", echo) == canonical


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity",
                                 "-Infinity"])
def test_float_refuses_nan_and_infinity_with_a_reason(raw: object):
    with pytest.raises(DecodeError, match="finite number.*JSON has no NaN or infinity"):
        decode("float", raw)


@pytest.mark.parametrize("raw", [True, "abc", [1.5], 10**400])
def test_float_refuses_what_is_no_number(raw: object):
    with pytest.raises(DecodeError, match="expected a number"):
        decode("float", raw)
