"""What a demo target takes from a request: the JSON body (decimals kept exact), the fields a
collection accepts, and each value as the text PostgreSQL casts to its column (refused with
422 when it cannot fit). Used by demo/target_store.py and demo/targets.py."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from mdm.demo.target_schema import JSON_TYPES, READ_ONLY_COLUMNS, Collection, Column


class _JsonNumber(float):
    """A JSON number with a fraction, keeping its original text so decimals stay exact."""

    text: str

    def __new__(cls, text: str) -> _JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null", parse_float=_JsonNumber)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(422, "request body must be a JSON object of column → value")
    return body


def _check_fields(coll: Collection, key: str, body: dict[str, Any]) -> None:
    unknown = sorted(f for f in body if f not in coll.columns)
    if unknown:
        raise ApiError(422, f"unknown field(s) {', '.join(map(repr, unknown))} for collection "
                            f"{coll.name!r}; known fields: {', '.join(coll.writable)}")
    read_only = sorted(f for f in body if f in READ_ONLY_COLUMNS)
    if read_only:
        raise ApiError(422, f"field(s) {', '.join(map(repr, read_only))} are assigned by the "
                            "target and cannot be written")
    if coll.key in body and body[coll.key] is None:
        raise ApiError(422, f"field {coll.key!r} is null; it is the record's key")


def renamed_to(coll: Collection, key: str, body: dict[str, Any]) -> str | None:
    """A PUT on /<collection>/<key> whose body carries another key renames the record: the
    new key, or None for a plain upsert."""
    if coll.key in body and body[coll.key] is not None and str(body[coll.key]) != key:
        return str(body[coll.key])
    return None


def _encode(column: Column, value: Any) -> str | None:
    """The text PostgreSQL casts to the column's type; None stays NULL."""
    if value is None:
        return None
    if column.cast in JSON_TYPES:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict | list):
        raise ApiError(422, f"field {column.name!r} expects a scalar, got a JSON "
                            f"{'object' if isinstance(value, dict) else 'array'}")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, _JsonNumber):
        text = value.text
    else:
        text = str(value)
    _check_size(column, text)
    return text


def _check_size(column: Column, text: str) -> None:
    if column.max_length is not None and len(text) > column.max_length:
        raise ApiError(422, f"field {column.name!r} is {len(text)} characters long; "
                            f"at most {column.max_length} allowed")
    if column.precision is None or column.scale is None:
        return
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ApiError(422, f"field {column.name!r}: {text!r} is not a number") from None
    limit = Decimal(10) ** (column.precision - column.scale)
    if number.is_finite() and abs(round(number, column.scale)) >= limit:
        raise ApiError(422, f"field {column.name!r}: {text} does not fit "
                            f"numeric({column.precision},{column.scale})")


def prepared_values(coll: Collection, key: str, body: dict[str, Any]) -> dict[str, str | None]:
    _check_fields(coll, key, body)
    _encode(coll.columns[coll.key], key)  # the path key obeys the column's length too
    return {name: _encode(coll.columns[name], value)
            for name, value in body.items() if name != coll.key}
