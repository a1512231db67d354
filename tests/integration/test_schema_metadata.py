"""store/tables/ describes the schema the migrations build: Alembic's autogenerate comparison
of a database upgraded to head with the SQLAlchemy metadata finds nothing to add or drop (only
Debezium's offset tables, which no migration creates, are left out), and the check constraints
(which autogenerate does not compare) carry the same names."""
from __future__ import annotations

import pprint
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, MetaData, Text, create_engine, inspect, text

from mdm.capture.debezium import offsets_table
from mdm.config.sources import SourceSpec
from mdm.runtime.postgres import EmbeddedPostgres
from mdm.store.database import sqlalchemy_url, upgrade_database
from mdm.store.schema_compare import COMPARE_OPTIONS
from mdm.store.tables import metadata
from tests.helpers import execute, running_postgres


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with running_postgres(tmp_path_factory.mktemp("schema_metadata")) as server:
        yield server


def _fresh_head(pg: EmbeddedPostgres) -> str:
    """A fresh database upgraded to the newest migration."""
    name = f"schema_{uuid.uuid4().hex[:12]}"
    pg.create_database(name)
    url = pg.url(name)
    upgrade_database(url)
    return url


@pytest.fixture(scope="module")
def head_url(pg: EmbeddedPostgres) -> str:
    """A database at head that the tests only read."""
    return _fresh_head(pg)


def _diff(url: str, target: MetaData) -> list[Any]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts=dict(COMPARE_OPTIONS))
            return list(compare_metadata(context, target))
    finally:
        engine.dispose()


def _copy_without(skip_table: str) -> MetaData:
    copy = MetaData()
    for table in metadata.sorted_tables:
        if table.name != skip_table:
            table.to_metadata(copy)
    return copy


def test_autogenerate_finds_no_difference_between_migrations_and_tables(head_url: str) -> None:
    diff = _diff(head_url, metadata)
    assert diff == [], "store/tables/ differs from the migrated schema:\n" + pprint.pformat(diff)


def test_the_comparison_sees_a_missing_table_a_changed_type_and_default(head_url: str) -> None:
    """The comparison is not blind: a table the metadata lacks, a column of another type and a
    different server default each show up in the diff."""
    altered = _copy_without("audit_seal")
    inbox = altered.tables["inbox"]
    inbox.c.tx_id.type = Text()
    inbox.c.status.server_default.arg = text("'done'")  # type: ignore[union-attr]
    # Column changes come grouped per column (a list of tuples), the rest as single tuples.
    changes = [change for entry in _diff(head_url, altered)
               for change in (entry if isinstance(entry, list) else [entry])]
    assert [c[1].name for c in changes if c[0] == "remove_table"] == ["audit_seal"]
    assert [(c[2], c[3]) for c in changes if c[0] == "modify_type"] == [("inbox", "tx_id")]
    assert [(c[2], c[3]) for c in changes if c[0] == "modify_default"] == [("inbox", "status")]


def test_debezium_offset_tables_are_left_out_and_other_strangers_are_not(pg: EmbeddedPostgres) -> None:
    """Capture's offset store creates a table per source in the hub database (no migration
    does): autogenerate must not propose dropping it, but any other unknown table shows up."""
    url = _fresh_head(pg)
    offsets = offsets_table(SourceSpec(name="erp", url="postgresql://u@h/erp"))
    execute(url, f"CREATE TABLE {offsets} (id text PRIMARY KEY, offset_key text)",
              "CREATE TABLE stray_table (id bigint PRIMARY KEY)")
    assert [(d[0], d[1].name) for d in _diff(url, metadata)] == [("remove_table", "stray_table")]


def test_check_constraints_have_the_migrations_names(head_url: str) -> None:
    """Autogenerate does not compare check constraints: their names are compared here."""
    declared = {(table.name, constraint.name) for table in metadata.sorted_tables
                for constraint in table.constraints if isinstance(constraint, CheckConstraint)}
    engine = create_engine(sqlalchemy_url(head_url))
    try:
        inspector = inspect(engine)
        reflected = {(name, check["name"]) for name in inspector.get_table_names()
                     for check in inspector.get_check_constraints(name)}
    finally:
        engine.dispose()
    assert declared == reflected
