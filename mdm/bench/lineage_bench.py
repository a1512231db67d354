"""`mdm bench --lineage`: lineage and as-of queries on a record with 10,000 versions and on a
store of 1,000,000 versions (synthetic, generated in the embedded PostgreSQL), p50/p99 each."""
from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from mdm.config.loader import load_project
from mdm.demo.stack import DEMO_PROJECT
from mdm.lineage import graph, queries
from mdm.runtime.postgres import EmbeddedPostgres
from mdm.store.database import create_hub_engine, upgrade_database

BIG = 10_000  # versions of the one long-lived record
START = "2020-01-01 00:00:00+00"

# One supplier with BIG versions (its name changes every version, its credit limit every
# 100th), then other suppliers with 10 versions each up to `total`; two acked deliveries per
# version (OA and WMS), as the demo project would make them.
GENERATE = """
INSERT INTO golden_version (golden_id, version, entity, business_key, attributes, status, valid_from,
    valid_to, recorded_at, cause_kind, cause_source, cause_table, cause_row_key, cause_op,
    cause_lsn, cause_tx_id, cause_commit_ts, quality)
SELECT g, v, 'supplier', 'S' || lpad(g::text, 7, '0'),
       jsonb_build_object('code', 'S' || lpad(g::text, 7, '0'), 'name', '供应商' || g || '-' || v,
                          'credit_limit', ((v / 100) * 1000)::text || '.00', 'contact', '联系人' || g,
                          'phone', '021-5555' || lpad((g %% 10000)::text, 4, '0')),
       'active', ts, ts + interval '1 minute', ts, 'change_event', 'erp', 'public.supplier', g::text,
       'u', g * 100000 + v, g * 100000 + v, ts, 'ok'
FROM (SELECT g, v, timestamptz '{start}' + (v * interval '1 minute') AS ts
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g,
           LATERAL generate_series(1, CASE WHEN g = 1 THEN {big} ELSE 10 END) AS v) s
"""
DELIVERIES = """
INSERT INTO delivery (golden_id, version, entity, business_key, target, operation, payload,
    idempotency_key, status, attempts, response_status, target_id, created_at, sent_at, acked_at)
SELECT v.golden_id, v.version, 'supplier', v.business_key, t, 'upsert',
       jsonb_build_object(CASE WHEN t = 'oa' THEN 'vendor_name' ELSE 'supplier_name' END, v.attributes->'name'),
       'mdm-g' || v.golden_id || '-v' || v.version || '-' || t, 'acked', 1, 200, v.golden_id::text,
       v.valid_from, v.valid_from + interval '50 ms', v.valid_from + interval '80 ms'
FROM golden_version v CROSS JOIN (VALUES ('oa'), ('wms')) AS x(t)
WHERE v.golden_id BETWEEN %(first)s::bigint AND %(last)s::bigint
"""
RECORDS = """
INSERT INTO golden_record (id, entity, source_key, business_key, attributes, status, version)
SELECT golden_id, entity, golden_id::text, business_key, attributes, status, version
FROM golden_version v WHERE version = (CASE WHEN golden_id = 1 THEN {big} ELSE 10 END)
  AND golden_id BETWEEN %(first)s::bigint AND %(last)s::bigint
"""


def _generate(url: str, total: int, progress: Callable[[str], None]) -> int:
    records = 1 + (total - BIG) // 10
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM golden_record").fetchone()
        if have and have[0] == records:
            return records
        conn.execute("TRUNCATE golden_version, golden_record, delivery")
        step = 10_000
        for first in range(1, records + 1, step):
            last = min(records, first + step - 1)
            params = {"first": first, "last": last}
            conn.execute(GENERATE.format(start=START, big=BIG), params)
            conn.execute(DELIVERIES, params)
            conn.execute(RECORDS.format(big=BIG), params)
            progress(f"generated {min(last, records):,} of {records:,} records")
        conn.execute("ANALYZE golden_version; ANALYZE delivery; ANALYZE golden_record")
    return records


def _timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm the cache once; then measure
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50": round(statistics.median(samples), 1),
            "p99": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
            "runs": runs}


def run_lineage_bench(state_dir: Path, total: int, runs: int,
                      progress: Callable[[str], None]) -> dict[str, Any]:
    pg = EmbeddedPostgres(state_dir)
    pg.start()
    pg.create_database("mdm_lineage")
    url = pg.url("mdm_lineage")
    try:
        upgrade_database(url)
        progress(f"generating a store of {total:,} versions (one record with {BIG:,})")
        records = _generate(url, total, progress)
        spec = load_project(DEMO_PROJECT).entities["supplier"]
        engine = create_hub_engine(url)
        rng = random.Random(1)
        results: dict[str, Any] = {"versions": total, "records": records, "big_record_versions": BIG}
        with engine.connect() as conn:
            span_big = BIG * 60
            cases: dict[str, Callable[[], Any]] = {
                "as_of.big_record": lambda: queries.as_of(conn, 1, _instant(rng.randrange(span_big))),
                "as_of.store": lambda: queries.as_of(conn, rng.randrange(2, records + 1),
                                                     _instant(rng.randrange(60, 600))),
                "history_page.big_record": lambda: queries.history(conn, 1, 100),
                "field_lineage.big_record.name": lambda: queries.field_lineage(conn, spec, 1, "name"),
                "field_lineage.big_record.credit_limit": lambda: queries.field_lineage(conn, spec, 1, "credit_limit"),
                "field_lineage.store": lambda: queries.field_lineage(conn, spec, rng.randrange(2, records + 1), "name"),
                "why.big_record": lambda: queries.why(conn, spec, 1, "oa", "vendor_name"),
                "why.store": lambda: queries.why(conn, spec, rng.randrange(2, records + 1), "oa", "vendor_name"),
                "lineage_graph.big_record": lambda: graph.to_svg(graph.build(conn, "supplier", "S0000001", 1), "t"),
                "transaction.store": lambda: queries.transaction(
                    conn, "erp", rng.randrange(2, records + 1) * 100000 + rng.randrange(1, 11)),
            }
            for name, fn in cases.items():
                progress(f"measuring {name}")
                results[name] = _timed(fn, runs)
        engine.dispose()
        return results
    finally:
        pg.stop()


def _instant(seconds: int) -> datetime:
    """An instant inside the generated history (the first version starts a minute after START)."""
    return datetime.fromisoformat(START) + timedelta(seconds=seconds + 61)
