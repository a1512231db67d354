"""Property: whatever is done to the real project files (a key deleted, renamed or added, a
value replaced by one of another type, the text cut or garbled), loading the project either
succeeds or raises ConfigError naming a project file and what is wrong there — never another
exception (a traceback for the operator instead of `file: key: what was expected`)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.errors import ConfigError
from mdm.runtime.settings import REPO_ROOT

FILES = sorted(str(p.relative_to(REPO_ROOT)) for folder in PROJECT_FOLDERS
               for p in (REPO_ROOT / folder).glob("*.yaml"))
SETTINGS = settings(max_examples=120, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow])

# Values of every YAML type, including the ones pydantic and the loader see least often.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["", " ", "~", "null", "yes", "on", "1e400", "2026-02-30",
                                            "${UNSET_VARIABLE}", "public.", ".", "a.b.c", "é中文",
                                            "\t", "-", "*", "&", "!!str", "id", "code"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers(),
                                                           st.booleans()), inner, max_size=4)),
    max_leaves=8)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a parsed YAML document (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def structural_mutation(draw: st.DrawFn, data: Any) -> Any:
    """Delete, replace, rename or add one key somewhere in the document."""
    paths = [p for p in _paths(data) if p]
    if not paths:
        return draw(values)
    path = draw(st.sampled_from(paths))
    parent, last = _parent(data, path), path[-1]
    kind = draw(st.sampled_from(["delete", "replace", "rename", "add", "empty"]))
    if kind == "delete":
        del parent[last]
    elif kind == "replace":
        parent[last] = draw(values)
    elif kind == "empty":
        parent[last] = type(parent[last])() if isinstance(parent[last], dict | list | str) else None
    elif kind == "rename" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(last)
    elif isinstance(parent, dict):
        parent[draw(st.one_of(st.text(max_size=12), st.integers()))] = draw(values)
    elif isinstance(parent, list):
        parent.insert(draw(st.integers(0, len(parent))), draw(values))
    return data


# YAML that parses into what a hand-written file rarely holds: impossible dates, explicit
# tags, aliases (also cyclic ones), unhashable keys, deep nesting, special floats.
YAML_SNIPPETS = ["2026-02-30", "2026-13-01 10:00:00", "!!int x", "!!float x", "!!bool maybe",
                 "!!timestamp 2026-99-99", "!!binary ===", "!!set {a, b}", "!!omap [a: 1]",
                 "!!python/object:os.system x", "!!null x", "&x [*x]", "&y {a: *y}", "*nowhere",
                 "{[1]: 2}", "{? [a] : 1}", "[" * 60 + "]" * 60, "[a: [b: [c: d]]]", ".nan", ".inf",
                 "-.inf", "0x1F", "0o17", "1e400", "1_000", "~", "'unterminated", "{a: 1, a: 2}",
                 "|\n  block", ">-", "@reserved", "`tick", "%TAG", "\"\\x00\"", "\"\\ud800\"",
                 "[]", "{}", "''", "- a"]


@st.composite
def textual_mutation(draw: st.DrawFn, text: str) -> str:
    """Cut the file, insert characters (YAML syntax), give a key an odd YAML value, or
    duplicate a line."""
    kind = draw(st.sampled_from(["cut", "insert", "duplicate_line", "replace_all", "set_value",
                                 "set_value"]))
    if kind == "replace_all":
        return draw(st.one_of(st.text(max_size=80), st.sampled_from(YAML_SNIPPETS)))
    if kind == "set_value":
        lines = text.splitlines(keepends=True)
        keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        if keyed:
            index = draw(st.sampled_from(keyed))
            head = lines[index].split(":", 1)[0]
            lines[index] = f"{head}: {draw(st.sampled_from(YAML_SNIPPETS))}\n"
            return "".join(lines)
    position = draw(st.integers(0, len(text)))
    if kind == "cut":
        return text[:position]
    if kind == "insert":
        noise = draw(st.one_of(st.sampled_from([":", "- ", "\t", "{", "}", "[", "]", "&a", "*a",
                                                "!!binary", "\n  ", "'", '"', "#", "%", "|", ">",
                                                "? ", "\x00", "\ufeff", "key: value\n"]),
                               st.text(max_size=5)))
        return text[:position] + noise + text[position:]
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    index = draw(st.integers(0, len(lines) - 1))
    return "".join(lines[:index + 1] + lines[index:])


def _assert_loads_or_names_the_problem(project: Path) -> None:
    try:
        load_project(project)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p.strip() for p in exc.problems), exc
        named = Path(exc.path)
        assert named.suffix in (".yaml", ".yml") and (project / named).is_file(), exc.path
        assert str(exc.path) in str(exc)


def _scratch_project(tmp: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, tmp / folder)
    return tmp


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_any_change_to_one_value_or_key_loads_or_raises_config_error_naming_file(name: str,
                                                                                 data: st.DataObject):
    with tempfile.TemporaryDirectory() as tmp:
        project = _scratch_project(Path(tmp))
        path = project / name
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for _ in range(data.draw(st.integers(1, 3))):
            document = data.draw(structural_mutation(document))
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        _assert_loads_or_names_the_problem(project)


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_any_garbling_of_a_file_loads_or_raises_config_error_naming_file(name: str,
                                                                        data: st.DataObject):
    with tempfile.TemporaryDirectory() as tmp:
        project = _scratch_project(Path(tmp))
        path = project / name
        text = data.draw(textual_mutation(path.read_text(encoding="utf-8")))
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _assert_loads_or_names_the_problem(project)
