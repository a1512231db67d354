"""`mdm check --live`, the comparison: the project against a snapshot of each database's
catalog. Pure — no connection: mdm/capture/introspect.py reads the catalogs (per connector),
this module says what the project expects of them and what does not fit.

Per database the project reaches (each source in cdc/, each `kind: sql` target), the tables it
maps (live_tables.py) are checked: the table exists, every column it reads or writes exists,
the column's type fits the attribute's declared type, `ignore_columns` exist, a `where:` runs,
a child's `parent_column` has the type of the parent's key; columns neither mapped nor ignored
are notes. Per source, what its incremental snapshots need: a `signal_table:` Debezium can
write its signals into, or else PostgreSQL 13 or later. A finding names the file, the key and
what was expected, like a ConfigError.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from mdm.config.live_tables import Level, Wanted, WantedTable, wanted_tables
from mdm.config.loader import Project
from mdm.config.sources import SourceSpec

Family = Literal["text", "integer", "numeric", "float", "boolean", "date", "timestamp",
                 "timestamptz", "time", "interval", "json", "binary", "other"]
ANY_TYPE = frozenset({"string", "integer", "decimal", "float", "boolean", "date", "timestamp",
                      "timestamptz", "time", "json"})

# A column of this family → the attribute types that read its values (as Debezium sends them)
# without loss: a text column is no integer, a float8 no decimal's exact digits, a date no
# string (Debezium sends epoch days). "other" (a type no family covers) is not judged.
READS: Mapping[Family, frozenset[str]] = {
    "text": frozenset({"string"}),
    "integer": frozenset({"integer", "decimal", "float", "string"}),
    "numeric": frozenset({"decimal", "float", "string"}),  # + integer at scale 0
    "float": frozenset({"float", "decimal"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "timestamp": frozenset({"timestamp"}),
    "timestamptz": frozenset({"timestamptz"}),
    "time": frozenset({"time"}),
    "interval": frozenset({"string"}),
    "json": frozenset({"json"}),
    "binary": frozenset(),
}
# A column of this family → the attribute types a SQL target can write into it (the SQL
# propagator turns ISO strings into dates, decimals …; lists and objects into JSON text).
WRITES: Mapping[Family, frozenset[str]] = {
    "text": ANY_TYPE,
    "integer": frozenset({"integer"}),
    "numeric": frozenset({"integer", "decimal", "float"}),
    "float": frozenset({"integer", "decimal", "float"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "timestamp": frozenset({"timestamp", "timestamptz", "date"}),
    "timestamptz": frozenset({"timestamp", "timestamptz", "date"}),
    "time": frozenset({"time"}),
    "interval": frozenset({"string"}),
    "json": ANY_TYPE,
    "binary": frozenset(),
}


# -- the catalog snapshot (what introspect.py reads) ------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as the database writes it, e.g. numeric(14,2), character varying(20)
    family: Family
    scale: int | None = None  # numeric's digits after the point


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str  # schema.table it points to
    referenced: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str  # schema.table
    columns: Mapping[str, Column]
    foreign_keys: tuple[ForeignKey, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """What one database holds of the tables the project maps. `filters` holds, per
    (table, where-SQL), the database's refusal of `EXPLAIN SELECT 1 FROM table WHERE …`, or
    None when it plans it; `schemas_tables` all tables of the schemas asked about (for hints);
    `server_version` PostgreSQL's server_version_num (180001 is 18.1; None: not read)."""

    database: str
    tables: Mapping[str, Table]
    filters: Mapping[tuple[str, str], str | None] = field(default_factory=dict)
    schema_tables: frozenset[str] = frozenset()
    server_version: int | None = None


@dataclass(frozen=True)
class Finding:
    file: str
    key: str
    message: str
    level: Level = "error"

    def line(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class Probe:
    """One database to read: where its address is written, and what to read there."""

    database: str  # "source erp", "target oa_db"
    file: str
    connector: str | None  # None: the URL's scheme says (a SQL target's SQLAlchemy URL)
    url: str  # as written: ${ENV} expanded by the reader
    tables: tuple[str, ...]
    filters: tuple[tuple[str, str], ...]  # (table, where as SQL)


def probes(project: Project) -> list[Probe]:
    """The databases `mdm check --live` reads, with the tables and filters it asks about."""
    found: list[Probe] = []
    wanted = wanted_tables(project)
    for name, spec in project.sources.items():
        probe = _probe(f"source {name}", f"cdc/{name}.yaml", spec.connector, spec.url,
                       wanted.get(f"source {name}", []))
        if spec.signal_table and spec.signal_table not in probe.tables:
            probe = replace(probe, tables=(*probe.tables, spec.signal_table))
        found.append(probe)
    for name, target in project.targets.items():
        tables = wanted.get(f"target {name}", [])
        if target.kind == "sql" and tables:
            found.append(_probe(f"target {name}", f"targets/{name}.yaml", None, target.url, tables))
    return found


def _probe(database: str, file: str, connector: str | None, url: str,
           tables: list[WantedTable]) -> Probe:
    names = tuple(dict.fromkeys(t.table for t in tables))
    filters = tuple((t.table, t.where.sql) for t in tables if t.where is not None)
    return Probe(database, file, connector, url, names, filters)


# -- the comparison ---------------------------------------------------------------------------
def compare(project: Project, catalogs: Mapping[str, Catalog]) -> list[Finding]:
    """Every finding for the databases in `catalogs` (database → snapshot); a database the
    reader could not reach is absent and not judged here."""
    findings: list[Finding] = []
    for database, tables in wanted_tables(project).items():
        catalog = catalogs.get(database)
        if catalog is None:
            continue
        for wanted in tables:
            findings += check_table(wanted, catalog)
    for name, spec in project.sources.items():
        if (catalog := catalogs.get(f"source {name}")) is not None:
            findings += check_snapshot_needs(spec, catalog)
    return findings


# Read-only incremental snapshots take their watermarks from pg_current_snapshot() (13+).
READ_ONLY_SNAPSHOTS_SINCE = 130000
SIGNAL_COLUMNS = ("id", "type", "data")  # Debezium takes them by position: strings, in order


def check_snapshot_needs(spec: SourceSpec, catalog: Catalog) -> list[Finding]:
    """What a source's incremental snapshots (a table mapped on a running hub, `mdm resync`)
    need: with `signal_table:`, a table whose first three columns take Debezium's id, type and
    data as text (one that does not exist yet is a note: capture creates it); without it,
    read-only snapshots, which need PostgreSQL 13 or later."""
    file = f"cdc/{spec.name}.yaml"
    if spec.signal_table is None:
        version = catalog.server_version
        if (spec.connector != "postgresql" or version is None
                or version >= READ_ONLY_SNAPSHOTS_SINCE):
            return []
        return [Finding(file, "signal_table", f"unset, so incremental snapshots are read-only, "
                        f"which needs PostgreSQL 13 or later (pg_current_snapshot()); "
                        f"{catalog.database}'s server is {version // 10000}.{version % 10000}: "
                        f"set signal_table: schema.table (capture creates it)")]
    table = catalog.tables.get(spec.signal_table)
    if table is None:
        schema = spec.signal_table.partition(".")[0]
        return [Finding(file, "signal_table", f"table {spec.signal_table} does not exist in "
                        f"{catalog.database}'s database yet: capture creates it at start (id "
                        f"varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data text), "
                        f"which needs CREATE on schema {schema}", "note")]
    columns = list(table.columns.values())[:len(SIGNAL_COLUMNS)]
    if len(columns) == len(SIGNAL_COLUMNS) and all(c.family == "text" for c in columns):
        return []
    found = ", ".join(f"{c.name} {c.type}" for c in columns) or "no column"
    return [Finding(file, "signal_table", f"{table.name} cannot hold Debezium's signals: its "
                    f"first three columns must be text for id, type and data, in that order "
                    f"(e.g. id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data text); "
                    f"it has {found}")]


def check_table(wanted: WantedTable, catalog: Catalog) -> list[Finding]:
    table = catalog.tables.get(wanted.table)
    if table is None:
        hint = _hint(wanted.table, catalog.schema_tables)
        return [Finding(wanted.file, wanted.key, f"table {wanted.table} does not exist in "
                        f"{catalog.database}'s database{hint}")]
    out = [f for w in wanted.columns if (f := _column(wanted, w, table)) is not None]
    out += _ignored(wanted, table, catalog)
    out += _filter(wanted, table, catalog)
    out += _same_type(wanted, table, catalog)
    out += _foreign_keys(wanted, table)
    unmapped = sorted(set(table.columns) - wanted.used_columns())
    if wanted.note_unmapped and unmapped:
        out.append(Finding(wanted.file, wanted.key, f"columns of {table.name} neither mapped nor "
                           f"ignored: {', '.join(unmapped)} (map them or add them to "
                           f"ignore_columns)", "note"))
    return out


def _ignored(wanted: WantedTable, table: Table, catalog: Catalog) -> list[Finding]:
    """ignore_columns name columns of the entity's tables (main or child): one that is in
    none of them is a typo."""
    if not wanted.check_ignored:
        return []
    tables = [table, *(t for n in wanted.ignore_in if (t := catalog.tables.get(n)) is not None)]
    known = {c for t in tables for c in t.columns}
    names = ", ".join(t.name for t in tables)
    return [Finding(wanted.file, w.key, f"column '{w.column}' is in none of {names}"
                    f"{_hint(w.column, known) or ' (a typo?)'}")
            for w in wanted.ignored if w.column not in known]


def _column(wanted: WantedTable, w: Wanted, table: Table) -> Finding | None:
    column = table.columns.get(w.column)
    what = f" ({w.what})" if w.what else ""
    if column is None:
        return Finding(wanted.file, w.key, f"column '{w.column}'{what} does not exist in "
                       f"{table.name}{_hint(w.column, table.columns)}")
    if w.type is None or column.family == "other":
        return None
    fitting = fits(column, wanted.direction)
    if w.type in fitting:
        return None
    verb = "read from" if wanted.direction == "read" else "written to"
    expected = f"declare {' or '.join(sorted(fitting))}" if fitting else "no attribute type fits it"
    return Finding(wanted.file, w.key, f"type {w.type} cannot be {verb} column "
                   f"{table.name}.{column.name}{what}, which is {column.type} ({expected})",
                   wanted.type_level)


def fits(column: Column, direction: Literal["read", "write"]) -> frozenset[str]:
    """The attribute types that fit a column, read from a source or written to a target."""
    table = READS if direction == "read" else WRITES
    types = table.get(column.family, ANY_TYPE)
    if direction == "read" and column.family == "numeric" and column.scale == 0:
        types = types | {"integer"}
    return types


def _filter(wanted: WantedTable, table: Table, catalog: Catalog) -> list[Finding]:
    if wanted.where is None:
        return []
    missing = sorted(c for c in wanted.where.columns if c not in table.columns)
    if missing:
        return [Finding(wanted.file, wanted.where_key, f"names column(s) {', '.join(missing)}, "
                        f"which {table.name} does not have{_hint(missing[0], table.columns)}")]
    refused = catalog.filters.get((table.name, wanted.where.sql))
    if refused:
        return [Finding(wanted.file, wanted.where_key,
                        f"{catalog.database}'s database refuses it on {table.name}: {refused}")]
    return []


def _same_type(wanted: WantedTable, table: Table, catalog: Catalog) -> list[Finding]:
    """A column that must hold the kind of value another column holds (a child's
    parent_column and its parent's primary key)."""
    out = []
    for w, other_table, other_name in wanted.same_type_as:
        mine = table.columns.get(w.column)
        parent = catalog.tables.get(other_table)
        other = parent.columns.get(other_name) if parent is not None else None
        if mine is None or other is None or mine.family == other.family:
            continue
        out.append(Finding(wanted.file, w.key, f"column {table.name}.{mine.name} is "
                           f"{mine.type}, but {other_table}.{other_name}, the key it points "
                           f"to, is {other.type}"))
    return out


def _foreign_keys(wanted: WantedTable, table: Table) -> list[Finding]:
    """A reference with no foreign key behind it is a note: the hub follows it anyway (a row
    naming a record that does not exist is held), but the database does not keep it whole."""
    out = []
    for ref in wanted.references:
        declared = any(k.columns == ref.columns and k.table == ref.table
                       and k.referenced == ref.referenced for k in table.foreign_keys)
        if declared or any(c not in table.columns for c in ref.columns):
            continue
        out.append(Finding(wanted.file, ref.key, f"no foreign key {table.name} "
                           f"({', '.join(ref.columns)}) → {ref.table} "
                           f"({', '.join(ref.referenced)}) in the database: the hub follows "
                           f"the reference anyway and holds a row naming a {ref.entity} it "
                           "does not know", "note"))
    return out


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
