"""Alembic environment: migrates the hub database given by the caller's connection or URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mdm.store.schema_compare import COMPARE_OPTIONS
from mdm.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
