"""The request's database connection (SQLAlchemy), shared by the API's routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine


def _connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


Db = Annotated[Connection, Depends(_connection)]


def raw(db: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy one (for code written against psycopg)."""
    return db.connection.driver_connection  # type: ignore[return-value]
