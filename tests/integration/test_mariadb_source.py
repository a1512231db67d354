"""A MariaDB source (connector: mariadb) on the real stack: the machine's MariaDB 10.11 run as
an instance of the test's own (tests/mariadb.py: binlog ROW/FULL, its own port and folder),
Debezium's bundled MySQL connector in the hub's capture JVM (with mdm-mysql.jar's
MariaDbBinlogStatus), the hub's embedded PostgreSQL, and a kind: sql target.

An ERP-like vendor table (decimal(18,4), datetime(6), tinyint(1), Chinese varchar) reaches
golden and the target with the right types, from the snapshot and from the stream: insert,
update, soft delete (is_active = 0) and hard delete; Chinese text (with a 4-byte character)
intact both ways; kill -9 of the hub while a large batch is being captured (killed once two of
its 16 transactions' worth but not all of it is in the inbox, whatever the machine's speed:
capture cannot outrun the writer), with more rows written while it is down, loses nothing and
stores nothing twice after the restart (Debezium resumes inside a transaction: from its BEGIN,
skipping the events it had sent; mdm-mysql.jar's MariaDbConnector makes that work on MariaDB). Also: `mdm check --live`'s catalog reader on the server, and
an engine the connector refuses says why."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mdm.config.live_check import Probe
from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows
from tests.mariadb import MariaDbServer, running_mariadb

DEADLINE = 180.0
VENDOR_DDL = """CREATE TABLE vendor (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(20) NOT NULL UNIQUE,
  name VARCHAR(100) NOT NULL,
  credit_limit DECIMAL(18,4),
  last_audit_at DATETIME(6),
  preferred TINYINT(1) NOT NULL DEFAULT 0,
  is_active TINYINT(1) NOT NULL DEFAULT 1,
  remark VARCHAR(200)
) CHARACTER SET utf8mb4"""
SEEDED = [("V001", "上海华东供应商有限公司", "12345.6789", "2024-03-01 08:30:00.123456", 1),
          ("V002", "北京𠮷野家食品", "0.0001", "2024-03-02 23:59:59.999999", 0),
          ("V003", "深圳电子元件厂", None, None, 1)]
CDC = """name: mes
connector: mariadb
url: ${MES_URL}
mysql: {server_id: 5401}
heartbeat_interval_ms: 2000
max_batch_size: 500
"""
ENTITY = """entity: mes_vendor
description: Vendors as the MES (MariaDB) keeps them.
source: mes
table: mes.vendor
primary_key: id
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string, required: true}
  credit_limit: {type: decimal}
  last_audit_at: {type: timestamp}
  preferred: {type: boolean}
retired_when: {column: is_active, equals: false}
ignore_columns: [remark]
"""
TARGET = """name: mes_copy
kind: sql
url: ${MES_COPY_URL}
entities:
  mes_vendor:
    table: vendor_copy
    key: code
    version_field: mdm_version
    active_field: active
    fields: {code: code, name: name, credit_limit: credit_limit, last_audit_at: last_audit_at,
             preferred: preferred}
"""
COPY_DDL = ("CREATE TABLE vendor_copy (code text PRIMARY KEY, name text, credit_limit "
            "numeric(18,4), last_audit_at timestamp(6), preferred boolean, active boolean, "
            "mdm_version bigint)")


def _project(root: Path) -> Path:
    for folder, name, text in (("cdc", "mes.yaml", CDC), ("golden_records", "mes_vendor.yaml", ENTITY),
                               ("targets", "mes_copy.yaml", TARGET)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def maria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDbServer]:
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        server.create_database("mes")
        server.execute(VENDOR_DDL, database="mes")
        _sql(server, "INSERT INTO vendor (code, name, credit_limit, last_audit_at, preferred) "
             "VALUES (%s, %s, %s, %s, %s)", SEEDED)
        yield server


@pytest.fixture(scope="module")
def stack(maria: MariaDbServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = _project(tmp_path_factory.mktemp("project"))
    s = DemoStack(tmp_path_factory.mktemp("stack"), project_dir=project,
                  extra_env={"MES_URL": maria.url("mes")})
    try:
        s.start_databases(seed=False)
        s.pg.create_database("extra")
        execute(s.pg.url("extra"), COPY_DDL)
        s.extra_env["MES_COPY_URL"] = s.pg.url("extra")
        s.start_hub()
        yield s
    finally:
        s.stop()
        s.pg.remove()


def _sql(server: MariaDbServer, statement: str, params: list[Any] | None = None) -> None:
    conn = server.connect("mes")
    try:
        with conn.cursor() as cursor:
            if params and isinstance(params[0], tuple):
                cursor.executemany(statement, params)
            else:
                cursor.execute(statement, params)
    finally:
        conn.close()


def _golden(stack: DemoStack, code: str) -> dict[str, Any] | None:
    found = rows(stack.hub_url, "SELECT id, attributes, status, version FROM golden_record "
                 "WHERE entity = 'mes_vendor' AND business_key = %s", (code,))
    return found[0] if found else None


def _copy(stack: DemoStack, code: str) -> dict[str, Any] | None:
    found = rows(stack.pg.url("extra"), "SELECT * FROM vendor_copy WHERE code = %s", (code,))
    return found[0] if found else None


def _wait(what: str, predicate: Any, timeout: float = DEADLINE) -> None:
    assert eventually(predicate, timeout), f"{what} within {timeout:.0f}s"


def test_the_snapshot_reaches_golden_and_the_target_with_types_and_chinese_intact(
        stack: DemoStack) -> None:
    _wait("the snapshot's vendors golden and copied",
          lambda: all(_copy(stack, code) for code, *_ in SEEDED))
    first = _golden(stack, "V001")
    assert first is not None and first["status"] == "active"
    assert first["attributes"] == {"code": "V001", "name": "上海华东供应商有限公司",
                                   "credit_limit": "12345.6789",
                                   "last_audit_at": "2024-03-01T08:30:00.123456",
                                   "preferred": True}
    second = _golden(stack, "V002")
    assert second is not None and second["attributes"]["name"] == "北京𠮷野家食品"
    assert (second["attributes"]["credit_limit"], second["attributes"]["preferred"]) == ("0.0001", False)
    assert second["attributes"]["last_audit_at"] == "2024-03-02T23:59:59.999999"
    copy = _copy(stack, "V001")
    assert copy is not None
    assert copy["name"] == "上海华东供应商有限公司" and copy["credit_limit"] == Decimal("12345.6789")
    assert copy["last_audit_at"].isoformat() == "2024-03-01T08:30:00.123456"
    assert copy["preferred"] is True and copy["active"] is True
    third = _copy(stack, "V003")
    assert third is not None and third["credit_limit"] is None and third["last_audit_at"] is None
    events = rows(stack.hub_url, "SELECT table_name, is_snapshot, position FROM inbox WHERE "
                  "source = 'mes' AND row_key = %s", (str(_source_id(stack, "V001")),))
    assert events and all(e["table_name"] == "mes.vendor" and e["is_snapshot"] for e in events)


def _source_id(stack: DemoStack, code: str) -> str:
    found = rows(stack.hub_url, "SELECT source_key FROM golden_record WHERE entity = 'mes_vendor' "
                 "AND business_key = %s", (code,))
    return str(found[0]["source_key"])


def test_insert_update_soft_and_hard_delete_stream_through_with_binlog_lineage(
        stack: DemoStack, maria: MariaDbServer) -> None:
    _wait("the snapshot in", lambda: _golden(stack, "V003") is not None)
    _sql(maria, "INSERT INTO vendor (code, name, credit_limit, last_audit_at, preferred) VALUES "
         "('V010', '杭州𩸽鱼水产 — 新供应商', 99999999999999.9999, '2025-12-31 23:59:59.000001', 1)")
    _wait("the streamed insert copied", lambda: _copy(stack, "V010") is not None)
    inserted = _golden(stack, "V010")
    assert inserted is not None and inserted["attributes"] == {
        "code": "V010", "name": "杭州𩸽鱼水产 — 新供应商", "credit_limit": "99999999999999.9999",
        "last_audit_at": "2025-12-31T23:59:59.000001", "preferred": True}
    copy = _copy(stack, "V010")
    assert copy is not None and copy["name"] == "杭州𩸽鱼水产 — 新供应商"
    assert copy["credit_limit"] == Decimal("99999999999999.9999")

    _sql(maria, "UPDATE vendor SET credit_limit = 0.5, preferred = 0 WHERE code = 'V010'")
    _wait("the update copied", lambda: (_copy(stack, "V010") or {}).get("preferred") is False)
    updated = _golden(stack, "V010")
    assert updated is not None and updated["attributes"]["credit_limit"] == "0.5000"
    assert updated["version"] == inserted["version"] + 1

    _sql(maria, "UPDATE vendor SET is_active = 0 WHERE code = 'V001'")  # soft delete
    _sql(maria, "DELETE FROM vendor WHERE code = 'V003'")  # hard delete
    for code in ("V001", "V003"):
        _wait(f"{code} retired at the target",
              lambda code=code: (_copy(stack, code) or {}).get("active") is False)
        assert (_golden(stack, code) or {}).get("status") == "retired"

    lineage = rows(stack.hub_url, "SELECT v.cause_op, v.cause_lsn, v.cause_table, i.position "
                   "FROM golden_version v JOIN golden_record g ON g.id = v.golden_id JOIN inbox i "
                   "ON i.id = v.cause_inbox_id WHERE g.business_key = 'V010' ORDER BY v.version")
    assert [r["cause_op"] for r in lineage] == ["c", "u"]
    assert all(r["cause_table"] == "mes.vendor" and r["cause_lsn"] for r in lineage)
    assert lineage[0]["position"] < lineage[1]["position"]  # binlog order
    binlog_index = int(lineage[0]["position"].split("/")[0], 16)
    assert binlog_index >= 1 and lineage[0]["cause_lsn"] >> 32 == binlog_index


def _inbox_count(stack: DemoStack, prefix: str) -> int:
    found = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE source = 'mes' AND "
                 "op = 'c' AND after->>'code' LIKE %s", (f"{prefix}%",))
    return int(found[0]["n"])


def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(
        stack: DemoStack, maria: MariaDbServer) -> None:
    _wait("the snapshot in", lambda: _golden(stack, "V002") is not None)
    total, chunk = 8000, 500
    batch = [(f"K{i:05d}", f"批量供应商{i}号", f"{i}.0100", "2025-01-01 00:00:00.000001", i % 2)
             for i in range(total)]
    def write_batch() -> None:  # one transaction per chunk, while capture reads the binlog
        for i in range(0, total, chunk):
            _sql(maria, "INSERT INTO vendor (code, name, credit_limit, last_audit_at, preferred) "
                 "VALUES (%s, %s, %s, %s, %s)", batch[i:i + chunk])

    writer = threading.Thread(target=write_batch)
    writer.start()
    deadline = time.monotonic() + DEADLINE
    arrived = 0
    # kill once two transactions' worth, not all, is in: offsets (flushed every second) have
    # then been saved inside the batch's transactions, which the restart must resume from
    while time.monotonic() < deadline:
        arrived = _inbox_count(stack, "K")
        if arrived >= 2 * chunk:
            break
        time.sleep(0.02)
    stack.kill_hub()
    assert 0 < arrived < total, f"{arrived} of {total} captured when the hub was killed"
    writer.join(DEADLINE)
    late = [(f"L{i:03d}", f"停机期间写入{i}", "1.0000", None, 0) for i in range(50)]
    _sql(maria, "INSERT INTO vendor (code, name, credit_limit, last_audit_at, preferred) "
         "VALUES (%s, %s, %s, %s, %s)", late)  # written while the hub is down
    restarted = rows(stack.hub_url, "SELECT clock_timestamp() AS t")[0]["t"]
    stack.start_hub()
    _wait("every row of the batch golden and copied", lambda: rows(
        stack.pg.url("extra"), "SELECT count(*) AS n FROM vendor_copy WHERE code LIKE 'K%%' "
        "OR code LIKE 'L%%'")[0]["n"] == total + len(late), timeout=2 * DEADLINE)
    twice = rows(stack.hub_url, "SELECT after->>'code' AS code, count(*) AS n FROM inbox WHERE "
                 "source = 'mes' AND op = 'c' GROUP BY 1 HAVING count(*) > 1")
    assert twice == []
    versions = rows(stack.hub_url, "SELECT g.business_key, count(*) AS n FROM golden_version v "
                    "JOIN golden_record g ON g.id = v.golden_id WHERE g.entity = 'mes_vendor' AND "
                    "(g.business_key LIKE 'K%%' OR g.business_key LIKE 'L%%') GROUP BY 1")
    assert len(versions) == total + len(late) and {r["n"] for r in versions} == {1}
    burst = rows(stack.hub_url, "SELECT count(*) AS n, extract(epoch FROM max(received_at) - "
                 "min(received_at)) AS s FROM inbox WHERE source = 'mes' AND op = 'c' AND "
                 "received_at > %s", (restarted,))[0]
    print(f"kill -9 with {arrived}/{total} in the inbox; after the restart {burst['n']} events "
          f"reached the inbox in {float(burst['s'] or 0):.2f} s")  # a figure, not an assertion
    sample = _golden(stack, "K04321")
    assert sample is not None and sample["attributes"]["name"] == "批量供应商4321号"
    assert sample["attributes"]["preferred"] is True


def test_the_catalog_reader_sees_the_columns_in_debeziums_families(maria: MariaDbServer) -> None:
    from mdm.capture.introspect import read_catalog

    probe = Probe("source mes", "cdc/mes.yaml", "mariadb", maria.url("mes"), ("mes.vendor",),
                  (("mes.vendor", "is_active = 1"), ("mes.vendor", "no_such_column > 0")))
    catalog = read_catalog(probe)
    columns = catalog.tables["mes.vendor"].columns
    assert {n: c.family for n, c in columns.items()} == {
        "id": "integer", "code": "text", "name": "text", "credit_limit": "numeric",
        "last_audit_at": "timestamp", "preferred": "boolean", "is_active": "boolean",
        "remark": "text"}
    assert columns["credit_limit"].scale == 4
    assert catalog.filters[("mes.vendor", "is_active = 1")] is None
    assert "no_such_column" in (catalog.filters[("mes.vendor", "no_such_column > 0")] or "")


def test_an_engine_the_connector_refuses_says_why(maria: MariaDbServer, tmp_path: Path) -> None:
    """engine.run() returns without raising when the connector refuses its configuration:
    the hub asks the connector's validate() and puts its reasons in the error."""
    from mdm.capture.debezium import InboxHandler, run_engine
    from mdm.capture.mysql import mysql_properties
    from mdm.capture.other_connectors import CLASSPATH_PROPERTY, put_on_jvm_classpath
    from mdm.config.sources import SourceSpec
    from mdm.errors import TransientError

    spec = SourceSpec(name="mes", connector="mariadb", url=maria.url("mes", password="Wr0ngPw"),
                      mysql={"server_id": 5402}, debezium={
                          "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
                          "schema.history.internal": "io.debezium.relational.history.MemorySchemaHistory"})
    props = mysql_properties(spec, ["mes.vendor"], "postgresql://mdm@127.0.0.1:9/mdm")
    put_on_jvm_classpath(props.pop(CLASSPATH_PROPERTY).split(":"))
    with pytest.raises(TransientError) as caught:
        run_engine(props, InboxHandler("mes", "postgresql://mdm@127.0.0.1:9/mdm"), tmp_path,
                   threading.Event())
    message = str(caught.value)
    assert "refuses its configuration" in message and "Access denied" in message, message
    assert "Wr0ngPw" not in message


def test_mdm_check_live_reads_the_mariadb_source(stack: DemoStack, maria: MariaDbServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mdm.cli.main import _register, app

    _register()
    monkeypatch.setenv("MES_URL", maria.url("mes"))
    monkeypatch.setenv("MES_COPY_URL", stack.pg.url("extra"))
    result = CliRunner().invoke(app, ["check", "--project", str(stack.project_dir), "--live"])
    assert result.exit_code == 0, result.output
    assert "source mes (1 table(s))" in result.output, result.output
    assert "not checked" not in result.output, result.output
