"""SQL for webhook callbacks waiting for their fetch-back (mdm/capture/webhook_fetch.py).

A callback waiting is an inbox row of the feed's `<table>.callback` table; it is done once the
inbox holds a row of the documents' table for the same instance (row key) stored after it —
the fetched document, or the failed record the fetch-back gave up with. No state of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

WAITING_SQL = """
SELECT c.id, c.row_key, c.position
FROM inbox c
WHERE c.source = %(source)s AND c.table_name = %(callbacks)s
  AND NOT EXISTS (SELECT 1 FROM inbox d
                  WHERE d.source = c.source AND d.table_name = %(table)s
                    AND d.row_key = c.row_key AND d.id > c.id)
ORDER BY c.id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Waiting:
    id: int
    key: str  # the instance id
    position: str  # the callback's position: the fetched document takes it


def waiting_callbacks(conn: psycopg.Connection, source: str, callbacks_table: str, table: str,
                      limit: int = 100) -> list[Waiting]:
    """Callbacks not fetched back yet, the newest per instance (one fetch serves them all)."""
    rows = conn.execute(WAITING_SQL, {"source": source, "callbacks": callbacks_table,
                                      "table": table, "limit": limit}).fetchall()
    newest: dict[str, Waiting] = {}
    for id_, key, position in rows:
        newest[key] = Waiting(id_, key, position)
    return sorted(newest.values(), key=lambda w: w.id)
