"""Bulk writes: COPY rows into a per-session temporary table, from which one INSERT … SELECT
(or UPDATE … FROM) applies them. Much faster than row-by-row statements for batches."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg


def stage_rows(cur: psycopg.Cursor[Any], name: str, definition: str, columns: str,
               rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY `rows` into temp table `name` (created once per session from `definition`, the text
    between its parentheses; emptied at each commit)."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({definition}) ON COMMIT DELETE ROWS")
    with cur.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
