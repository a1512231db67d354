"""SQL of the master stage: read pending inbox rows and mirrors, write mirrors, golden records,
versions and xrefs. Every function runs inside the caller's transaction.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mdm.golden.mapper import RowImage
from mdm.golden.models import GoldenState, NewVersion


@dataclass(frozen=True)
class InboxRow:
    id: int
    source: str
    table: str
    row_key: str
    op: str
    position: str
    tx_id: int | None
    lsn: int | None
    commit_ts: datetime | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


CLAIM_SQL = """
SELECT id, source, table_name, row_key, op, position, tx_id, lsn, commit_ts, before, after
FROM inbox WHERE status = 'pending' AND id > %(after)s {extra}
ORDER BY id LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
COMPLETE_SQL = """
SELECT EXISTS (SELECT 1 FROM source_tx WHERE source = %(source)s AND tx_id = %(tx)s)
    OR EXISTS (SELECT 1 FROM inbox WHERE source = %(source)s AND id > %(last)s)
    OR (SELECT received_at FROM inbox WHERE id = %(last)s) < clock_timestamp() - interval '5 seconds'
"""


def claim_pending(conn: psycopg.Connection, limit: int, after_id: int = 0) -> list[InboxRow]:
    """Lock up to `limit` pending events, in inbox order, that end on a transaction boundary.

    Capture appends in commit order and a transaction's rows are contiguous, so only the
    transaction at the end of the inbox can still be growing. It is taken once capture has
    stored its END record (or a later row exists, or it is 5 s old: END records can be lost
    across a capture restart). A batch never ends inside a transaction: a transaction cut by
    the limit waits for the next batch, or extends the batch if it is alone in it.
    """
    rows = [InboxRow(*r) for r in conn.execute(
        CLAIM_SQL.format(extra=""), {"after": after_id, "limit": limit}).fetchall()]
    if not rows or rows[-1].tx_id is None or rows[-1].op == "r":
        return rows
    last = rows[-1]
    cut = len(rows)
    while cut > 0 and rows[cut - 1].tx_id == last.tx_id and rows[cut - 1].source == last.source:
        cut -= 1
    if len(rows) == limit and cut > 0:
        return rows[:cut]  # the cut transaction's rows stay pending for the next batch
    if len(rows) == limit:  # one transaction larger than the batch: take all of it
        rows += [InboxRow(*r) for r in conn.execute(
            CLAIM_SQL.format(extra="AND source = %(source)s AND tx_id = %(tx)s"),
            {"after": last.id, "limit": 10_000_000, "source": last.source, "tx": last.tx_id},
        ).fetchall()]
        last = rows[-1]
    complete = conn.execute(COMPLETE_SQL, {"source": last.source, "tx": last.tx_id,
                                           "last": last.id}).fetchone()
    return rows if complete and complete[0] else rows[:cut]


def _image(data: dict[str, Any], position: str, parent_key: str | None, deleted: bool) -> RowImage:
    return RowImage(attrs=data.get("attrs", {}), retired=bool(data.get("retired")),
                    position=position, parent_key=parent_key, deleted=deleted)


def load_rows(conn: psycopg.Connection, source: str,
              keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RowImage]:
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        """
        SELECT s.table_name, s.row_key, s.data, s.position, s.parent_key, s.is_deleted
        FROM source_row s
        JOIN unnest(%s::text[], %s::text[]) AS k(t, r) ON s.table_name = k.t AND s.row_key = k.r
        WHERE s.source = %s
        """,
        ([t for t, _ in keys], [r for _, r in keys], source),
    ).fetchall()
    return {(t, r): _image(d, p, pk, dl) for t, r, d, p, pk, dl in rows}


def load_children(conn: psycopg.Connection, source: str, table: str,
                  parent_keys: Sequence[str]) -> dict[tuple[str, str], RowImage]:
    if not parent_keys:
        return {}
    rows = conn.execute(
        """
        SELECT row_key, data, position, parent_key, is_deleted FROM source_row
        WHERE source = %s AND table_name = %s AND parent_key = ANY(%s)
        """,
        (source, table, list(parent_keys)),
    ).fetchall()
    return {(table, r): _image(d, p, pk, dl) for r, d, p, pk, dl in rows}


def save_rows(conn: psycopg.Connection, source: str,
              rows: dict[tuple[str, str], RowImage]) -> None:
    params = [
        (source, t, r, img.parent_key,
         Jsonb({"attrs": img.attrs, "retired": img.retired}), img.position, img.deleted)
        for (t, r), img in rows.items() if img.dirty
    ]
    if not params:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO source_row (source, table_name, row_key, parent_key, data, position, is_deleted)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (source, table_name, row_key) DO UPDATE SET
                parent_key = EXCLUDED.parent_key, data = EXCLUDED.data,
                position = EXCLUDED.position, is_deleted = EXCLUDED.is_deleted
            """,
            params,
        )


def load_golden(conn: psycopg.Connection,
                keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], GoldenState]:
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        """
        SELECT g.entity, g.source_key, g.id, g.version, g.business_key, g.attributes, g.status,
               v.valid_from
        FROM golden_record g
        JOIN unnest(%s::text[], %s::text[]) AS k(e, s) ON g.entity = k.e AND g.source_key = k.s
        JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        """,
        ([e for e, _ in keys], [s for _, s in keys]),
    ).fetchall()
    return {(r[0], r[1]): GoldenState(*r) for r in rows}


def allocate_ids(conn: psycopg.Connection, count: int) -> list[int]:
    if count == 0:
        return []
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('golden_record', 'id')) FROM generate_series(1, %s)",
        (count,),
    ).fetchall()
    return [r[0] for r in rows]


def save_golden(conn: psycopg.Connection, states: Sequence[GoldenState],
                versions: Sequence[NewVersion], erp_system: str) -> None:
    """Upsert golden records, append their versions, close superseded validity intervals."""
    if not versions:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO golden_record (id, entity, source_key, business_key, attributes, status, version)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (id) DO UPDATE SET business_key = EXCLUDED.business_key,
                attributes = EXCLUDED.attributes, status = EXCLUDED.status,
                version = EXCLUDED.version, updated_at = clock_timestamp()
            """,
            [(s.golden_id, s.entity, s.source_key, s.business_key, Jsonb(s.attributes), s.status,
              s.version) for s in states],
        )
        first = {}
        for v in versions:
            first.setdefault(v.golden_id, v)
        cur.executemany(
            "UPDATE golden_version SET valid_to = %s WHERE golden_id = %s AND version = %s",
            [(v.valid_from, v.golden_id, v.version - 1) for v in first.values() if v.version > 1],
        )
        _copy_versions(cur, versions)
        cur.executemany(
            "INSERT INTO xref (golden_id, system, key) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            [(s.golden_id, erp_system, s.source_key) for s in states],
        )


def _copy_versions(cur: psycopg.Cursor[Any], versions: Sequence[NewVersion]) -> None:
    following: dict[tuple[int, int], datetime] = {
        (v.golden_id, v.version - 1): v.valid_from for v in versions
    }
    columns = ("golden_id, version, entity, business_key, attributes, status, valid_from, "
               "valid_to, cause_kind, cause_source, cause_table, cause_row_key, cause_op, "
               "cause_lsn, cause_tx_id, cause_commit_ts, cause_inbox_id")
    with cur.copy(f"COPY golden_version ({columns}) FROM STDIN") as copy:
        for v in versions:
            c = v.cause
            copy.write_row((
                v.golden_id, v.version, v.entity, v.business_key,
                json.dumps(v.attributes, ensure_ascii=False), v.status, v.valid_from,
                following.get((v.golden_id, v.version)), c.kind, c.source, c.table, c.row_key,
                c.op, c.lsn, c.tx_id, c.commit_ts, c.inbox_id,
            ))


def finish_inbox(conn: psycopg.Connection, done: Sequence[int],
                 failed: dict[int, str], skipped: dict[int, str]) -> None:
    with conn.cursor() as cur:
        if done:
            cur.execute(
                "UPDATE inbox SET status = 'done', processed_at = clock_timestamp() WHERE id = ANY(%s)",
                (list(done),),
            )
        for status, reasons in (("failed", failed), ("skipped", skipped)):
            if reasons:
                cur.executemany(
                    "UPDATE inbox SET status = %s, error = %s, processed_at = clock_timestamp() "
                    "WHERE id = %s",
                    [(status, reason, i) for i, reason in reasons.items()],
                )
