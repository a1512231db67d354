"""The surfaces (mdm/api, mdm/cli) call use cases, never SQL: no route handler or command
module builds a statement (`text(…)`, psycopg's `sql`), runs one (`.execute(…)`), or holds a
string that starts like one. SQL lives in mdm/store (repositories, status)."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from mdm.runtime.settings import REPO_ROOT

SURFACES = sorted([*(REPO_ROOT / "mdm" / "api").glob("*.py"),
                   *(REPO_ROOT / "mdm" / "cli").glob("*.py")])
# As the project writes SQL: keywords in capitals, at the start of the string.
STATEMENT = re.compile(r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+(\.\w+)?\s+SET|DELETE\s+FROM|"
                       r"WITH\s+\w+\s+AS|CREATE|ALTER|DROP|TRUNCATE|LISTEN|NOTIFY|LOCK)\b")
RUNS = {"execute", "executemany", "executescript", "exec_driver_sql"}
# (file, function) that may run SQL, and why: not the hub's tables.
ALLOWED = {("mdm/cli/demo.py", "demo_sql"): "runs the user's own statement on the demo ERP"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (prose may quote SQL)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _functions(tree: ast.AST) -> dict[int, str]:
    """id of every node → the name of the function it is in."""
    inside: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(node):
                inside.setdefault(id(child), node.name)
    return inside


def sql_in(path: Path) -> list[str]:
    """Where `path` builds, runs or holds SQL: 'line N: what' each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs, functions = _docstrings(tree), _functions(tree)
    where = path.relative_to(REPO_ROOT).as_posix()
    found = []
    for node in ast.walk(tree):
        if (where, functions.get(id(node))) in ALLOWED:
            continue
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "psycopg"):
            names = {a.name for a in node.names} & {"text", "sql"}
            found += [f"line {node.lineno}: imports {node.module}.{n}" for n in sorted(names)]
        elif isinstance(node, ast.ImportFrom) and node.module == "psycopg.sql":
            found.append(f"line {node.lineno}: imports psycopg.sql")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "text":
                found.append(f"line {node.lineno}: text(…)")
            elif isinstance(func, ast.Attribute) and func.attr in RUNS:
                found.append(f"line {node.lineno}: .{func.attr}(…)")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docs and STATEMENT.match(node.value)):
            found.append(f"line {node.lineno}: {node.value.strip()[:60]!r}")
    return found


@pytest.mark.parametrize("path", SURFACES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_surface_module_holds_no_sql(path):
    found = sql_in(path)
    assert not found, (f"{path.relative_to(REPO_ROOT)} holds SQL; call a use case (mdm/steward, "
                       "mdm/lineage, mdm/store/status.py) whose repository runs it:\n  "
                       + "\n  ".join(found))


def test_the_scan_finds_sql_where_there_is_some(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    route = tmp_path / "route.py"
    route.write_text('"""SELECT in prose is fine."""\n'
                     "from sqlalchemy import text\n"
                     "def page(db):\n"
                     "    db.execute(text(\"SELECT 1 FROM golden_record\"))\n"
                     "    rows = db.exec_driver_sql('x')\n"
                     "    return f\"DELETE FROM task WHERE id = {1}\"\n", encoding="utf-8")
    found = sql_in(route)
    assert sorted(found) == ["line 2: imports sqlalchemy.text", "line 4: 'SELECT 1 FROM golden_record'",
                             "line 4: .execute(…)", "line 4: text(…)", "line 5: .exec_driver_sql(…)",
                             "line 6: 'DELETE FROM task WHERE id ='"]
