"""The request's database connection (SQLAlchemy `Db`, or the psycopg one under it in
autocommit, `Pg`) and the record lookup, shared by the API's routers.

Both come from the API's one bounded pool (MDM_API_POOL_SIZE, no overflow), whose connections
carry a statement timeout; a request holds at most one at a time (authentication gives its
own back before the route takes one: see mdm.api.guard). A full pool answers 503 with
Retry-After after MDM_API_POOL_TIMEOUT_S instead of opening more."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
import sqlalchemy.exc
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine

from mdm.runtime.settings import ApiLimits

logger = logging.getLogger(__name__)


def _connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


Db = Annotated[Connection, Depends(_connection)]


@contextmanager
def pooled(engine: Engine, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """A psycopg connection from the API's pool (in autocommit unless said otherwise), given
    back on leaving; the pool resets its isolation level when it takes it back."""
    options = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine
    with options.connect() as conn:
        yield raw(conn)


def _psycopg(request: Request) -> Iterator[psycopg.Connection]:
    with pooled(request.app.state.engine) as conn:
        yield conn


# A pooled connection in autocommit (for code written against psycopg that manages its own
# transactions).
Pg = Annotated[psycopg.Connection, Depends(_psycopg)]


def record_or_404(request: Request, db: Connection, entity: str, key: str) -> dict[str, Any]:
    """The golden record `key` (business key or golden id) of `entity`, or a 404 that says why."""
    from mdm.golden.queries import find_record

    project = request.app.state.project
    if entity not in project.entities:
        raise HTTPException(404, f"unknown entity {entity!r}; known: {sorted(project.entities)}")
    found = find_record(db, entity, key)
    if found is None:
        raise HTTPException(404, f"no {entity} with business key or golden id {key!r}")
    return found


def raw(db: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy one (for code written against psycopg)."""
    return db.connection.driver_connection  # type: ignore[return-value]


BIGINT = 2**63 - 1  # PostgreSQL's bigint: ids, sequence numbers and transaction ids fit it
Id = Annotated[int, Path(ge=1, le=BIGINT, description="An id (1 … 2^63-1).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many (1 … 1000).")]
Offset = Annotated[int, Query(ge=0, le=BIGINT, description="Skip this many first.")]


def install_error_handlers(app: FastAPI, limits: ApiLimits) -> None:
    """Database trouble a caller can act on gets its status: a full pool or a statement that
    ran past the timeout is 503 (try again), a value PostgreSQL cannot take (a NUL byte, a
    number out of range) is 422, a change that breaks a uniqueness or reference rule is 409 (it
    was rolled back) — never a 500."""

    def busy(detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})

    def unstorable(error: BaseException) -> JSONResponse:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return JSONResponse({"detail": f"a value cannot be stored or compared: {first}"},
                            status_code=422)

    def database_error(request: Request, error: BaseException) -> JSONResponse:
        cause = getattr(error, "orig", None) or error
        if isinstance(cause, psycopg.errors.QueryCanceled):
            logger.warning("statement timeout path=%s timeout_ms=%d", request.url.path,
                           limits.statement_timeout_ms)
            return busy(f"the query ran longer than {limits.statement_timeout_ms} ms "
                        "(MDM_API_STATEMENT_TIMEOUT_MS); narrow it or try again")
        if isinstance(cause, psycopg.DataError):
            return unstorable(cause)
        if isinstance(cause, psycopg.IntegrityError):  # nothing was changed: rolled back
            logger.warning("integrity conflict path=%s error=%s", request.url.path,
                           str(cause).splitlines()[0])
            return JSONResponse({"detail": "this conflicts with what is stored, nothing was "
                                 f"changed: {str(cause).splitlines()[0]}"}, status_code=409)
        raise error

    def pool_full(request: Request, error: BaseException) -> JSONResponse:
        logger.warning("api pool exhausted path=%s pool_size=%d", request.url.path, limits.pool_size)
        return busy(f"the API is busy: all {limits.pool_size} hub connections are in use "
                    "(MDM_API_POOL_SIZE); try again")

    app.add_exception_handler(sqlalchemy.exc.TimeoutError, pool_full)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, database_error)
    app.add_exception_handler(psycopg.Error, database_error)
