"""SQL on rule results (`rule_result`): what a version did not pass, and by which rule. Each
function runs in the caller's transaction."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

# (golden_id, version, entity, business_key, rule, kind, attribute, severity, outcome,
#  observed as JSON text, expectation as JSON text, detail)
ResultRow = tuple[Any, ...]


def store_results(conn: psycopg.Connection, rows: Sequence[ResultRow]) -> None:
    """Append rule results (COPY)."""
    if not rows:
        return
    with conn.cursor() as cur, cur.copy(
        "COPY rule_result (golden_id, version, entity, business_key, rule, kind, attribute, "
        "severity, outcome, observed, expectation, detail) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def drop_results(conn: psycopg.Connection, versions: Sequence[tuple[int, int]]) -> None:
    """Forget the stored results of (golden_id, version)s: they are judged again."""
    conn.execute("DELETE FROM rule_result WHERE (golden_id, version) IN "
                 "(SELECT * FROM unnest(%s::bigint[], %s::int[]))",
                 ([g for g, _ in versions], [v for _, v in versions]))
