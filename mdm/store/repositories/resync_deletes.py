"""SQL for what an entity-wide `mdm resync` finds gone: a row the hub mirrors that the re-read
did not return, and that no other event touched meanwhile, was deleted at the source without
the hub seeing it (a capture gap, a slot recreated). Its delete is appended to the inbox, so
processing retires the record (or drops the child row) as it would for a captured delete.
Runs in capture's batch transaction that records the snapshot's end (capture.py `_end`)."""
from __future__ import annotations

import logging

import psycopg

from mdm.model.inbox import CONTENT_POSITION_PREFIX
from mdm.store.repositories.inbox import notify

logger = logging.getLogger(__name__)

# The request's tables whose re-read is complete, and when their snapshot began (snapshot
# progress `started_at`: the start of the batch transaction that recorded Debezium's STARTED,
# so the rows of that batch count as read after it).
READ_TABLES = """
SELECT p.table_name, p.rows, p.started_at FROM snapshot_request q
JOIN snapshot_progress p ON p.source = q.source AND p.kind = 'incremental'
     AND p.request_id = q.id AND p.table_name = ANY(q.tables)
WHERE q.id = %(r)s AND q.source = %(s)s AND q.reason = 'resync' AND q.keys IS NULL
  AND q.status IN ('pending', 'sent', 'running') AND p.state = 'done'
"""
# The source's last inbox row from before the snapshot began: capture appends one source's
# batches one after another, so every row of it with a greater id came during the re-read.
# (The walk down the primary key passes only the rows since.)
LAST_BEFORE = """
SELECT id FROM inbox WHERE source = %(s)s AND received_at < %(at)s ORDER BY id DESC LIMIT 1
"""
# Rows the re-read returned or the stream changed since it began, per table; a table whose
# snapshot read more rows than reached the inbox as new rows (a read equal to an event the
# inbox already held is absorbed) is left alone: a row of it may exist unseen. The deletes
# come in the request's table order (children first, resync_plan), so a record whose main
# row is gone loses its child rows first and is retired by its main row's delete, last.
DELETE_UNREAD = f"""
WITH seen AS MATERIALIZED (
    SELECT DISTINCT table_name, row_key FROM inbox
    WHERE source = %(s)s AND id > %(since)s AND table_name = ANY(%(tables)s)),
whole AS (
    SELECT t.name FROM unnest(%(tables)s::text[], %(rows)s::bigint[]) AS t(name, rows)
    WHERE t.rows <= (SELECT count(*) FROM seen WHERE seen.table_name = t.name))
INSERT INTO inbox (source, position, table_name, row_key, op, commit_ts)
SELECT r.source, '{CONTENT_POSITION_PREFIX}resync-' || %(r)s::text, r.table_name, r.row_key,
       'd', clock_timestamp()
FROM source_row r JOIN whole w ON w.name = r.table_name
WHERE r.source = %(s)s AND NOT r.is_deleted
  AND NOT COALESCE((r.data->>'retired')::boolean, false)
  AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.table_name = r.table_name
                  AND seen.row_key = r.row_key)
ORDER BY array_position((SELECT q.tables FROM snapshot_request q WHERE q.id = %(r)s),
                        r.table_name), r.row_key
ON CONFLICT DO NOTHING
"""


def delete_unread_rows(conn: psycopg.Connection, source: str, request_id: int) -> int:
    """Append a delete for each mirrored row of a finished entity-wide resync's tables that it
    did not read and no event touched since it began; how many. A keyed resync (`mdm resync
    supplier S0003`) deletes nothing: a key it did not find may have been renamed at the
    source. Idempotent: the deletes' position names the request."""
    read = conn.execute(READ_TABLES, {"r": request_id, "s": source}).fetchall()
    if not read:
        return 0
    began = min(started for _, _, started in read)
    last = conn.execute(LAST_BEFORE, {"s": source, "at": began}).fetchone()
    tables = [table for table, _, _ in read]
    cur = conn.execute(DELETE_UNREAD, {"s": source, "r": request_id, "tables": tables,
                                       "rows": [int(rows) for _, rows, _ in read],
                                       "since": last[0] if last else 0})
    if cur.rowcount:
        notify(conn)  # wake the processors (at commit)
        logger.info("resync found rows gone source=%s request=%d deletes=%d", source,
                    request_id, cur.rowcount)
    else:
        logger.debug("resync found no row gone source=%s request=%d", source, request_id)
    return cur.rowcount
