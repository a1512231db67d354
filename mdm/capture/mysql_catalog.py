"""`mdm check --live` for MySQL and MariaDB sources: the mapped tables' columns, types and
foreign keys from information_schema (never a row), and whether each `where:` runs there
(`EXPLAIN SELECT 1 FROM … WHERE …` in a read-only transaction). PyMySQL, pure Python: the
hub's only MySQL client. The comparison with the project is mdm/config/live_check.py.

Types are put in the families of the values Debezium's MySQL connector sends with the hub's
properties (mdm/capture/mysql.py): `tinyint(1)` is a boolean (its converter), DATETIME a
timestamp without time zone, TIMESTAMP one in UTC (timestamptz), DECIMAL exact text.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from mdm.capture.introspect import CONNECT_TIMEOUT_S, CatalogUnavailable
from mdm.config.live_check import Catalog, Column, Family, ForeignKey, Probe, Table
from mdm.config.urls import mask_secrets

MYSQL_TYPES: Mapping[str, Family] = {
    "tinyint": "integer", "smallint": "integer", "mediumint": "integer", "int": "integer",
    "integer": "integer", "bigint": "integer", "year": "integer",
    "decimal": "numeric", "numeric": "numeric", "float": "float", "double": "float",
    "char": "text", "varchar": "text", "tinytext": "text", "text": "text",
    "mediumtext": "text", "longtext": "text", "enum": "text", "set": "text",
    "date": "date", "datetime": "timestamp", "timestamp": "timestamptz", "time": "time",
    "json": "json", "binary": "binary", "varbinary": "binary", "tinyblob": "binary",
    "blob": "binary", "mediumblob": "binary", "longblob": "binary",
}
_COLUMNS = """
SELECT CONCAT(table_schema, '.', table_name), column_name, column_type, data_type,
       numeric_scale
FROM information_schema.columns
WHERE CONCAT(table_schema, '.', table_name) IN ({marks})
ORDER BY table_schema, table_name, ordinal_position
"""
_FOREIGN_KEYS = """
SELECT CONCAT(table_schema, '.', table_name), constraint_name, column_name,
       CONCAT(referenced_table_schema, '.', referenced_table_name), referenced_column_name
FROM information_schema.key_column_usage
WHERE referenced_table_name IS NOT NULL AND CONCAT(table_schema, '.', table_name) IN ({marks})
ORDER BY 1, constraint_name, ordinal_position
"""
_SCHEMA_TABLES = """
SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables
WHERE table_schema IN ({marks})
"""


def mysql_family(data_type: str, column_type: str) -> Family:
    """The family of a MySQL/MariaDB column (information_schema's data_type, column_type)."""
    data_type = data_type.lower()
    if data_type == "tinyint" and column_type.lower().startswith("tinyint(1)"):
        return "boolean"  # TinyIntOneToBooleanConverter
    if data_type == "bit":
        return "boolean" if column_type.lower() in ("bit", "bit(1)") else "binary"
    return MYSQL_TYPES.get(data_type, "other")


def _connect(url: str) -> Any:
    """A PyMySQL connection for a mysql:// or mariadb:// URL (${ENV} already expanded)."""
    import pymysql

    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise CatalogUnavailable("expected mysql://user:password@host:port (or mariadb://)")
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""), charset="utf8mb4",
                           connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)


def read_mysql_catalog(url: str, probe: Probe) -> Catalog:
    """The probe's tables (database.table) as one MySQL/MariaDB server has them."""
    import pymysql

    try:
        conn = _connect(url)
    except pymysql.err.MySQLError as exc:
        raise CatalogUnavailable(f"cannot read the database: {mask_secrets(str(exc))}") from exc
    try:
        return _read(conn, probe)
    except pymysql.err.MySQLError as exc:
        raise CatalogUnavailable(f"cannot read the database: {mask_secrets(str(exc))}") from exc
    finally:
        conn.close()


def _read(conn: Any, probe: Probe) -> Catalog:
    tables = list(probe.tables)
    schemas = sorted({t.partition(".")[0] for t in tables})
    with conn.cursor() as cursor:
        marks = ", ".join(["%s"] * len(tables)) or "NULL"
        cursor.execute(_COLUMNS.format(marks=marks), tables)
        columns = cursor.fetchall()
        cursor.execute(_FOREIGN_KEYS.format(marks=marks), tables)
        keys = cursor.fetchall()
        cursor.execute(_SCHEMA_TABLES.format(marks=", ".join(["%s"] * len(schemas)) or "NULL"),
                       schemas)
        known = frozenset(r[0] for r in cursor.fetchall())
    found = _tables(columns, keys)
    filters = {(table, where): _refusal(conn, table, where)
               for table, where in probe.filters if table in found}
    return Catalog(probe.database, found, filters, known, None)


def _tables(columns: list[Any], keys: list[Any]) -> dict[str, Table]:
    found: dict[str, dict[str, Column]] = {}
    for table, name, column_type, data_type, scale in columns:
        family = mysql_family(str(data_type), str(column_type))
        found.setdefault(table, {})[name] = Column(
            name, str(column_type), family, int(scale) if family == "numeric" and scale is not None
            else None)
    grouped: dict[tuple[str, str], tuple[list[str], str, list[str]]] = {}
    for table, constraint, column, referenced_table, referenced in keys:
        cols, _, refs = grouped.setdefault((table, constraint), ([], referenced_table, []))
        cols.append(column)
        refs.append(referenced)
    foreign: dict[str, list[ForeignKey]] = {}
    for (table, _), (cols, referenced_table, refs) in grouped.items():
        foreign.setdefault(table, []).append(ForeignKey(tuple(cols), referenced_table, tuple(refs)))
    return {t: Table(t, cols, tuple(foreign.get(t, ()))) for t, cols in found.items()}


def _quoted(table: str) -> str:
    return ".".join(f"`{part.replace('`', '``')}`" for part in table.split(".", 1))


def _refusal(conn: Any, table: str, where: str) -> str | None:
    """None when the server plans `SELECT 1 FROM table WHERE <where>` (EXPLAIN: no row is
    read), else its message; in a read-only transaction rolled back either way."""
    import pymysql

    try:
        with conn.cursor() as cursor:
            cursor.execute("START TRANSACTION READ ONLY")
            try:  # project SQL, parsed (sqlglot) on load
                cursor.execute(f"EXPLAIN SELECT 1 FROM {_quoted(table)} WHERE {where}")
            finally:
                cursor.execute("ROLLBACK")
    except pymysql.err.MySQLError as exc:
        args = exc.args
        return str(args[1] if len(args) > 1 else exc).strip()
    return None
