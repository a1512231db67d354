"""Row filters: `where:` on an entity's main table or a child table, a SQL boolean expression
over the table's columns. Parsed (sqlglot, PostgreSQL dialect) when the project loads, into a
small tree that mdm/config/row_match.py evaluates on each captured row image; its SQL text
also narrows the initial snapshot and lets `mdm check --live` run it against the database.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

import sqlglot
from sqlglot import expressions as exp
from sqlglot.errors import ParseError, TokenError

__all__ = ["RowFilter", "RowFilterError", "as_instant", "parse_where", "snapshot_overrides"]

SUPPORTED = ("column names, numbers, 'strings', DATE '…', TIMESTAMP '…', TRUE, FALSE, NULL, "
             "= <> != < <= > >=, AND, OR, NOT, IN (…), IS [NOT] NULL, IS [NOT] TRUE/FALSE, "
             "[NOT] LIKE / ILIKE, [NOT] BETWEEN")
_INSTANT_TYPES = (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP,
                  exp.DataType.Type.TIMESTAMPTZ)


class RowFilterError(ValueError):
    """A `where:` that is not a supported SQL condition; the message names the construct."""


# -- the tree mdm.config.row_match evaluates -----------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Constant:
    value: None | bool | int | Decimal | str


Value = Column | Constant


@dataclass(frozen=True)
class Comparison:
    op: str  # = <> < <= > >=
    left: Value
    right: Value


@dataclass(frozen=True)
class Logical:
    op: str  # and | or
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    operand: Condition


@dataclass(frozen=True)
class Membership:
    operand: Value
    options: tuple[Value, ...]


@dataclass(frozen=True)
class NullTest:
    operand: Value
    negate: bool


@dataclass(frozen=True)
class TruthTest:
    operand: Value
    value: bool
    negate: bool


@dataclass(frozen=True)
class Pattern:
    operand: Value
    pattern: Value
    negate: bool
    ignore_case: bool


@dataclass(frozen=True)
class Range:
    operand: Value
    low: Value
    high: Value


Condition = (Column | Constant | Comparison | Logical | Negation | Membership | NullTest
             | TruthTest | Pattern | Range)


@dataclass(frozen=True)
class RowFilter:
    """A parsed `where:`. `sql` is the condition as PostgreSQL text (for the snapshot's
    SELECT and `mdm check --live`); `columns` are the columns it reads; `condition` is the
    tree mdm.config.row_match.matches evaluates."""

    text: str
    sql: str
    columns: frozenset[str]
    condition: Condition

    def select_sql(self, table: str) -> str:
        """`SELECT * FROM schema.table WHERE …`: the rows of `table` this filter keeps."""
        quoted = ".".join(exp.to_identifier(part, quoted=True).sql(dialect="postgres")
                          for part in table.split("."))
        return f"SELECT * FROM {quoted} WHERE {self.sql}"


@lru_cache(maxsize=512)
def parse_where(text: str) -> RowFilter:
    """Parse a `where:` condition. Raises RowFilterError naming what is not supported."""
    if not text.strip():
        raise RowFilterError("where: is empty; write a condition such as `is_supplier` or "
                             "`price_list = 'LIST'`")
    try:
        statements = sqlglot.parse(text, dialect="postgres")
    except (ParseError, TokenError) as exc:
        raise RowFilterError(f"not a SQL condition ({_first_line(exc)})") from exc
    if len(statements) != 1 or statements[0] is None:
        raise RowFilterError("one condition only (no ';')")
    tree = statements[0]
    condition = _condition(tree)
    return RowFilter(text=text, sql=tree.sql(dialect="postgres"),
                     columns=frozenset(_columns(condition)), condition=condition)


def snapshot_overrides(filters: Mapping[str, RowFilter]) -> dict[str, str]:
    """Debezium properties making the initial snapshot read only the rows each filter keeps
    (table → filter); rows it leaves out are not part of any record, so need not be read."""
    if not filters:
        return {}
    props = {"snapshot.select.statement.overrides": ",".join(sorted(filters))}
    for table, row_filter in filters.items():
        props[f"snapshot.select.statement.overrides.{table}"] = row_filter.select_sql(table)
    return props


# -- sqlglot's tree → ours --------------------------------------------------------------------
_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}


def _condition(node: exp.Expr) -> Condition:
    if isinstance(node, exp.Paren):
        return _condition(node.this)
    if isinstance(node, (exp.And, exp.Or)):
        op = "and" if isinstance(node, exp.And) else "or"
        parts = [_condition(part) for part in node.flatten()]
        return Logical(op, tuple(parts))
    if isinstance(node, exp.Not):
        return Negation(_condition(node.this))
    if type(node) in _COMPARISONS:
        return Comparison(_COMPARISONS[type(node)], _value(node.this), _value(node.expression))
    if isinstance(node, exp.In):
        return _membership(node)
    if isinstance(node, exp.Is):
        return _is(node)
    if isinstance(node, (exp.Like, exp.ILike)):
        return Pattern(_value(node.this), _value(node.expression), bool(node.args.get("negate")),
                       isinstance(node, exp.ILike))
    if isinstance(node, exp.Between):
        if node.args.get("symmetric"):
            raise _unsupported(node, "BETWEEN SYMMETRIC")
        return Range(_value(node.this), _value(node.args["low"]), _value(node.args["high"]))
    value = _value(node)
    if isinstance(value, Constant) and not isinstance(value.value, (bool, type(None))):
        raise RowFilterError(f"{node.sql(dialect='postgres')} is a value, not a condition "
                             "(compare it: `column = …`)")
    return value


def _membership(node: exp.In) -> Membership:
    for key in ("query", "unnest", "field"):
        if node.args.get(key) is not None:
            raise _unsupported(node, "IN over a subquery" if key == "query" else f"IN {key}")
    return Membership(_value(node.this), tuple(_value(o) for o in node.expressions))


def _is(node: exp.Is) -> NullTest | TruthTest:
    right, negate = node.expression, bool(node.args.get("negate"))
    if isinstance(right, exp.Null):
        return NullTest(_value(node.this), negate)
    if isinstance(right, exp.Boolean):
        return TruthTest(_value(node.this), bool(right.this), negate)
    raise _unsupported(node, "IS with something other than NULL, TRUE or FALSE")


def _value(node: exp.Expr) -> Value:
    if isinstance(node, exp.Paren):
        return _value(node.this)
    if isinstance(node, exp.Column):
        return _column(node)
    if isinstance(node, exp.Boolean):
        return Constant(bool(node.this))
    if isinstance(node, exp.Null):
        return Constant(None)
    if isinstance(node, exp.Literal):
        return Constant(node.this if node.is_string else _number(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return Constant(-_number(node.this.this))
    if isinstance(node, exp.Cast) and _is_typed_instant(node):  # DATE '2026-01-01'
        return Constant(node.this.this)
    raise _unsupported(node, _kind(node))


def _column(node: exp.Column) -> Column:
    if node.table or node.args.get("db") or node.args.get("catalog"):
        raise _unsupported(node, "a qualified column name (write the column alone)")
    identifier = node.this
    if not isinstance(identifier, exp.Identifier):
        raise _unsupported(node, _kind(identifier))
    # PostgreSQL folds unquoted names to lower case; a quoted name is taken as written.
    name = identifier.this if identifier.quoted else identifier.this.lower()
    return Column(name)


def _is_typed_instant(node: exp.Cast) -> bool:
    literal, kind = node.this, node.to.this
    return (isinstance(literal, exp.Literal) and literal.is_string
            and kind in _INSTANT_TYPES and as_instant(literal.this) is not None)


def _number(text: str) -> int | Decimal:
    return int(text) if text.isdigit() else Decimal(text)


_KINDS: tuple[tuple[tuple[type[exp.Expr], ...], str], ...] = (
    ((exp.Cast, exp.TryCast), "a cast"),
    ((exp.Escape,), "LIKE … ESCAPE: LIKE escapes with a backslash"),
    ((exp.RegexpLike, exp.RegexpILike), "a regular expression match"),
    ((exp.NullSafeEQ, exp.NullSafeNEQ), "IS [NOT] DISTINCT FROM"),
    ((exp.Select, exp.Subquery, exp.Exists), "a subquery"),
    ((exp.Func,), "a function call"),
    ((exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg), "arithmetic"),
    ((exp.DPipe,), "string concatenation"),
    ((exp.Placeholder, exp.Parameter), "a parameter"),
    ((exp.Predicate, exp.Connector), "a condition where a value belongs"),
    ((exp.ByteString, exp.HexString, exp.BitString), "a special string literal"),
)


def _kind(node: exp.Expr) -> str:
    for classes, kind in _KINDS:
        if isinstance(node, classes):
            return kind
    return type(node).__name__


def _unsupported(node: exp.Expr, what: str) -> RowFilterError:
    return RowFilterError(f"unsupported construct {node.sql(dialect='postgres')!r} ({what}); "
                          f"supported: {SUPPORTED}")


def _columns(node: Condition) -> set[str]:
    match node:
        case Column(name):
            return {name}
        case Constant():
            return set()
        case Comparison(_, left, right):
            return _columns(left) | _columns(right)
        case Logical(_, operands):
            return set().union(*(_columns(o) for o in operands))
        case Negation(operand) | NullTest(operand, _) | TruthTest(operand, _, _):
            return _columns(operand)
        case Membership(operand, options):
            return _columns(operand).union(*(_columns(o) for o in options))
        case Pattern(operand, pattern, _, _):
            return _columns(operand) | _columns(pattern)
        case Range(operand, low, high):
            return _columns(operand) | _columns(low) | _columns(high)
    raise AssertionError(node)  # pragma: no cover


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def as_instant(text: str) -> datetime | None:
    """An ISO date or timestamp as an aware instant (naive ones, and Debezium's naive
    timestamps with their meaningless Z, read as UTC wall-clock); None if not ISO."""
    if len(text) == 11 and text.endswith("Z"):  # a date in time.precision.mode=isostring
        text = text[:-1]
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
