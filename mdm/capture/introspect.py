"""Read a source's (or a SQL target's) catalog for `mdm check --live`: the columns, types and
foreign keys of the tables the project maps, and whether each `where:` runs there. SQL
against the database's own catalog, never its rows; the comparison with the project is
mdm/config/live_check.py.

One reader per connector, registered with its source kind (SourceKind.read_catalog in
mdm/capture/registry.py): PostgreSQL here; MySQL and MariaDB in mdm/capture/mysql_catalog.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from mdm.config.live_check import Catalog, Column, Family, ForeignKey, Probe, Table
from mdm.config.loader import expand_env
from mdm.config.urls import mask_secrets
from mdm.errors import ConfigError

CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 10_000

# pg_type.typname → family; anything else by pg_type.typcategory (CATEGORY_FAMILIES).
POSTGRES_TYPES: Mapping[str, Family] = {
    "int2": "integer", "int4": "integer", "int8": "integer", "oid": "integer",
    "numeric": "numeric", "money": "numeric", "float4": "float", "float8": "float",
    "bool": "boolean", "date": "date", "timestamp": "timestamp", "timestamptz": "timestamptz",
    "time": "time", "timetz": "time", "interval": "interval", "json": "json", "jsonb": "json",
    "bytea": "binary", "uuid": "text", "xml": "text", "citext": "text",
}
CATEGORY_FAMILIES: Mapping[str, Family] = {
    "S": "text",  # text, varchar, bpchar, name, char
    "E": "text",  # enums: Debezium sends the label
    "I": "text",  # inet, cidr
    "A": "json",  # arrays: Debezium sends a list
}


class CatalogUnavailable(Exception):
    """The database could not be read (its address or a connection failed)."""


class NoCatalogReader(CatalogUnavailable):
    """No catalog reader for the database's kind yet: not checked (not an error)."""


def postgres_family(typname: str, category: str) -> Family:
    """The family of a PostgreSQL type (a domain is passed as its base type)."""
    return POSTGRES_TYPES.get(typname) or CATEGORY_FAMILIES.get(category, "other")


_COLUMNS = """
SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       coalesce(b.typname, t.typname), coalesce(b.typcategory, t.typcategory),
       CASE WHEN coalesce(b.typname, t.typname) = 'numeric' AND a.atttypmod >= 4
            THEN (a.atttypmod - 4) & 65535 END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname || '.' || c.relname = ANY(%s)
ORDER BY 1, a.attnum
"""
_FOREIGN_KEYS = """
SELECT n.nspname || '.' || c.relname,
       ARRAY(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY AS u(num, ord)
             JOIN pg_attribute ON attrelid = k.conrelid AND attnum = u.num ORDER BY u.ord),
       fn.nspname || '.' || fc.relname,
       ARRAY(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY AS u(num, ord)
             JOIN pg_attribute ON attrelid = k.confrelid AND attnum = u.num ORDER BY u.ord)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class fc ON fc.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE k.contype = 'f' AND n.nspname || '.' || c.relname = ANY(%s)
ORDER BY 1, k.conname
"""
_SCHEMA_TABLES = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY(%s)
"""


def read_postgres_catalog(url: str, probe: Probe) -> Catalog:
    """The probe's tables as one PostgreSQL database has them, in a read-only transaction."""
    schemas = sorted({t.partition(".")[0] for t in probe.tables})
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            columns = conn.execute(_COLUMNS, (list(probe.tables),)).fetchall()
            keys = conn.execute(_FOREIGN_KEYS, (list(probe.tables),)).fetchall()
            known = frozenset(r[0] for r in conn.execute(_SCHEMA_TABLES, (schemas,)))
            version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        tables = _tables(columns, keys)
        filters = {(table, where): _refusal(conn, table, where)
                   for table, where in probe.filters if table in tables}
    return Catalog(probe.database, tables, filters, known, version[0] if version else None)


def _tables(columns: list[Any], keys: list[Any]) -> dict[str, Table]:
    found: dict[str, dict[str, Column]] = {}
    for table, name, declared, typname, category, scale in columns:
        family = postgres_family(typname, category)
        found.setdefault(table, {})[name] = Column(name, declared, family, scale)
    foreign: dict[str, list[ForeignKey]] = {}
    for table, cols, referenced_table, referenced in keys:
        key = ForeignKey(tuple(cols), referenced_table, tuple(referenced))
        foreign.setdefault(table, []).append(key)
    return {t: Table(t, cols, tuple(foreign.get(t, ()))) for t, cols in found.items()}


def _refusal(conn: psycopg.Connection[Any], table: str, where: str) -> str | None:
    """None when PostgreSQL plans `SELECT 1 FROM table WHERE <where>` (EXPLAIN: no row is
    read), else its message, in a read-only transaction rolled back either way."""
    schema, _, name = table.partition(".")
    statement = sql.SQL("EXPLAIN SELECT 1 FROM {} WHERE {}").format(
        sql.Identifier(schema, name), sql.SQL(where))  # project SQL, parsed (sqlglot) on load
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(statement)
    except psycopg.Error as exc:
        return (exc.diag.message_primary or str(exc)).strip()
    return None


def url_connector(url: str) -> str:
    """The database kind a (SQLAlchemy) URL names: postgresql+psycopg://… → postgresql."""
    scheme = url.partition("://")[0].partition("+")[0].lower()
    return "postgresql" if scheme in ("postgresql", "postgres") else scheme


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as libpq takes it (postgresql://…)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.partition('+')[0]}{sep}{rest}" if sep else url


def read_catalog(probe: Probe) -> Catalog:
    """Read one database's catalog; CatalogUnavailable says why it could not (secrets
    masked). The URL's ${ENV} references are expanded as the loader does."""
    from mdm.capture.registry import SOURCE_KINDS  # the registry imports this module's readers

    try:
        url = expand_env(probe.url, probe.file)
    except ConfigError as exc:
        raise CatalogUnavailable("; ".join(exc.problems)) from exc
    connector = probe.connector or url_connector(url)
    kind = SOURCE_KINDS.get(connector)
    if kind is None:
        raise NoCatalogReader(f"no catalog reader for {connector} (PostgreSQL, MySQL and "
                              "MariaDB are read): not checked")
    try:
        return kind.read_catalog(libpq_url(url), probe)
    except psycopg.Error as exc:
        reason = mask_secrets(str(exc).strip())
        raise CatalogUnavailable(f"cannot read the database: {reason}") from exc
