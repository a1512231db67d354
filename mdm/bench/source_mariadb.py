"""`mdm bench --sources`, mariadb: Debezium's MySQL connector on a MariaDB server of the bench's
own (the machine's mariadbd as a separate instance, binlog in ROW format: mdm/demo/mariadb.py).
MariaDB's binlog gives whole seconds only (source.ts_ms), so commit → golden starts at the
row's sent_us — the bench's clock just before the transaction's COMMIT — not at
cause_commit_ts. Measured only where the hub's config accepts `connector: mariadb`; otherwise
the bench says why it is not available."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from mdm.bench.source_kinds import LatencyFrom, document, entity_file, pace
from mdm.bench.source_postgresql import POLL_INTERVAL_MS, ROWS_PER_TRANSACTION
from mdm.demo.stack import DemoStack

SOURCE_NAME = "maria"
SOURCE = f"""\
name: {SOURCE_NAME}
connector: mariadb
url: ${{MDM_BENCH_MARIADB_URL}}
max_batch_size: 2048
mysql: {{server_id: 5402}}
debezium:
  poll.interval.ms: "{POLL_INTERVAL_MS}"
"""
TABLE_DDL = ("CREATE TABLE IF NOT EXISTS bench_item (id bigint PRIMARY KEY, code varchar(64) "
             "NOT NULL, qty decimal(12, 4), note varchar(200), sent_us bigint) "
             "CHARACTER SET utf8mb4")
INSERT = "INSERT INTO bench_item (id, code, qty, note, sent_us) VALUES (%s, %s, %s, %s, %s)"


def _why_not() -> str | None:
    """Why MariaDB capture cannot be measured here, or None."""
    from mdm.capture.registry import SOURCE_KINDS, declared_source_kinds

    if "mariadb" not in declared_source_kinds() or "mariadb" not in SOURCE_KINDS:
        return ("connector: mariadb has no capture registered in this build (Debezium's MySQL "
                f"connector on MariaDB; registered: {', '.join(sorted(SOURCE_KINDS))})")
    try:
        from mdm.demo.mariadb import server_binary

        server_binary()
    except ImportError as exc:
        return f"mdm.demo.mariadb is missing ({exc})"
    except Exception as exc:  # noqa: BLE001 — RuntimeSetupError says what to install
        return str(exc)
    return None


class MariadbDriver:
    kind = "mariadb"
    variant = ""
    label = "mariadb (Debezium MySQL connector, binlog)"
    entity = "bench_maria_item"
    latency_from: LatencyFrom = "sent_us"
    note = (f"inserts, {ROWS_PER_TRANSACTION} rows per transaction in the burst, one per "
            f"transaction paced; poll.interval.ms={POLL_INTERVAL_MS}")

    def __init__(self) -> None:
        self.server: Any = None
        self.why_not = _why_not()

    def unavailable(self) -> str | None:
        return self.why_not

    def project_files(self) -> dict[str, str]:
        return {f"cdc/{SOURCE_NAME}.yaml": SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "a MariaDB table captured by Debezium",
                    SOURCE_NAME, "erp.bench_item")}

    def env(self) -> dict[str, str]:
        assert self.server is not None
        return {"MDM_BENCH_MARIADB_URL": self.server.url("erp")}

    def start(self, stack: DemoStack) -> None:
        from mdm.demo.mariadb import MariaDbServer

        # a folder of its own under /tmp: the server's socket lives in it, and a Unix socket's
        # path may not pass 107 bytes (a pytest tmp_path under the state dir did)
        self.server = MariaDbServer(Path(tempfile.mkdtemp(prefix="mdm-bench-mariadb-")))
        self.server.start()
        self.server.create_database("erp")
        self.server.execute(TABLE_DDL, database="erp")

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        per_tx = 1 if rate else ROWS_PER_TRANSACTION
        wait = pace(rate)
        conn = self.server.connect("erp")
        try:
            conn.autocommit(False)
            for start in range(0, len(keys), per_tx):
                wait(start)
                docs = [document(k, phase) for k in keys[start:start + per_tx]]
                with conn.cursor() as cur:
                    cur.executemany(INSERT, [(d["id"], d["code"], d["qty"], d["note"],
                                              d["sent_us"]) for d in docs])
                conn.commit()
        finally:
            conn.close()
        return len(keys)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            shutil.rmtree(self.server.folder, ignore_errors=True)
