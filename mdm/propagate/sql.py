"""The SQL propagator (数据库直连): upsert straight into a target table over SQLAlchemy.

One claim is written in one transaction (a row at a time, each statement tiny on loopback);
if a row is refused for its data (a constraint, a bad value), the batch is rolled back and
written again one row per transaction, so the refused row is dead alone and the rest flow on.
Lost connections and timeouts are transient: the claim is retried with backoff. SQLAlchemy's
exceptions are translated here, once (`SqlPropagator.error_of`): TargetUnavailable or
TargetRefused.

A record whose business key changed since the table last took it (a rename) is renamed in
place: UPDATE … SET key = new WHERE key = old. If the table holds no row under the old key, it
is upserted under the new one; if another row holds the new key (or `rename: recreate`), the
old row is retired as `retire:` says and the new key upserted.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from mdm.config.loader import Project, expand_env
from mdm.config.targets import SqlTarget, TargetMapping
from mdm.config.urls import libpq_multi_host_to_sqlalchemy
from mdm.errors import TargetRefused, TargetUnavailable
from mdm.propagate.base import failed, redact
from mdm.model.deliveries import Delivery, Outcome
from mdm.propagate.outbox import write_back_values
from mdm.propagate.sql_commands import write_command
from mdm.propagate.sql_values import coerce as _coerce
from mdm.propagate.sql_values import jsonable as _jsonable
from mdm.propagate.sql_values import typed as _typed

logger = logging.getLogger(__name__)
TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
             sa_exc.DisconnectionError)


def engine_url(url: str) -> str:
    """postgresql:// means psycopg 3 here (SQLAlchemy's default driver is not installed);
    libpq's several hosts (`@a:5432,b:5432/db`) become SQLAlchemy's `?host=a:5432&host=…`."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    return libpq_multi_host_to_sqlalchemy(url) if url.startswith("postgresql") else url


class SqlPropagator:
    def __init__(self, target: SqlTarget, project: Project) -> None:
        self.target = target
        self.project = project
        url = engine_url(expand_env(target.url, f"targets/{target.name}.yaml"))
        self.where = redact(url)
        connect_args: dict[str, Any] = {}
        if url.startswith("postgresql"):
            timeout_ms = int(target.timeout_s * 1000)
            connect_args = {"connect_timeout": max(1, int(target.timeout_s)),
                            "options": f"-c statement_timeout={timeout_ms} "
                                       f"-c lock_timeout={timeout_ms}"}
        self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=0,
                                       connect_args=connect_args)
        self.tables: dict[str, sa.Table] = {}

    async def aclose(self) -> None:
        await asyncio.to_thread(self.engine.dispose)

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        return await asyncio.to_thread(self._deliver_all, deliveries)

    def _deliver_all(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        try:
            with self.engine.begin() as conn:
                return [self._acked(d, self._write(conn, d)) for d in deliveries]
        except (sa_exc.SQLAlchemyError, ValueError) as exc:
            error = self.error_of(exc)
            if isinstance(error, TargetUnavailable):
                return [failed(d, error) for d in deliveries]
        # a row was refused: find which, one transaction per row
        return [self._deliver_one(d) for d in deliveries]

    def _deliver_one(self, d: Delivery) -> Outcome:
        try:
            with self.engine.begin() as conn:
                return self._acked(d, self._write(conn, d))
        except (sa_exc.SQLAlchemyError, ValueError) as exc:
            return failed(d, self.error_of(exc))

    def error_of(self, exc: sa_exc.SQLAlchemyError | ValueError,
                 ) -> TargetUnavailable | TargetRefused:
        """A lost connection, a timeout or a pool that cannot connect is for later; anything
        else the database (or the mapping onto its table) refuses is for the row's data."""
        if isinstance(exc, TRANSIENT):
            return TargetUnavailable(self.target.name, f"{self.where}: {_reason(exc)}")
        return TargetRefused(self.target.name, f"refused: {_reason(exc)}")

    def _acked(self, d: Delivery, written: tuple[str | None, dict[str, Any] | None]) -> Outcome:
        if d.hop is not None:  # a flow's command: the key the database gave its document
            return Outcome(d, acked=True, target_id=written[0])
        mapping = self.project.entities[d.entity].targets[self.target.name]
        return Outcome(d, acked=True, target_id=written[0],
                       write_back=write_back_values(mapping, written[1], d.owned))

    def _table(self, conn: sa.Connection, name: str) -> sa.Table:
        if name not in self.tables:
            schema, _, table = name.rpartition(".")
            self.tables[name] = sa.Table(table, sa.MetaData(), schema=schema or None,
                                         autoload_with=conn)
        return self.tables[name]

    def _write(self, conn: sa.Connection, d: Delivery) -> tuple[str | None, dict[str, Any] | None]:
        """Write one delivery; (the row's id, the row's write-back columns)."""
        if d.hop is not None:
            if d.refused is not None:
                raise ValueError(d.refused)
            return write_command(conn, self._table, self.project, d), None
        mapping = self.project.entities[d.entity].targets[self.target.name]
        assert mapping.table is not None and mapping.key is not None
        table = self._table(conn, mapping.table)
        key_col = table.c[mapping.key]
        if d.operation == "retire" and mapping.retire == "delete":
            keys = [d.business_key, *([d.previous_key] if d.previous_key is not None else [])]
            conn.execute(sa.delete(table).where(key_col.in_([_coerce(key_col, k) for k in keys])))
            return None, None
        values = _typed(table, d.payload)
        for column in (*mapping.write_back, *([mapping.version_field] if mapping.version_field else [])):
            if column not in table.c:
                raise ValueError(f"table {table.fullname} has no column {column}")
        values[mapping.key] = _coerce(key_col, d.business_key)
        if mapping.version_field:
            values[mapping.version_field] = d.version
        if d.previous_key is not None:
            renamed = _rename(conn, table, mapping, values, _coerce(key_col, d.previous_key))
            if renamed is not None:
                return renamed
        return _upsert(conn, table, mapping, values)


def _upsert(conn: sa.Connection, table: sa.Table, mapping: TargetMapping,
            values: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    assert mapping.key is not None
    key_col = table.c[mapping.key]
    pk = list(table.primary_key.columns)
    returning = [*(pk[:1] if pk else [key_col]), *(table.c[f] for f in mapping.write_back)]
    changes = {k: v for k, v in values.items() if k != mapping.key}
    newer = None
    if mapping.version_field:  # an older version never overwrites a newer one
        col = table.c[mapping.version_field]
        newer = sa.or_(col.is_(None), col <= values[mapping.version_field])
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        stmt = insert(table).values(values)
        stmt = stmt.on_conflict_do_update(index_elements=[key_col], set_=changes, where=newer)
        row = conn.execute(stmt.returning(*returning)).first()
    else:
        row = _update_or_insert(conn, table, mapping, values, changes, newer, returning)
    if row is None:  # a newer version is already there: nothing written
        return None, None
    return str(row[0]), {f: _jsonable(v) for f, v in zip(mapping.write_back, row[1:], strict=True)}


def _rename(conn: sa.Connection, table: sa.Table, mapping: TargetMapping,
            values: dict[str, Any], old_key: Any) -> tuple[str | None, dict[str, Any] | None] | None:
    """UPDATE the row under the old key to the new key and values; None when no row was
    renamed (none under the old key, or the rename is not possible: then the old row is
    retired and the caller upserts the new key)."""
    assert mapping.key is not None
    key_col = table.c[mapping.key]
    pk = list(table.primary_key.columns)
    returning = [*(pk[:1] if pk else [key_col]), *(table.c[f] for f in mapping.write_back)]
    if mapping.rename == "in_place":
        update = sa.update(table).where(key_col == old_key).values(values).returning(*returning)
        if mapping.version_field:
            col = table.c[mapping.version_field]
            update = update.where(sa.or_(col.is_(None), col <= values[mapping.version_field]))
        try:
            with conn.begin_nested():  # a clash with another row rolls back this statement only
                row = conn.execute(update).first()
        except sa_exc.IntegrityError:
            row = None
            logger.info("rename refused table=%s key=%s previous_key=%s: retiring the old row",
                        table.fullname, values[mapping.key], old_key)
        else:
            if row is not None:
                return str(row[0]), {f: _jsonable(v) for f, v in
                                     zip(mapping.write_back, row[1:], strict=True)}
            if conn.execute(sa.select(key_col).where(key_col == old_key)).first() is None:
                return None  # nothing under the old key: the new key is upserted
            return None, None  # a newer version is under the old key: nothing written
    _retire_row(conn, table, mapping, old_key)
    return None


def _retire_row(conn: sa.Connection, table: sa.Table, mapping: TargetMapping,
                old_key: Any) -> None:
    assert mapping.key is not None
    where = table.c[mapping.key] == old_key
    if mapping.retire == "delete" or mapping.active_field is None:
        conn.execute(sa.delete(table).where(where))
    else:
        conn.execute(sa.update(table).where(where).values({mapping.active_field: False}))


def _update_or_insert(conn: sa.Connection, table: sa.Table, mapping: TargetMapping,
                      values: dict[str, Any], changes: dict[str, Any], newer: Any,
                      returning: list[Any]) -> Any:
    """The upsert for databases without INSERT … ON CONFLICT."""
    assert mapping.key is not None
    key_col = table.c[mapping.key]
    update = sa.update(table).where(key_col == values[mapping.key]).values(changes)
    if newer is not None:
        update = update.where(newer)
    if conn.execute(update).rowcount == 0:
        exists = conn.execute(sa.select(key_col).where(key_col == values[mapping.key])).first()
        if exists is not None:
            return None
        conn.execute(sa.insert(table).values(values))
    return conn.execute(sa.select(*returning).where(key_col == values[mapping.key])).first()


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).strip().splitlines()[0] if str(original).strip() else ''}"
