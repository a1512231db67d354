"""SQL on the mirror (`source_row`): the hub's copy of each captured row. For a system of
record, the decoded row image golden records are assembled from; for a target's observed table,
the business key each target row holds (so its delete, which carries only the row's id, can be
told). Each function runs in the caller's transaction."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import psycopg

from mdm.store.bulk import stage_rows

# (row_key, data, position, parent_key, is_deleted) as stored
MirrorRow = tuple[str, dict[str, Any], str, "str | None", bool]
# (source, table_name, row_key, parent_key, data as JSON text, position, is_deleted)
MirrorWrite = tuple[str, str, str, "str | None", str, str, bool]

_COLUMNS = "source, table_name, row_key, parent_key, data, position, is_deleted"


def select_rows(conn: psycopg.Connection, source: str, table: str,
                by: Literal["row_key", "parent_key"], values: Sequence[str]) -> list[MirrorRow]:
    """Mirrored rows of `table` whose `by` column (row_key or parent_key) is in `values`."""
    rows: list[MirrorRow] = conn.execute(
        f"SELECT row_key, data, position, parent_key, is_deleted FROM source_row "
        f"WHERE source = %s AND table_name = %s AND {by} = ANY(%s)",
        (source, table, list(values)),
    ).fetchall()
    return rows


def save_rows(conn: psycopg.Connection, rows: Sequence[MirrorWrite]) -> None:
    """Upsert mirrored rows (staged, then one INSERT … ON CONFLICT)."""
    if not rows:
        return
    with conn.cursor() as cur:
        stage_rows(cur, "source_row_stage", "LIKE source_row INCLUDING DEFAULTS", _COLUMNS, rows)
        cur.execute(
            f"""
            INSERT INTO source_row ({_COLUMNS}) SELECT {_COLUMNS} FROM source_row_stage
            ON CONFLICT (source, table_name, row_key) DO UPDATE SET
                parent_key = EXCLUDED.parent_key, data = EXCLUDED.data,
                position = EXCLUDED.position, is_deleted = EXCLUDED.is_deleted
            """
        )


# -- observed copies ----------------------------------------------------------------------------
def remember_keys(conn: psycopg.Connection, source: str, table: str,
                  keys: Mapping[str, tuple[str, str]]) -> None:
    """Which business key each target row holds: business key → (row_key, position). Written
    once per row: echoes of later pushes cost an index probe."""
    if keys:
        conn.execute(
            "INSERT INTO source_row (source, table_name, row_key, data, position) "
            "SELECT %s, %s, r, jsonb_build_object('key', k), p "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(r, k, p) "
            "ON CONFLICT DO NOTHING",
            (source, table, [r for r, _ in keys.values()], list(keys),
             [p for _, p in keys.values()]))


def forget_rows(conn: psycopg.Connection, source: str, table: str,
                row_keys: Sequence[str]) -> dict[str, str]:
    """Drop deleted target rows from the mirror: row_key → the business key it held."""
    return {row_key: key for row_key, key in conn.execute(
        "DELETE FROM source_row WHERE source = %s AND table_name = %s AND row_key = ANY(%s) "
        "RETURNING row_key, data ->> 'key'", (source, table, list(row_keys)))}
