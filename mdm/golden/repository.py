"""SQL of the master stage: read pending inbox rows and mirrors, write mirrors, golden records,
versions and xrefs. Every function runs inside the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg

from mdm.golden.mapper import RowImage
from mdm.model.golden import GoldenState, NewVersion
from mdm.model.inbox import InboxRow
from mdm.store.bulk import stage_rows


CLAIM_SQL = """
SELECT id, source, table_name, row_key, op, position, tx_id, lsn, commit_ts, after
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


def _select_rows(conn: psycopg.Connection, source: str, table: str, by: str,
                 values: Sequence[str]) -> dict[tuple[str, str], RowImage]:
    """Mirrored rows of `table` whose `by` column (row_key or parent_key) is in `values`."""
    rows = conn.execute(
        f"SELECT row_key, data, position, parent_key, is_deleted FROM source_row "
        f"WHERE source = %s AND table_name = %s AND {by} = ANY(%s)",
        (source, table, list(values)),
    ).fetchall()
    return {(table, r): _image(d, p, pk, dl) for r, d, p, pk, dl in rows}


def load_rows(conn: psycopg.Connection, source: str,
              keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RowImage]:
    by_table: dict[str, list[str]] = {}
    for table, row_key in keys:
        by_table.setdefault(table, []).append(row_key)
    found: dict[tuple[str, str], RowImage] = {}
    for table, row_keys in by_table.items():  # one primary-key lookup per table
        found.update(_select_rows(conn, source, table, "row_key", row_keys))
    return found


def load_children(conn: psycopg.Connection, source: str, table: str,
                  parent_keys: Sequence[str]) -> dict[tuple[str, str], RowImage]:
    return _select_rows(conn, source, table, "parent_key", parent_keys) if parent_keys else {}


def save_rows(conn: psycopg.Connection, source: str,
              rows: dict[tuple[str, str], RowImage]) -> None:
    params = [
        (source, t, r, img.parent_key,
         orjson.dumps({"attrs": img.attrs, "retired": img.retired}).decode(),
         img.position, img.deleted)
        for (t, r), img in rows.items() if img.dirty
    ]
    if not params:
        return
    columns = "source, table_name, row_key, parent_key, data, position, is_deleted"
    with conn.cursor() as cur:
        stage_rows(cur, "source_row_stage", "LIKE source_row INCLUDING DEFAULTS", columns, params)
        cur.execute(
            f"""
            INSERT INTO source_row ({columns}) SELECT {columns} FROM source_row_stage
            ON CONFLICT (source, table_name, row_key) DO UPDATE SET
                parent_key = EXCLUDED.parent_key, data = EXCLUDED.data,
                position = EXCLUDED.position, is_deleted = EXCLUDED.is_deleted
            """
        )


def load_golden(conn: psycopg.Connection,
                keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], GoldenState]:
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        """
        SELECT g.entity, g.source_key, g.id, g.version, g.business_key, g.attributes, g.status,
               v.valid_from, v.checks
        FROM golden_record g
        JOIN unnest(%s::text[], %s::text[]) AS k(e, s) ON g.entity = k.e AND g.source_key = k.s
        JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        """,
        ([e for e, _ in keys], [s for _, s in keys]),
    ).fetchall()
    return {(r[0], r[1]): GoldenState(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                                      tuple(r[8] or ())) for r in rows}


def load_golden_by_id(conn: psycopg.Connection, ids: Iterable[int]) -> dict[int, GoldenState]:
    rows = conn.execute(
        """
        SELECT g.entity, g.source_key, g.id, g.version, g.business_key, g.attributes, g.status,
               v.valid_from, v.checks
        FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        WHERE g.id = ANY(%s) FOR UPDATE OF g
        """, (list(ids),)).fetchall()
    return {r[2]: GoldenState(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8] or ()))
            for r in rows}


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
    columns = "id, entity, source_key, business_key, attributes, status, version"
    dumped: dict[int, str] = {}  # a record's newest version shares its attributes dict

    def dump(attributes: dict[str, Any]) -> str:
        key = id(attributes)
        if key not in dumped:
            dumped[key] = orjson.dumps(attributes).decode()
        return dumped[key]

    with conn.cursor() as cur:
        stage_rows(cur, "golden_record_stage", "LIKE golden_record INCLUDING DEFAULTS", columns, [
            (s.golden_id, s.entity, s.source_key, s.business_key, dump(s.attributes), s.status,
             s.version) for s in states])
        cur.execute(
            f"""
            INSERT INTO golden_record ({columns}) SELECT {columns} FROM golden_record_stage
            ON CONFLICT (id) DO UPDATE SET business_key = EXCLUDED.business_key,
                attributes = EXCLUDED.attributes, status = EXCLUDED.status,
                version = EXCLUDED.version, updated_at = clock_timestamp()
            """
        )
        first: dict[int, NewVersion] = {}
        for v in versions:
            first.setdefault(v.golden_id, v)
        closing = [v for v in first.values() if v.version > 1]
        cur.execute(
            "UPDATE golden_version g SET valid_to = c.valid_to "
            "FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[]) AS c(golden_id, version, valid_to) "
            "WHERE g.golden_id = c.golden_id AND g.version = c.version",
            ([v.golden_id for v in closing], [v.version - 1 for v in closing],
             [v.valid_from for v in closing]),
        )
        _copy_versions(cur, versions, dump)
        cur.execute(
            "INSERT INTO xref (golden_id, system, key) SELECT g, %s, k "
            "FROM unnest(%s::bigint[], %s::text[]) AS x(g, k) ON CONFLICT DO NOTHING",
            (erp_system, [s.golden_id for s in states], [s.source_key for s in states]),
        )


def _copy_versions(cur: psycopg.Cursor[Any], versions: Sequence[NewVersion],
                   dump: Callable[[dict[str, Any]], str]) -> None:
    following: dict[tuple[int, int], datetime] = {
        (v.golden_id, v.version - 1): v.valid_from for v in versions
    }
    columns = ("golden_id, version, entity, business_key, attributes, status, valid_from, "
               "valid_to, cause_kind, cause_source, cause_table, cause_row_key, cause_op, "
               "cause_lsn, cause_tx_id, cause_commit_ts, cause_inbox_id, cause_task_id, "
               "cause_actor, quality, checks")
    with cur.copy(f"COPY golden_version ({columns}) FROM STDIN") as copy:
        for v in versions:
            c = v.cause
            copy.write_row((
                v.golden_id, v.version, v.entity, v.business_key,
                dump(v.attributes), v.status, v.valid_from,
                following.get((v.golden_id, v.version)), c.kind, c.source, c.table, c.row_key,
                c.op, c.lsn, c.tx_id, c.commit_ts, c.inbox_id, c.task_id, c.actor, v.quality,
                None if v.checks is None else orjson.dumps(v.checks).decode(),
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
