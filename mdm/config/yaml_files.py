"""Reading one project file: YAML that refuses what would be silently wrong (a key written
twice, an alias cycle, a lone surrogate), validated by its pydantic model, and every problem
worded as `key.path: what was expected` — never showing a secret's value or a URL's password."""
from __future__ import annotations

import re
from pathlib import Path
from types import FunctionType
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from mdm.errors import ConfigError

KEYED_MESSAGE = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)*: ")


def _format_error(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (not allowed here)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "invalid_key" and isinstance(error.get("input"), bool):
        message = ("a key reads as a boolean: YAML takes on/off/yes/no as true/false; "
                   "quote it or use another name")
    elif error["type"] == "value_error":  # a model validator's own message
        message = message.removeprefix("Value error, ")
        if KEYED_MESSAGE.match(message):  # it names its key itself: `targets.oa.fields.x: …`
            return message if location == "(top level)" else f"{location}.{message}"
    got = error.get("input")
    suffix = f" (got {_shown(error['loc'], got)})" if error["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict) else ""
    return f"{location}: {message}{suffix}"


SECRET_KEY = re.compile(r"password|secret|token|aes_key|encrypt_key|app_key|credential", re.I)
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _shown(loc: tuple[Any, ...], value: Any) -> str:
    """A refused value as an error may show it: never a secret's, nor a URL's password."""
    if loc and SECRET_KEY.search(str(loc[-1])):
        return "a secret, not shown"
    return URL_PASSWORD.sub(r"\1***@", repr(value))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, display: str) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(display, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(display, [f"not UTF-8 text (byte {exc.start}: {exc.reason})"]) from exc
    except RecursionError as exc:
        raise ConfigError(display, ["not valid YAML (nested too deeply)"]) from exc
    except Exception as exc:  # noqa: BLE001 — PyYAML's constructors raise ValueError,
        # TypeError, KeyError … for values it parsed but cannot build (a 2026-02-30 date,
        # `!!int x`, a list as a mapping key): the file is wrong, not the loader.
        raise ConfigError(display, [f"not valid YAML ({type(exc).__name__}: {exc})"]) from exc
    if _is_cyclic(data):
        raise ConfigError(display, ["an alias refers to the mapping or list that contains it "
                                    "(a cycle); write the value out"])
    if not isinstance(data, dict):
        raise ConfigError(display, ["expected a mapping of keys at the top level"])
    broken = _surrogate_at(data, ())
    if broken is not None:
        raise ConfigError(display, [f"{'.'.join(broken) or '(top level)'}: a \\ud800-style escape "
                                    "(a lone UTF-16 surrogate) is not text; write the character"])
    return data


def _surrogate_at(node: Any, at: tuple[str, ...]) -> tuple[str, ...] | None:
    """The key path of the first key or string holding a lone surrogate (YAML's "\\ud800"),
    which no UTF-8 text can carry; None if there is none."""
    if isinstance(node, str):
        return at if any("\ud800" <= c <= "\udfff" for c in node) else None
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, list) else ())
    for key, value in items:
        here = (*at, str(key).encode("utf-8", "backslashreplace").decode("utf-8"))
        if isinstance(key, str) and _surrogate_at(key, here) is not None:
            return here
        found = _surrogate_at(value, here)
        if found is not None:
            return found
    return None


def _is_cyclic(data: Any) -> bool:
    """Whether YAML aliases made a container hold itself (`&x [*x]`): validation would recurse."""
    on_path: set[int] = set()

    def visit(node: Any) -> bool:
        if not isinstance(node, dict | list):
            return False
        if id(node) in on_path:
            return True
        on_path.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        found = any(visit(child) for child in children)
        on_path.discard(id(node))
        return found

    try:
        return visit(data)
    except RecursionError:  # nested deeper than Python recurses: as bad as a cycle
        return True


def parse_file(path: Path, display: str, model: Any) -> Any:
    """`model` may be a function choosing the schema from the file's data (cdc/: cdc_model)."""
    data = read_yaml(path, display)
    if isinstance(model, FunctionType):
        try:
            model = model(data)
        except ValueError as exc:
            raise ConfigError(display, [str(exc)]) from exc
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        errors = [_untagged(e, data.get("kind")) for e in exc.errors()]
        raise ConfigError(display, [_format_error(e) for e in errors]) from exc


def _untagged(error: Any, kind: Any) -> Any:
    """A union's error located under its tag (`sql.timeout_s`) as the file has it (`timeout_s`)."""
    loc = error["loc"]
    if isinstance(kind, str) and len(loc) > 1 and loc[0] == kind:
        return {**error, "loc": loc[1:]}
    return error
