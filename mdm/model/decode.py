"""Decode Debezium's column encodings into the golden record's canonical JSON values.

Capture runs Debezium with `decimal.handling.mode=string` and `time.precision.mode=isostring`:
decimals arrive as exact strings ("12.5000"), dates as "2026-11-25Z", timestamps without time
zone as "2026-11-25T10:11:12.123456Z" (wall-clock time, the Z means nothing), timestamps with
time zone as UTC ISO strings; float8/real as JSON numbers ("NaN" and "Infinity" as strings).
Canonical forms: decimal → string keeping the column's scale; float → an int when integral
(500.0 → 500), else the float (written as its shortest repr: 0.1 stays 0.1), never NaN or
infinity, so a value compares equal to the same number echoed back in any of these forms;
date → "YYYY-MM-DD"; timestamp → naive ISO; timestamptz → ISO with "+00:00".
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

UNAVAILABLE = "__debezium_unavailable_value"  # Debezium's placeholder for an unchanged TOAST value
EPOCH = date(1970, 1, 1)
# Integral floats below this become ints: exact (a double's integral value is an integer), and
# within the 64 bits the hub's JSON (orjson) writes; larger ones stay floats.
FLOAT_AS_INT_BELOW = 2**63


class DecodeError(ValueError):
    """The value does not fit the attribute's declared type."""


def _strip_z(value: str) -> str:
    return value[:-1] if value.endswith("Z") else value


def _string(raw: Any) -> Any:
    if isinstance(raw, (dict, list)):
        raise DecodeError(f"expected text, got {type(raw).__name__}")
    return raw if isinstance(raw, str) else str(raw)


def _integer(raw: Any) -> Any:
    if isinstance(raw, bool):
        raise DecodeError("expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    raise DecodeError(f"expected an integer, got {raw!r}")


def _decimal(raw: Any) -> Any:
    if isinstance(raw, bool):
        raise DecodeError("expected a decimal, got a boolean")
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise DecodeError(f"expected a decimal, got {raw!r}") from exc
    if not value.is_finite():
        raise DecodeError(f"expected a finite decimal, got {raw!r}")
    return str(value)


def _float(raw: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise DecodeError(f"expected a number, got {type(raw).__name__} {raw!r}")
    try:
        value = float(raw)
    except (ValueError, OverflowError) as exc:
        raise DecodeError(f"expected a number, got {str(raw)[:40]!r}") from exc
    if not math.isfinite(value):
        raise DecodeError(f"expected a finite number, got {raw!r}: JSON has no NaN or "
                          "infinity, so the golden record cannot hold it (store NULL instead)")
    if value.is_integer() and abs(value) < FLOAT_AS_INT_BELOW:
        return int(value)  # 500.0 and 500 are one value; -0.0 is 0
    return value


def _boolean(raw: Any) -> Any:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "t", "false", "f"):
        return raw.lower() in ("true", "t")
    raise DecodeError(f"expected a boolean, got {raw!r}")


def _date(raw: Any) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):  # io.debezium.time.Date: epoch days
        return (EPOCH + timedelta(days=raw)).isoformat()
    try:
        return date.fromisoformat(_strip_z(str(raw))).isoformat()
    except ValueError as exc:
        raise DecodeError(f"expected a date, got {raw!r}") from exc


def _timestamp(raw: Any) -> Any:
    try:
        value = datetime.fromisoformat(_strip_z(str(raw)))
    except ValueError as exc:
        raise DecodeError(f"expected a timestamp, got {raw!r}") from exc
    return value.replace(tzinfo=None).isoformat()


def _timestamptz(raw: Any) -> Any:
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise DecodeError(f"expected a timestamp with time zone, got {raw!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _time(raw: Any) -> Any:
    try:
        return time.fromisoformat(_strip_z(str(raw))).isoformat()
    except ValueError as exc:
        raise DecodeError(f"expected a time of day, got {raw!r}") from exc


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise DecodeError(f"expected JSON, got {raw[:40]!r}") from exc
    return raw


DECODERS: dict[str, Callable[[Any], Any]] = {
    "string": _string, "integer": _integer, "decimal": _decimal, "float": _float,
    "boolean": _boolean,
    "date": _date, "timestamp": _timestamp, "timestamptz": _timestamptz, "time": _time,
    "json": _json,
}


def decode(attribute_type: str, raw: Any) -> Any:
    """Decode one column value; None stays None. Raises DecodeError with what was expected."""
    if raw is None:
        return None
    return DECODERS[attribute_type](raw)
