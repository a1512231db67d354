"""A flow's command on a SQL target (an ERP's interface tables, as 用友/金蝶 are written):
create inserts the header and its rows in one transaction and keeps the number the database
assigned; update writes the hop's fields onto the row whose key column holds the command's
key. The header keeps the command's idempotency key (`command_key:`, a unique column): a
retry after a crash or a lost answer finds the row the first attempt made and inserts
nothing, so a document is made once however often the command is sent."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mdm.config.flows import CommandList, CommandMapping
from mdm.config.loader import Project
from mdm.model.deliveries import Delivery
from mdm.propagate.sql_values import coerce, typed

TableOf = Callable[[sa.Connection, str], sa.Table]


def write_command(conn: sa.Connection, table_of: TableOf, project: Project,
                  d: Delivery) -> str | None:
    """Perform the command in the caller's transaction; the created document's key."""
    assert d.hop is not None
    hop, back = project.command_of(d.hop)
    mapping = hop.back if back else hop.to
    assert mapping is not None and mapping.table is not None
    header, lists = _split(mapping, d.payload)
    table = table_of(conn, mapping.table)
    if d.operation == "update":
        match = getattr(mapping, "match", None)
        assert match is not None
        done = conn.execute(sa.update(table).where(
            table.c[match] == coerce(table.c[match], d.business_key)).values(typed(table, header)))
        if done.rowcount == 0:
            raise ValueError(f"no row of {table.fullname} with {match} = {d.business_key}")
        return None
    return _create(conn, table_of, table, mapping, header, lists, d.idempotency_key)


def _split(mapping: CommandMapping, payload: dict[str, Any],
           ) -> tuple[dict[str, Any], list[tuple[CommandList, list[dict[str, Any]]]]]:
    """The header's columns, and each child list's rows with how they are written."""
    header, lists = {}, []
    for field, source in mapping.fields.items():
        if isinstance(source, str) and source in mapping.children:
            lists.append((mapping.children[source], list(payload.get(field) or [])))
        else:
            header[field] = payload.get(field)
    return header, lists


def _create(conn: sa.Connection, table_of: TableOf, table: sa.Table, mapping: Any,
            header: dict[str, Any], lists: list[tuple[CommandList, list[dict[str, Any]]]],
            key: str) -> str:
    pk = list(table.primary_key.columns)
    if not pk:
        raise ValueError(f"table {table.fullname} has no primary key for its rows to name")
    kept = table.c[mapping.returning] if mapping.returning else pk[0]
    by_key = table.c[mapping.command_key]
    made = conn.execute(sa.select(pk[0], kept).where(by_key == key)).first()
    if made is not None:  # made by an earlier attempt: the same document
        return str(made[1])
    values = {**typed(table, header), mapping.command_key: key}
    try:
        with conn.begin_nested():  # another writer made it meanwhile: its row is the document
            row = conn.execute(sa.insert(table).values(values).returning(pk[0], kept)).first()
    except sa.exc.IntegrityError:
        made = conn.execute(sa.select(pk[0], kept).where(by_key == key)).first()
        if made is None:
            raise
        return str(made[1])
    assert row is not None
    for rows, items in lists:
        assert rows.table is not None and rows.parent_column is not None
        child = table_of(conn, rows.table)
        for item in items:
            conn.execute(sa.insert(child).values({**typed(child, item),
                                                  rows.parent_column: row[0]}))
    return str(row[1])
