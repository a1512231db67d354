"""The request's database connections (SQLAlchemy `Db`, psycopg `Pg`) and the record lookup,
shared by the API's routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request
from sqlalchemy import Connection, Engine


def _connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


Db = Annotated[Connection, Depends(_connection)]


def _psycopg(request: Request) -> Iterator[psycopg.Connection]:
    with psycopg.connect(request.app.state.libpq_url, autocommit=True) as conn:
        yield conn


# A connection of its own, in autocommit (for code written against psycopg that manages its
# own transactions); not from the pool, whose connections the auth check also takes.
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
