"""Row filters evaluated on captured row images and on golden rows (the tree parsed by
mdm/config/row_filter.py): a `where:` of an entity, a child list or a flow.

Evaluation follows SQL: NULL is unknown (three-valued logic), and a row passes only when the
condition is TRUE. Values are compared as Debezium sends them (decimals as exact strings,
dates and timestamps as ISO strings): a number against a numeric string compares as numbers,
two ISO date/time strings compare as instants, a boolean against 'true'/'f'… as booleans.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from mdm.config.row_filter import (Column, Comparison, Condition, Constant, Logical, Membership,
                                   Negation, NullTest, Pattern, Range, RowFilter, TruthTest,
                                   Value, as_instant)

_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOLEAN_WORDS = {"true": True, "t": True, "yes": True, "on": True, "1": True,
                  "false": False, "f": False, "no": False, "off": False, "0": False}


class RowValueError(ValueError):
    """A row whose values the filter cannot judge (a text compared with a number …)."""


def matches(row_filter: RowFilter, row: Mapping[str, Any]) -> bool:
    """Whether the row passes (the condition is TRUE; FALSE and NULL do not). Raises
    RowValueError naming the column when a value cannot be judged or is absent."""
    result = _evaluate(row_filter.condition, row)
    if result is not None and not isinstance(result, bool):
        raise RowValueError(f"{row_filter.sql} gives {result!r}, not a boolean")
    return result is True


def _evaluate(node: Condition, row: Mapping[str, Any]) -> Any:
    match node:
        case Column() | Constant():
            return _fetch(node, row)
        case Logical("and", operands):
            results = [_truth(_evaluate(o, row)) for o in operands]
            return False if False in results else None if None in results else True
        case Logical(_, operands):
            results = [_truth(_evaluate(o, row)) for o in operands]
            return True if True in results else None if None in results else False
        case Negation(operand):
            result = _truth(_evaluate(operand, row))
            return None if result is None else not result
        case Comparison(op, left, right):
            order = _order(_fetch(left, row), _fetch(right, row))
            return None if order is None else _OPERATORS[op](order)
        case Membership(operand, options):
            return _member(_fetch(operand, row), [_fetch(o, row) for o in options])
        case NullTest(operand, negate):
            return (_fetch(operand, row) is None) != negate
        case TruthTest(operand, value, negate):
            return (_truth(_fetch(operand, row)) is value) != negate
        case Pattern(operand, pattern, negate, ignore_case):
            return _like(_fetch(operand, row), _fetch(pattern, row), negate, ignore_case)
        case Range(operand, low, high):
            value = _fetch(operand, row)
            above, below = _order(value, _fetch(low, row)), _order(value, _fetch(high, row))
            return _evaluate_and(None if above is None else above >= 0,
                                 None if below is None else below <= 0)
    raise AssertionError(node)  # pragma: no cover


_OPERATORS = {"=": lambda o: o == 0, "<>": lambda o: o != 0, "<": lambda o: o < 0,
              "<=": lambda o: o <= 0, ">": lambda o: o > 0, ">=": lambda o: o >= 0}


def _evaluate_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _fetch(node: Value, row: Mapping[str, Any]) -> Any:
    if isinstance(node, Constant):
        return node.value
    if node.name not in row:
        raise RowValueError(f"column {node.name} (read by where:) is not in the row")
    return row[node.name]


def _truth(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RowValueError(f"{value!r} is not a boolean")


def _member(value: Any, options: list[Any]) -> bool | None:
    unknown = value is None
    for option in options:
        order = _order(value, option)
        if order == 0:
            return True
        unknown = unknown or order is None
    return None if unknown else False


def _like(value: Any, pattern: Any, negate: bool, ignore_case: bool) -> bool | None:
    if value is None or pattern is None:
        return None
    if not isinstance(value, str) or not isinstance(pattern, str):
        raise RowValueError(f"LIKE needs text, got {value!r} LIKE {pattern!r}")
    found = _like_regex(pattern, ignore_case).fullmatch(value) is not None
    return found != negate


@lru_cache(maxsize=256)
def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """PostgreSQL's LIKE: % any text, _ one character, backslash escapes the next one."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 comparing two values the SQL way, None when either is NULL."""
    if a is None or b is None:
        return None
    left, right = _comparable(a, b)
    return int(left > right) - int(left < right)


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, bool) or isinstance(b, bool):
        return _as_boolean(a), _as_boolean(b)
    if _is_number(a) or _is_number(b):
        return _as_number(a), _as_number(b)
    if isinstance(a, str) and isinstance(b, str):
        if _ISO_START.match(a) and _ISO_START.match(b):
            instants = as_instant(a), as_instant(b)
            if instants[0] is not None and instants[1] is not None:
                return instants
        return a, b
    raise RowValueError(f"cannot compare {_short(a)} with {_short(b)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.strip().lower()]
    raise RowValueError(f"{_short(value)} is not a boolean")


def _as_number(value: Any) -> Decimal:
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise RowValueError(f"{_short(value)} is not a number") from None
    if not number.is_finite():
        raise RowValueError(f"{_short(value)} is not a finite number")
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
