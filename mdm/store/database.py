"""Engine factory and schema migrations for the hub database (SQLAlchemy 2 + psycopg 3)."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from mdm.errors import TransientError

logger = logging.getLogger(__name__)
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def sqlalchemy_url(url: str) -> str:
    """postgresql://… → postgresql+psycopg://… (psycopg 3 driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """postgresql+psycopg://… → postgresql://… (for psycopg and Debezium)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_hub_engine(url: str, pool_size: int = 5, max_overflow: int = 5,
                      pool_timeout_s: float = 30.0, statement_timeout_ms: int | None = None,
                      application_name: str | None = None) -> Engine:
    """A pooled engine: at most `pool_size + max_overflow` connections, a caller waits up to
    `pool_timeout_s` for one (then sqlalchemy.exc.TimeoutError). With `statement_timeout_ms`,
    PostgreSQL cancels any statement on these connections that runs longer."""
    options = []
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    connect_args: dict[str, str] = {"options": " ".join(options)} if options else {}
    if application_name:
        connect_args["application_name"] = application_name
    return create_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=max_overflow,
        pool_timeout=pool_timeout_s, pool_pre_ping=True, future=True, connect_args=connect_args,
    )


def upgrade_database(url: str) -> None:
    """Bring the hub schema to the newest migration; safe to call on every start."""
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            # Several processes may start together: serialise their migrations.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
    logger.info("hub schema up to date")


def connect(url: str, autocommit: bool = False) -> psycopg.Connection:
    """A raw psycopg connection, for the hot paths (inbox writes, processing)."""
    try:
        return psycopg.connect(libpq_url(url), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot connect to the hub database: {exc}") from exc
