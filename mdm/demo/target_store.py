"""The demo OA and WMS behind their REST servers: each system's collections, typed upserts into
its own PostgreSQL database, idempotency records and injected faults (served by demo/targets.py).
"""
from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from mdm.demo.target_schema import COLLECTIONS, Collection, ConnectionPool, load_collections
from mdm.demo.target_values import ApiError

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"
VERSION_HEADER = "X-MDM-Version"
MAX_LIST_LIMIT = 1000


def _system(system: str) -> str:
    name = system.lower()
    if name not in COLLECTIONS:
        raise ValueError(f"unknown target system {system!r}; expected one of {sorted(COLLECTIONS)}")
    return name


def prepare_target_database(url: str, system: str) -> None:
    """Create the system's tables (idempotent: CREATE TABLE IF NOT EXISTS)."""
    name = _system(system)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))
        conn.execute((SQL_DIR / "api.sql").read_text(encoding="utf-8"))
    logger.info("target database ready system=%s", name)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # keeps the column's scale, e.g. "1200.50"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


# -- the target ------------------------------------------------------------------------------


def _receipt(conn: psycopg.Connection[Any], coll: Collection, key: str, version: int | None,
             idempotency_key: str | None, replay: bool) -> None:
    conn.execute("INSERT INTO api_receipt (collection, record_key, version, idempotency_key, "
                 "replay) VALUES (%s, %s, %s, %s, %s)",
                 (coll.name, key, version, idempotency_key, replay))


@dataclass
class Faults:
    """Injected failures: of the next `remaining` PUT/DELETE calls (on `keys` only, if given),
    each fails with probability `rate`: it sleeps, then answers `status`."""

    remaining: int = 0
    status: int = 503
    delay_ms: int = 0
    rate: float = 1.0
    keys: frozenset[str] = frozenset()
    body: str | None = None
    after_write: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def arm(self, spec: FaultSpec) -> None:
        with self._lock:
            self.remaining, self.status, self.delay_ms = spec.fail_next, spec.status, spec.delay_ms
            self.rate, self.keys, self.body = spec.rate, frozenset(spec.keys), spec.body
            self.after_write = spec.after_write

    def take(self, key: str | None = None) -> FaultHit | None:
        """The fault for this call when one hits it (see FaultHit)."""
        with self._lock:
            if self.remaining <= 0 or (self.keys and key not in self.keys):
                return None
            self.remaining -= 1
            if self.rate < 1.0 and random.random() >= self.rate:
                return None
            return FaultHit(self.status, self.delay_ms, self.body, self.after_write)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"fail_next": self.remaining, "status": self.status, "delay_ms": self.delay_ms,
                    "rate": self.rate, "keys": sorted(self.keys), "after_write": self.after_write}


class FaultHit(NamedTuple):
    """A fault hitting one call: sleep `delay_ms`, then answer `status` (0: handle the call
    normally after the delay) with `body` (None: the usual `{"detail": …}`); `after_write`:
    only once the call's write has committed (an answer lost after the commit)."""

    status: int
    delay_ms: int
    body: str | None
    after_write: bool = False


class FaultSpec(BaseModel):
    fail_next: int = Field(default=1, ge=0)
    status: int = Field(default=503, description="0: only delay, then handle normally")
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    rate: float = Field(default=1.0, gt=0, le=1, description="Share of the calls that fail.")
    keys: list[str] = Field(default_factory=list, description="Only calls for these records.")
    body: str | None = Field(None, max_length=100_000, description=(
        "Answer exactly this body (sent as UTF-8, any character, NUL included) with `status`, "
        "instead of {\"detail\": …}; with a 2xx status it stands for the target's answer to a "
        "write it did not make (e.g. a write-back value the hub cannot store)."))
    after_write: bool = Field(False, description=(
        "Make the call's write first, then answer the fault: the answer is lost after the "
        "commit. Only the ERP's POST /api/purchase-orders takes it (OA and WMS refuse it)."))


@dataclass
class _Outcome:
    status: int
    body: dict[str, Any]
    replay: bool = False


class Instrumented:
    """A demo system's injected faults and call counters (served at /_faults and /_stats)."""

    def __init__(self, system: str, counters: tuple[str, ...]) -> None:
        self.system = system
        self.faults = Faults()
        self._lock = threading.Lock()
        self._stats = dict.fromkeys(("failures_injected", *counters), 0)

    def count(self, counter: str) -> None:
        with self._lock:
            self._stats[counter] += 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def ping(self) -> None:
        """Raise if the system's database does not answer (its /healthz)."""
        raise NotImplementedError


class Target(Instrumented):
    """One demo system: its collections, connections, injected faults and counters."""

    def __init__(self, system: str, database_url: str) -> None:
        super().__init__(_system(system), ("puts", "replays", "writes", "deletes", "batches"))
        self.pool = ConnectionPool(database_url)
        self._collections: dict[str, Collection] | None = None
        self._schema_lock = threading.Lock()

    def load_schema(self) -> dict[str, Collection]:
        with self._schema_lock:
            if self._collections is None:
                with self.pool.connection() as conn:
                    self._collections = load_collections(conn, self.system)
            return self._collections

    def collection(self, name: str) -> Collection:
        collections = self.load_schema()
        if name not in collections:
            raise ApiError(404, f"unknown collection {name!r} in {self.system.upper()}; "
                                f"known: {', '.join(collections)}")
        return collections[name]

    def close(self) -> None:
        self.pool.close()

    # -- operations (blocking; run in a worker thread)
    def upsert(self, coll: Collection, key: str, values: dict[str, str | None],
               idempotency_key: str | None, version: int | None = None,
               previous_key: str | None = None) -> _Outcome:
        """Write the record under `key`; with `previous_key`, the record under that key is
        renamed to `key` first (404 if there is none, 409 if another record holds `key`)."""
        with self.pool.connection() as conn, self._refusals(conn, coll, values):
            return self._upsert(conn, coll, key, values, idempotency_key, version, previous_key)

    def patch(self, coll: Collection, key: str,
              values: dict[str, str | None]) -> dict[str, Any] | None:
        """Update only the given columns of the record under `key` (and updated_at): the
        record as it is now, or None when there is none."""
        with self.pool.connection() as conn, self._refusals(conn, coll, values):
            row = conn.execute(_update_sql(coll, list(values)), [*values.values(), key]).fetchone()
        return None if row is None else self.get(coll, key)

    @contextmanager
    def _refusals(self, conn: psycopg.Connection[Any], coll: Collection,
                  values: dict[str, str | None]) -> Iterator[None]:
        """What PostgreSQL refuses in a write, as the API's 422 or 409."""
        try:
            yield
        except psycopg.errors.DataError as exc:
            raise ApiError(422, self._explain_data_error(conn, coll, values, exc)) from exc
        except psycopg.errors.NotNullViolation as exc:
            raise ApiError(422, f"field {exc.diag.column_name!r} is required") from exc
        except psycopg.errors.IntegrityError as exc:
            raise ApiError(409, f"conflict: {exc.diag.message_primary}") from exc

    def _upsert(self, conn: psycopg.Connection[Any], coll: Collection, key: str,
                values: dict[str, str | None], idempotency_key: str | None,
                version: int | None, previous_key: str | None = None) -> _Outcome:
        with conn.transaction():
            if idempotency_key:
                stored = self._stored_response(conn, coll, key, idempotency_key)
                if stored is not None:
                    _receipt(conn, coll, key, version, idempotency_key, replay=True)
                    return _Outcome(200, stored, replay=True)
            _receipt(conn, coll, key, version, idempotency_key, replay=False)
            if previous_key is not None and not _rename_row(conn, coll, previous_key, key):
                raise ApiError(404, f"no {coll.name} record with {coll.key} = {previous_key!r} "
                                    f"to rename to {key!r}")
            row_id, created, reported = _write_row(conn, coll, key, values)
            body = {"id": row_id, "key": key, "status": "created" if created else "updated",
                    **({"previous_key": previous_key} if previous_key else {}), **reported}
            if idempotency_key:
                conn.execute(
                    "INSERT INTO api_idempotency (key, collection, record_key, response) "
                    "VALUES (%s, %s, %s, %s::jsonb)",
                    (idempotency_key, coll.name, key, json.dumps(body, ensure_ascii=False)),
                )
        return _Outcome(201 if created else 200, body)

    @staticmethod
    def _stored_response(conn: psycopg.Connection[Any], coll: Collection, key: str,
                         idempotency_key: str) -> dict[str, Any] | None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (idempotency_key,))
        row = conn.execute(
            "SELECT collection, record_key, response FROM api_idempotency WHERE key = %s",
            (idempotency_key,),
        ).fetchone()
        if row is None:
            return None
        if (row[0], row[1]) != (coll.name, key):
            raise ApiError(422, f"Idempotency-Key {idempotency_key!r} was already used for "
                                f"{row[0]}/{row[1]}, not {coll.name}/{key}")
        return dict(row[2])

    @staticmethod
    def _explain_data_error(conn: psycopg.Connection[Any], coll: Collection,
                            values: dict[str, str | None], exc: psycopg.Error) -> str:
        """Name the field whose value PostgreSQL rejected, by casting each value alone."""
        for name, text in values.items():
            try:
                conn.execute(sql.SQL("SELECT %s::{}").format(sql.SQL(coll.columns[name].cast)),
                             (text,))
            except psycopg.errors.DataError as field_exc:
                return f"field {name!r}: {field_exc.diag.message_primary}"
        return f"invalid value: {exc.diag.message_primary}"

    def delete(self, coll: Collection, key: str) -> bool:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            sql.Identifier(coll.table), sql.Identifier(coll.key))
        with self.pool.connection() as conn:
            return conn.execute(query, (key,)).rowcount > 0

    def get(self, coll: Collection, key: str) -> dict[str, Any] | None:
        query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
            sql.Identifier(coll.table), sql.Identifier(coll.key))
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, (key,)).fetchone()
        return None if row is None else {k: jsonable(v) for k, v in row.items()}

    def list_rows(self, coll: Collection, limit: int, offset: int) -> dict[str, Any]:
        query = sql.SQL("SELECT * FROM {} ORDER BY id LIMIT %s OFFSET %s").format(
            sql.Identifier(coll.table))
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(coll.table))
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, (limit, offset)).fetchall()
            total = conn.execute(count).fetchone()
        items = [{k: jsonable(v) for k, v in row.items()} for row in rows]
        return {"items": items, "total": total[0] if total else 0, "limit": limit,
                "offset": offset}

    def ping(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT 1")


def _cast(coll: Collection, column: str) -> sql.Composed:
    return sql.SQL("%s::{}").format(sql.SQL(coll.columns[column].cast))


def _update_sql(coll: Collection, fields: list[str]) -> sql.Composed:
    """UPDATE the sent fields only (a partial body keeps the other columns), returning id."""
    updates: list[sql.Composable] = [sql.SQL("{} = {}").format(sql.Identifier(f), _cast(coll, f)) for f in fields]
    updates.append(sql.SQL("updated_at = now()"))
    return sql.SQL("UPDATE {} SET {} WHERE {} = %s RETURNING {}").format(
        sql.Identifier(coll.table), sql.SQL(", ").join(updates), sql.Identifier(coll.key),
        _returning(coll))


def _returning(coll: Collection) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, ("id", *coll.reply)))


def _insert_sql(coll: Collection, fields: list[str]) -> sql.Composed:
    columns = [coll.key, *fields]
    query = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING RETURNING {}"
    return sql.SQL(query).format(
        sql.Identifier(coll.table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(_cast(coll, c) for c in columns), sql.Identifier(coll.key),
        _returning(coll))


def _rename_row(conn: psycopg.Connection[Any], coll: Collection, old: str, new: str) -> bool:
    """Give the record under `old` the key `new` (inside the write's transaction); False when
    there is no record under `old`. Another record holding `new` is a 409."""
    query = sql.SQL("UPDATE {} SET {} = %s, updated_at = now() WHERE {} = %s").format(
        sql.Identifier(coll.table), sql.Identifier(coll.key), sql.Identifier(coll.key))
    try:
        with conn.transaction():
            return conn.execute(query, (new, old)).rowcount > 0
    except psycopg.errors.UniqueViolation as exc:
        raise ApiError(409, f"cannot rename {coll.name}/{old} to {new}: another record "
                            f"holds {new}") from exc


def _write_row(conn: psycopg.Connection[Any], coll: Collection, key: str,
               values: dict[str, str | None]) -> tuple[int, bool, dict[str, Any]]:
    """Update the row with this key, else insert it: (id, created, the reply columns).

    Not INSERT … ON CONFLICT DO UPDATE: PostgreSQL checks NOT NULL on the proposed insert
    first, which would reject a partial update of an existing row.
    """
    fields, params = list(values), list(values.values())
    for _ in range(3):  # a concurrent insert or delete can make either statement miss
        row = conn.execute(_update_sql(coll, fields), [*params, key]).fetchone()
        if row is not None:
            return int(row[0]), False, dict(zip(coll.reply, row[1:], strict=True))
        row = conn.execute(_insert_sql(coll, fields), [key, *params]).fetchone()
        if row is not None:
            return int(row[0]), True, dict(zip(coll.reply, row[1:], strict=True))
    raise ApiError(409, f"{coll.name}/{key} changed concurrently; retry")
