"""The request's database connection (SQLAlchemy `Db`, or the psycopg one under it in
autocommit, `Pg`) and the record lookup, shared by the API's routers.

Both come from the API's one bounded pool (MDM_API_POOL_SIZE, no overflow), whose connections
carry a statement timeout; a request holds at most one at a time (authentication gives its
own back before the route takes one: see mdm.api.guard). A full pool answers 503 with
Retry-After after MDM_API_POOL_TIMEOUT_S instead of opening more (mdm.api.errors)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Path, Query, Request
from sqlalchemy import Connection, Engine

from mdm.errors import InvalidParameter, NotFound


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


def entity_or_404(request: Request, entity: str) -> None:
    """Raise NotFound unless the project declares `entity`."""
    project = request.app.state.project
    if entity not in project.entities:
        raise NotFound("entity", entity,
                       f"unknown entity {entity!r}; known: {sorted(project.entities)}")


def record_or_404(request: Request, db: Connection, entity: str, key: str) -> dict[str, Any]:
    """The golden record of `entity` whose business key is `key` — or, with `?by=golden_id`,
    whose golden id is `key` (never one for the other: a business key "42" is not golden id
    42); NotFound says why not."""
    from mdm.store.repositories.records import find_record, find_record_by_id

    entity_or_404(request, entity)
    by = request.query_params.get("by", "business_key")
    if by == "golden_id":
        if not (key.isascii() and key.isdigit() and 0 < int(key) <= BIGINT):  # "²" is a digit too
            raise InvalidParameter("key", f"golden id {key!r} is not a number 1 … 2^63-1")
        found = find_record_by_id(db, entity, int(key))
        if found is None:
            raise NotFound(entity, key, f"no {entity} with golden id {key}")
        return found
    if by != "business_key":
        raise InvalidParameter("by", f"by={by!r}: a record is looked up by business_key (the "
                                     "default) or golden_id")
    found = find_record(db, entity, key)
    if found is None:
        raise NotFound(entity, key, f"no {entity} with business key {key!r} (a golden id is "
                                    "looked up with ?by=golden_id)")
    return found


def raw(db: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy one (for code written against psycopg)."""
    return db.connection.driver_connection  # type: ignore[return-value]


BIGINT = 2**63 - 1  # PostgreSQL's bigint: ids, sequence numbers and transaction ids fit it
Id = Annotated[int, Path(ge=1, le=BIGINT, description="An id (1 … 2^63-1).")]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many (1 … 1000).")]
Offset = Annotated[int, Query(ge=0, le=BIGINT, description="Skip this many first.")]
