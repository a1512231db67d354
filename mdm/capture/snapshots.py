"""Incremental snapshots (Debezium's execute-snapshot): loading a table the project maps from
now on without snapshotting the rest, and `mdm resync` re-reading an entity or some records
while capture goes on.

Two ways, per source (cdc/<name>.yaml):
- `signal_table` unset (the default): Debezium's read-only incremental snapshots (PostgreSQL
  13 or later): the snapshot windows' watermarks are pg_current_snapshot(), nothing is
  written in the captured database. Chunks advance on the stream's commits and heartbeats,
  so heartbeats must run in a transaction: capture makes the hub's default heartbeat one.
- `signal_table: schema.table`: watermarks are rows capture (or the ERP team) creates in
  that table of the captured database; capture adds it to the publication and never turns
  its rows into inbox events.
Either way the signals go through the engine's in-process channel (mdm/capture/signals.py).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg import sql

from mdm.config.loader import Project
from mdm.config.models import EntitySpec
from mdm.config.sources import SourceSpec
from mdm.errors import ConfigError, MdmError
from mdm.store.repositories.capture import add_request, known_tables, record_tables

logger = logging.getLogger(__name__)
NOTIFICATION_TOPIC = "__mdm-notifications"
DEFAULT_HEARTBEAT = SourceSpec.model_fields["heartbeat_query"].default
# The same WAL message, in a transaction: read-only snapshots advance on transaction ids.
TRANSACTIONAL_HEARTBEAT = "SELECT pg_logical_emit_message(true, 'mdm-heartbeat', now()::text)"


def snapshot_properties(spec: SourceSpec) -> dict[str, str]:
    """Debezium properties for incremental snapshots and their notifications."""
    props = {
        # notifications arrive among the change events (records of this topic)
        "notification.enabled.channels": "sink",
        "notification.sink.topic.name": f"{NOTIFICATION_TOPIC}.{spec.name}",
        "signal.poll.interval.ms": "500",
    }
    if spec.signal_table:
        props.update({"signal.data.collection": spec.signal_table,
                      "signal.enabled.channels": "source,in-process"})
    else:
        props.update({"read.only": "true", "signal.enabled.channels": "in-process"})
    return props


def heartbeat_query(spec: SourceSpec) -> str | None:
    """The heartbeat's query: the hub's default runs in a transaction when snapshots are
    read-only (a WAL message outside one carries no transaction id, which stops them)."""
    if not spec.signal_table and spec.heartbeat_query == DEFAULT_HEARTBEAT:
        return TRANSACTIONAL_HEARTBEAT
    return spec.heartbeat_query


def captured_with_signal_table(spec: SourceSpec, tables: Sequence[str]) -> list[str]:
    """The tables Debezium reads: the mapped ones, and the signal table (its changes carry the
    watermarks and signals; capture drops them before the inbox)."""
    return [*tables, spec.signal_table] if spec.signal_table else list(tables)


# -- what to snapshot ----------------------------------------------------------------------------
def table_conditions(project: Project, source: str, tables: Sequence[str]) -> dict[str, str]:
    """table → its `where:` as SQL, for the tables that have one (read only the kept rows)."""
    conditions: dict[str, str] = {}
    for entity in project.entities.values():
        if entity.source == source:
            for table, row_filter in entity.row_filters.items():
                if table in tables:
                    conditions[table] = row_filter.sql
    return conditions


def resync_plan(project: Project, entity: str, keys: Sequence[str] = ()
                ) -> tuple[str, list[str], dict[str, str]]:
    """(source, tables, conditions) re-reading `entity`'s rows, or only the records with these
    business keys (and their child rows). Tables in capture order (children first)."""
    spec = project.entities.get(entity)
    if spec is None:
        raise MdmError(f"no entity {entity!r}; the project has: {', '.join(sorted(project.entities))}")
    if any("\x00" in key for key in keys):
        raise MdmError("a key holds a NUL character")
    order = project.captured_tables(spec.source)
    tables = [t for t in order if t in spec.tables]
    conditions = table_conditions(project, spec.source, tables)
    if keys:
        for table, condition in _key_conditions(spec, keys).items():
            conditions[table] = f"({conditions[table]}) AND {condition}" if table in conditions \
                else condition
    return spec.source, tables, conditions


def _key_conditions(spec: EntitySpec, keys: Sequence[str]) -> dict[str, str]:
    """table → the condition selecting the records' rows: the main rows by business key, each
    child list's rows by their parent's (nested lists through theirs)."""
    # The business key as text: a key typed for a text column on an integer column is then
    # no match instead of an error that would stop the snapshot (and capture with it).
    column = _ident(spec.column_of(spec.business_key))
    listed = ", ".join(_literal(k) for k in keys)
    conditions = {spec.table: f"CAST({column} AS text) IN ({listed})"}
    for child in spec.child_tables:  # parents before the lists nested in them
        keys = ", ".join(_ident(k) for k in child.parent_keys)  # a composite key: (a, b) IN
        parents = (f"SELECT {keys} FROM "
                   f"{_qualified(child.parent_table)} WHERE {conditions[child.parent_table]}")
        columns = ", ".join(_ident(c) for c in child.spec.parent_columns)
        if len(child.spec.parent_columns) > 1:
            columns = f"({columns})"
        conditions[child.spec.table] = f"{columns} IN ({parents})"
    return conditions


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    return ".".join(_ident(part) for part in table.split("."))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"  # standard_conforming_strings: \ is plain


# -- at capture start ------------------------------------------------------------------------------
def prepare_snapshots(project: Project, source: str, source_url: str, hub_url: str) -> None:
    """Before the engine starts: create the signal table if the source has one, and compare
    the tables mapped now with those captured before. New ones are added to the publication
    and get one incremental snapshot request of their own; the others are not read again.
    A first start (no tables known) leaves all to Debezium's initial snapshot."""
    spec = project.sources[source]
    tables = project.captured_tables(source)
    # the signal table and the publication are PostgreSQL's: another connector's signal
    # table is created by its database's owners (README), and it has no publication
    on_postgres = spec.connector == "postgresql"
    if spec.signal_table and on_postgres:
        ensure_signal_table(source_url, spec)
    if not spec.signal_table and not spec.heartbeat_interval_ms:
        logger.warning("source=%s has heartbeats off: read-only incremental snapshots advance "
                       "only when the database commits (set heartbeat_interval_ms)", source)
    with psycopg.connect(hub_url) as conn, conn.transaction():
        known = known_tables(conn, source)
        new = [t for t in tables if t not in known] if known else []
        removed = sorted(known - set(tables))
        request = None
        if known and on_postgres:
            ensure_published(source_url, spec, new)
        if new:
            request = add_request(conn, source, "new_tables", new,
                                  table_conditions(project, source, new))
        record_tables(conn, source, new if known else tables, removed)
    if new or removed:
        logger.info("captured tables changed source=%s new=%s removed=%s snapshot_request=%s",
                    source, ",".join(new) or "-", ",".join(removed) or "-", request)


def ensure_signal_table(source_url: str, spec: SourceSpec) -> None:
    """Create the signal table unless it exists; a ConfigError saying what to ask the
    database's owners for when capture may not create it."""
    assert spec.signal_table
    schema, name = spec.signal_table.split(".")
    ddl = sql.SQL("CREATE TABLE IF NOT EXISTS {} (id varchar(64) PRIMARY KEY, type varchar(32) "
                  "NOT NULL, data text)").format(sql.Identifier(schema, name))
    try:
        with psycopg.connect(source_url, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT to_regclass(%s)", (spec.signal_table,)).fetchone() == (None,):
                conn.execute(ddl)
                logger.info("signal table created source=%s table=%s", spec.name,
                            spec.signal_table)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ConfigError(f"cdc/{spec.name}.yaml", [
            f"signal_table: {spec.signal_table} does not exist and capture's user may not "
            f"create it ({str(exc).splitlines()[0]}); ask the database's owners to run "
            f"`{ddl.as_string(None)}` and grant the user SELECT, INSERT on it"]) from exc


def ensure_published(source_url: str, spec: SourceSpec, tables: Sequence[str]) -> None:
    """Add `tables` (and the signal table) to an existing publication that lacks them.
    Debezium's filtered publication would too at start; a warning names the statement for
    the database's owners when capture may not."""
    wanted = captured_with_signal_table(spec, tables)
    with psycopg.connect(source_url, autocommit=True, connect_timeout=10) as conn:
        have = {f"{s}.{t}" for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
            (spec.publication,))}
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s",
                              (spec.publication,)).fetchone()
        missing = [t for t in wanted if t not in have]
        if not exists or not missing:
            return  # Debezium creates the publication with every captured table
        statement = sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
            sql.Identifier(spec.publication),
            sql.SQL(", ").join(sql.Identifier(*t.split(".")) for t in missing))
        try:
            conn.execute(statement)
            logger.info("publication extended source=%s publication=%s tables=%s", spec.name,
                        spec.publication, ",".join(missing))
        except psycopg.Error as exc:
            logger.warning("cannot add tables to publication source=%s: %s; ask the database's "
                           "owners to run `%s`", spec.name, str(exc).splitlines()[0],
                           statement.as_string(conn))
