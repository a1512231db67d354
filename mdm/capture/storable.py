"""What PostgreSQL can store, checked before a change event reaches the inbox.

A text column refuses the NUL character and strings that are not UTF-8; jsonb refuses `\\u0000`;
bigint columns (tx_id, lsn) hold ±2^63; the hub's JSON (orjson) takes integers of 64 bits and
finite numbers. A record that breaks one of these is kept `failed` with the reason built here,
so one bad value never fails its batch (and Debezium never redelivers that batch forever).
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
_JSON_INT_MIN, _JSON_INT_MAX = -(2**63), 2**64 - 1  # what orjson reads and writes exactly
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")


class Unstorable(ValueError):
    """A value PostgreSQL (or the hub's JSON) cannot store; the message says which and where."""


class NonFinite:
    """NaN, Infinity or a number too large for a double, as the stdlib JSON parser met it.

    Kept as a marker rather than a float: orjson would silently write a non-finite float as null.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _parse_float(text: str) -> float | NonFinite:
    number = float(text)
    return number if number - number == 0 else NonFinite(text)


def loads_exact(data: bytes | str) -> Any:
    """Parse JSON keeping integers exact at any size and marking non-finite numbers (for input
    from outside, where orjson would round a 2^70 to a float and refuse NaN for the whole body).
    Raises ValueError (json.JSONDecodeError) for text that is not JSON."""
    return json.loads(data, parse_float=_parse_float, parse_constant=NonFinite)


def dumps_lenient(value: Any) -> str:
    """JSON text of any parsed value, for a kept copy (never raises on big or odd numbers)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # beyond 64 bits, a NonFinite marker, a lone surrogate, deep nesting
        pass
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (RecursionError, ValueError):
        return '"(record not kept: nested too deeply to write back as JSON)"'


def bigint(value: Any, name: str) -> int | None:
    """`value` (a JSON number or a decimal string) as an int that fits a bigint column."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Unstorable(f"{name} {_short(value)} is not an integer")
    if isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value):
        raise Unstorable(f"{name} {_short(value)} is not an integer")
    number = int(value)
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise Unstorable(f"{name} {_short(number)} is beyond bigint (at most 2^63-1)")
    return number


def check_text(value: str, name: str, max_bytes: int | None = None) -> str:
    """`value` unchanged, or Unstorable if a text column (or, with `max_bytes`, the inbox's
    unique index, whose entries PostgreSQL limits to about 2.7 kB) cannot hold it."""
    if "\x00" in value:
        raise Unstorable(f"NUL byte in {name}")
    size = len(value)
    if not value.isascii():
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise Unstorable(f"{name} is not valid UTF-8 (a lone surrogate)") from exc
    if max_bytes is not None and size > max_bytes:
        raise Unstorable(f"{name} is {size} bytes long (at most {max_bytes})")
    return value


def storable_text(value: str) -> str:
    """`value` with what a text column refuses escaped (NUL → `\\u0000`, lone surrogates →
    `\\udXXX`): for kept copies and error messages, never for data that is processed."""
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def dump_json(value: dict[str, Any], name: str) -> str:
    """JSON text that a jsonb column takes, or Unstorable naming the first value it refuses."""
    try:
        data = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, a NonFinite marker, a lone surrogate
        raise Unstorable(first_problem(value, name) or f"{name} is not JSON") from None
    if b"\\u0000" in data:  # may also be a harmless backslash-u0000 typed as text: look
        problem = first_problem(value, name)
        if problem:
            raise Unstorable(problem)
    return data.decode()


def first_problem(value: Any, name: str) -> str | None:
    """The first value under `value` that PostgreSQL's jsonb or the hub's JSON refuses, with
    its path (`after.name`, `after.tags[2]`); None when all are storable. Iterative: a deeply
    nested document must not overflow the Python stack."""
    stack: list[tuple[str, Any]] = [(name, value)]
    while stack:
        path, item = stack.pop()
        problem = _problem_of(path, item)
        if problem:
            return problem
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_problem = _text_problem(f"a key of {path}", str(key))
                if key_problem:
                    return key_problem
                stack.append((f"{path}.{storable_text(str(key))[:40]}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def _problem_of(path: str, item: Any) -> str | None:
    if isinstance(item, str):
        return _text_problem(path, item)
    if isinstance(item, NonFinite):
        return f"{path}: {item.text[:40]} is not a finite number"
    if isinstance(item, float) and item - item != 0:
        return f"{path}: {item} is not a finite number"
    if isinstance(item, int) and not isinstance(item, bool) \
            and not _JSON_INT_MIN <= item <= _JSON_INT_MAX:
        return f"{path}: integer {_short(item)} is beyond 64 bits"
    return None


def _text_problem(path: str, text: str) -> str | None:
    try:
        check_text(text, path)
    except Unstorable as exc:
        return str(exc)
    return None


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        return text if len(text) <= 40 else f"{text[:12]}... ({len(text.lstrip('-'))} digits)"
    text = repr(value)
    return storable_text(text if len(text) <= 60 else text[:57] + "...")
