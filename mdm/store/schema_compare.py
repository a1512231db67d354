"""How Alembic compares the hub's tables (store/tables/) with a database: the options
migrations/env.py gives autogenerate and tests/integration/test_schema_metadata.py uses."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterType
    from sqlalchemy.sql.schema import SchemaItem

# Debezium's JDBC offset store keeps each source's offsets in a table of the hub database that
# no migration creates (mdm/capture/debezium.py, offsets_table).
OFFSET_TABLE_PREFIX = "capture_offsets_"


def include_object(item: SchemaItem, name: str | None, type_: NameFilterType, reflected: bool,
                   compare_to: SchemaItem | None) -> bool:
    """Whether Alembic compares this object: all but the offset store's tables, which only the
    database has (autogenerate would otherwise write migrations dropping them)."""
    return not (type_ == "table" and reflected and compare_to is None
                and (name or "").startswith(OFFSET_TABLE_PREFIX))


class CompareOptions(TypedDict):
    """How Alembic compares this metadata with a database (migrations/env.py, the schema test).
    Types and server defaults are compared too: PostgreSQL reflects every default used here
    ('pending'::text, false, 0, clock_timestamp()) in a form Alembic matches exactly or
    evaluates on the server. Only Debezium's offset tables are left out (include_object); the
    audit chain's triggers and functions need no exclusion, autogenerate does not reflect them,
    and there are no expression indexes."""

    compare_type: bool
    compare_server_default: bool
    include_object: Callable[[SchemaItem, str | None, NameFilterType, bool, SchemaItem | None],
                             bool]


COMPARE_OPTIONS: CompareOptions = {"compare_type": True, "compare_server_default": True,
                                   "include_object": include_object}
