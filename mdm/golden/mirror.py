"""The mirror of a system of record's rows as row images: read before a batch is applied,
written with it. Runs inside the caller's transaction."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import orjson
import psycopg

from mdm.golden.mapper import RowImage
from mdm.store.repositories import mirror

Rows = dict[tuple[str, str], RowImage]


def _image(data: dict[str, Any], position: str, parent_key: str | None, deleted: bool) -> RowImage:
    return RowImage(attrs=data.get("attrs", {}), retired=bool(data.get("retired")),
                    position=position, parent_key=parent_key, deleted=deleted)


def _select(conn: psycopg.Connection, source: str, table: str,
            by: Literal["row_key", "parent_key"], values: Sequence[str]) -> Rows:
    return {(table, r): _image(d, p, pk, dl)
            for r, d, p, pk, dl in mirror.select_rows(conn, source, table, by, values)}


def load_rows(conn: psycopg.Connection, source: str, keys: Iterable[tuple[str, str]]) -> Rows:
    by_table: dict[str, list[str]] = {}
    for table, row_key in keys:
        by_table.setdefault(table, []).append(row_key)
    found: Rows = {}
    for table, row_keys in by_table.items():  # one primary-key lookup per table
        found.update(_select(conn, source, table, "row_key", row_keys))
    return found


def load_children(conn: psycopg.Connection, source: str, table: str,
                  parent_keys: Sequence[str]) -> Rows:
    return _select(conn, source, table, "parent_key", parent_keys) if parent_keys else {}


def save_rows(conn: psycopg.Connection, source: str, rows: Rows) -> None:
    """Write the images the batch changed (`dirty`)."""
    mirror.save_rows(conn, [
        (source, t, r, img.parent_key,
         orjson.dumps({"attrs": img.attrs, "retired": img.retired}).decode(),
         img.position, img.deleted)
        for (t, r), img in rows.items() if img.dirty
    ])
