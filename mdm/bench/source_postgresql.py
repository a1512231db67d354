"""`mdm bench --sources`, postgresql: Debezium's PostgreSQL connector on a table of the bench's
ERP database (embedded PostgreSQL, pgoutput). Commit → golden starts at the ERP commit time
Debezium reports (source.ts_us, the version's cause_commit_ts)."""
from __future__ import annotations

import psycopg

from mdm.bench.source_kinds import LatencyFrom, document, entity_file, pace
from mdm.demo.stack import DemoStack

# Debezium waits this long to fill a batch before it hands it over (its default is 500 ms):
# it bounds commit → handler at rest. The hub's own default is the same (mdm/capture/debezium.py);
# the bench sets it in the source's file so the figure says what it was measured with.
POLL_INTERVAL_MS = 50
ROWS_PER_TRANSACTION = 100  # the burst: as mdm bench's workload
SOURCE = f"""\
name: erp
connector: postgresql
url: ${{MDM_ERP_URL}}
slot: mdm_bench_sources
publication: mdm_bench_sources
max_batch_size: 2048
snapshot_mode: when_needed
debezium:
  poll.interval.ms: "{POLL_INTERVAL_MS}"
"""
TABLE_DDL = ("CREATE TABLE IF NOT EXISTS bench_item (id bigint PRIMARY KEY, code text NOT NULL, "
             "qty numeric(12, 4), note text, sent_us bigint)")
INSERT = "INSERT INTO bench_item (id, code, qty, note, sent_us) VALUES (%s, %s, %s, %s, %s)"


class PostgresqlDriver:
    kind = "postgresql"
    variant = ""
    label = "postgresql (Debezium, pgoutput)"
    entity = "bench_pg_item"
    latency_from: LatencyFrom = "cause_commit_ts"
    note = (f"inserts, {ROWS_PER_TRANSACTION} rows per transaction in the burst, one per "
            f"transaction paced; poll.interval.ms={POLL_INTERVAL_MS}")

    def __init__(self) -> None:
        self.url = ""

    def unavailable(self) -> str | None:
        return None

    def project_files(self) -> dict[str, str]:
        return {"cdc/erp.yaml": SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "an ERP table captured by Debezium", "erp",
                    "public.bench_item")}

    def env(self) -> dict[str, str]:
        return {}  # MDM_ERP_URL is the stack's

    def start(self, stack: DemoStack) -> None:
        self.url = stack.erp_url
        with psycopg.connect(self.url) as conn:
            conn.execute(TABLE_DDL)

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        per_tx = 1 if rate else ROWS_PER_TRANSACTION
        wait = pace(rate)
        with psycopg.connect(self.url) as conn:
            for start in range(0, len(keys), per_tx):
                wait(start)
                docs = [document(k, phase) for k in keys[start:start + per_tx]]
                with conn.cursor() as cur:
                    cur.executemany(INSERT, [(d["id"], d["code"], d["qty"], d["note"],
                                              d["sent_us"]) for d in docs])
                conn.commit()
        return len(keys)

    def stop(self) -> None:
        pass  # the bench's PostgreSQL is removed with its stack
