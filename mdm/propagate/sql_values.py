"""Values between the hub and a SQL target's columns: golden JSON values (dates and decimals
as ISO strings) as each column's Python type, and back."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa


def jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def typed(table: sa.Table, payload: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for field, value in payload.items():
        if field not in table.c:
            raise ValueError(f"table {table.fullname} has no column {field}")
        values[field] = coerce(table.c[field], value)
    return values


def coerce(column: sa.Column[Any], value: Any) -> Any:
    """The golden record's JSON value as the column's Python type (dates and decimals travel
    as ISO strings in the hub)."""
    if value is None or isinstance(column.type, sa.JSON):
        return value
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str):
        if python_type is datetime:
            return datetime.fromisoformat(value)
        if python_type is date:
            return date.fromisoformat(value)
        if python_type is time:
            return time.fromisoformat(value)
        if python_type is Decimal:
            return Decimal(value)
    if isinstance(value, (list, dict)) and python_type is str:
        import orjson

        return orjson.dumps(value).decode()
    return value
