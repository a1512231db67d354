"""SQL on golden records, their versions and the system of record's xref (`golden_record`,
`golden_version`, `xref`): load a record's state, write new versions, set a version's quality,
and the reads rules make of the store. Each function runs in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import orjson
import psycopg
from psycopg.rows import dict_row

from mdm.model.golden import GoldenState, NewVersion
from mdm.store.bulk import stage_rows

_STATE_COLUMNS = """g.entity, g.source_key, g.id, g.version, g.business_key, g.attributes, g.status,
               v.valid_from, v.checks"""


def _state(r: Sequence[Any]) -> GoldenState:
    return GoldenState(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8] or ()))


def load_golden(conn: psycopg.Connection,
                keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], GoldenState]:
    """The current state of the records (entity, source_key) that exist."""
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        f"""
        SELECT {_STATE_COLUMNS}
        FROM golden_record g
        JOIN unnest(%s::text[], %s::text[]) AS k(e, s) ON g.entity = k.e AND g.source_key = k.s
        JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        """,
        ([e for e, _ in keys], [s for _, s in keys]),
    ).fetchall()
    return {(r[0], r[1]): _state(r) for r in rows}


def load_golden_by_id(conn: psycopg.Connection, ids: Iterable[int]) -> dict[int, GoldenState]:
    """The current state of the records with these golden ids, locked (FOR UPDATE)."""
    rows = conn.execute(
        f"""
        SELECT {_STATE_COLUMNS}
        FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
        WHERE g.id = ANY(%s) FOR UPDATE OF g
        """, (list(ids),)).fetchall()
    return {r[2]: _state(r) for r in rows}


def lock_current(conn: psycopg.Connection, golden_id: int) -> dict[str, Any] | None:
    """A record's current version (id, source_key, business_key, version, status, attributes,
    quality, valid_from), the record locked (FOR UPDATE)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT g.id, g.source_key, g.business_key, g.version, g.status, g.attributes, "
            "v.quality, v.valid_from FROM golden_record g JOIN golden_version v "
            "ON v.golden_id = g.id AND v.version = g.version WHERE g.id = %s FOR UPDATE OF g",
            (golden_id,)).fetchone()


def version_attributes(conn: psycopg.Connection, versions: Iterable[tuple[int, int]]
                       ) -> list[tuple[int, int, dict[str, Any], str]]:
    """(golden id, version, attributes, status) of each of the `versions` (golden id, version)
    that exists: one primary-key probe each."""
    pairs = list(versions)
    if not pairs:
        return []
    return conn.execute(
        "SELECT v.golden_id, v.version, v.attributes, v.status "
        "FROM unnest(%s::bigint[], %s::int[]) AS p(golden_id, version) "
        "JOIN golden_version v ON v.golden_id = p.golden_id AND v.version = p.version",
        ([g for g, _ in pairs], [v for _, v in pairs])).fetchall()


def allocate_ids(conn: psycopg.Connection, count: int) -> list[int]:
    """`count` new golden ids."""
    if count == 0:
        return []
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('golden_record', 'id')) FROM generate_series(1, %s)",
        (count,),
    ).fetchall()
    return [r[0] for r in rows]


def write_versions(conn: psycopg.Connection, states: Sequence[GoldenState],
                   versions: Sequence[NewVersion], system: str) -> None:
    """The one writer of versions: upsert the golden records (`states`, each at its newest
    version), append `versions` (oldest first per record), close the validity interval each
    first one supersedes, and keep each record's key in `system` (its system of record) as xref.
    Processing, write-back and stewards' decisions all write through here."""
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
            (system, [s.golden_id for s in states], [s.source_key for s in states]),
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


# -- quality ------------------------------------------------------------------------------------
def release_versions(conn: psycopg.Connection, versions: Sequence[tuple[int, int]],
                     only_quarantined: bool = False) -> None:
    """Set (golden_id, version)s to quality 'ok': they may be delivered (with
    `only_quarantined`, only those still quarantined)."""
    ids, numbers = [g for g, _ in versions], [v for _, v in versions]
    if only_quarantined:
        conn.execute("UPDATE golden_version SET quality = 'ok' WHERE (golden_id, version) IN "
                     "(SELECT * FROM unnest(%s::bigint[], %s::int[])) AND quality = 'quarantined'",
                     (ids, numbers))
    else:
        conn.execute("UPDATE golden_version SET quality = 'ok' WHERE (golden_id, version) IN "
                     "(SELECT * FROM unnest(%s::bigint[], %s::int[]))", (ids, numbers))


def approve_version(conn: psycopg.Connection, golden_id: int, version: int) -> None:
    conn.execute("UPDATE golden_version SET quality = 'approved' WHERE golden_id = %s "
                 "AND version = %s", (golden_id, version))


def releasable_version(conn: psycopg.Connection, golden_id: int) -> int | None:
    """The record's newest version not held back (quarantined, or held on an unknown
    reference); None if every one is."""
    row = conn.execute("SELECT max(version) FROM golden_version WHERE golden_id = %s "
                       "AND quality NOT IN ('quarantined', 'held')", (golden_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


# -- what rules read ----------------------------------------------------------------------------
def current_versions(conn: psycopg.Connection, entity: str, after_id: int,
                     size: int) -> list[tuple[Any, ...]]:
    """Up to `size` active records after `after_id`, in id order: (id, source_key,
    business_key, version, attributes, quality of the current version)."""
    return conn.execute(
        "SELECT g.id, g.source_key, g.business_key, g.version, g.attributes, v.quality "
        "FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version "
        "WHERE g.entity = %s AND g.status = 'active' AND g.id > %s ORDER BY g.id LIMIT %s",
        (entity, after_id, size)).fetchall()


KeyColumn = Literal["source_key", "business_key"]


def status_by_key(conn: psycopg.Connection, entity: str, column: KeyColumn,
                  keys: Sequence[str]) -> list[tuple[Any, str]]:
    """(key, status) of the records of `entity` whose `column` is one of `keys`."""
    return conn.execute(
        f"SELECT {column}, status FROM golden_record WHERE entity = %s AND {column} = ANY(%s)",
        (entity, list(keys)),
    ).fetchall()


def parents_of_active(conn: psycopg.Connection, entity: str, column: KeyColumn,
                      attribute: str) -> list[tuple[Any, str | None]]:
    """(key, value of `attribute`) of every active record of `entity`."""
    return conn.execute(
        f"SELECT {column}, attributes ->> %s FROM golden_record "
        "WHERE entity = %s AND status = 'active'",
        (attribute, entity),
    ).fetchall()


def active_sharing(conn: psycopg.Connection, entity: str, column: str, is_business_key: bool,
                   values: Sequence[str], excluding: Sequence[int]) -> list[tuple[int, Any]]:
    """(id, attributes) of active records of `entity` other than `excluding` whose `column`
    holds one of `values`."""
    # The business key has its own indexed column; other attributes live in JSON.
    where = "business_key = ANY(%s)" if is_business_key else "attributes ->> %s = ANY(%s)"
    params = (list(values),) if is_business_key else (column, list(values))
    return conn.execute(
        f"SELECT id, attributes FROM golden_record WHERE entity = %s AND status = 'active' "
        f"AND {where} AND NOT id = ANY(%s)", (entity, *params, list(excluding))).fetchall()


def active_by_key(conn: psycopg.Connection, entity: str,
                  keys: Sequence[str]) -> dict[str, tuple[str, int, int]]:
    """business key → (business key, golden id, version) of the active records holding them."""
    return {r[0]: r for r in conn.execute(
        "SELECT business_key, id, version FROM golden_record WHERE entity = %s "
        "AND status = 'active' AND business_key = ANY(%s)", (entity, list(keys)))}
