"""MySQL and MariaDB by configuration: `connector: mysql | mariadb` with its `mysql:` block
validated (file, key, expectation), the Debezium properties the hub derives (shown by
`mdm check --explain`), the MariaDB jar on the capture JVM's classpath, and the MySQL
connector's envelopes (recorded from Debezium 3.6 on MariaDB 10.11) read as database.table
with binlog positions. The live capture: tests/integration/test_mariadb_source.py."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from mdm.capture.explain import explain
from mdm.capture.models import ChangeEvent, parse_envelope
from mdm.capture.mysql import INTERCEPTOR, mysql_properties
from mdm.capture.mysql_catalog import mysql_family
from mdm.capture.other_connectors import CLASSPATH_PROPERTY, MYSQL_JAR, extra_classpath
from mdm.capture.registry import SOURCE_KINDS
from mdm.config.loader import load_project
from mdm.errors import ConfigError

HUB = "postgresql://mdm:hubpw@127.0.0.1:5433/mdm"
ERP = """name: erp
connector: mariadb
url: mariadb://mdm_capture:MyPass@10.0.0.7:3307/erp
mysql:
  server_id: 5401
"""


def _as_erp(project: Path, text: str) -> None:
    (project / "cdc/erp.yaml").write_text(text, encoding="utf-8")


def _error(project: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    return str(caught.value)


def test_a_mariadb_source_without_its_block_names_file_key_and_expectation(project: Path) -> None:
    _as_erp(project, "name: erp\nconnector: mariadb\nurl: mariadb://u:p@h/erp\n")
    message = _error(project)
    assert "cdc/erp.yaml" in message and "mysql: required with connector: mariadb" in message
    assert "server_id" in message


def test_a_bad_server_id_a_foreign_block_and_a_wrong_url_are_errors(project: Path) -> None:
    _as_erp(project, ERP.replace("5401", "0"))
    message = _error(project)
    assert "cdc/erp.yaml" in message and "mysql.server_id" in message
    _as_erp(project, ERP + "sqlserver: {database_names: [x]}\n")
    assert "sqlserver: only for connector: sqlserver" in _error(project)
    _as_erp(project, ERP.replace("mariadb://", "postgresql://"))
    message = _error(project)
    assert "url: expected mariadb://user:password@host:3306" in message
    assert "MyPass" not in message
    _as_erp(project, "name: erp\nconnector: postgresql\nurl: postgresql://u@h/db\n"
            "mysql: {server_id: 5}\n")
    assert "mysql: only for connector: mysql" in _error(project)


def test_mysql_and_mariadb_take_either_url_scheme(project: Path) -> None:
    for connector, scheme in (("mysql", "mariadb"), ("mariadb", "mysql"), ("mysql", "mysql")):
        _as_erp(project, ERP.replace("connector: mariadb", f"connector: {connector}")
                .replace("mariadb://", f"{scheme}://"))
        assert load_project(project).sources["erp"].connector == connector


def test_the_derived_properties_say_what_the_readme_says(project: Path) -> None:
    _as_erp(project, ERP)
    spec = load_project(project).sources["erp"]
    props = mysql_properties(spec, ["erp.supplier", "erp.material"], HUB)
    assert props["connector.class"] == "mdm.mysql.MariaDbConnector"  # MySqlConnector's subclass
    assert (props["database.hostname"], props["database.port"]) == ("10.0.0.7", "3307")
    assert (props["database.user"], props["database.password"]) == ("mdm_capture", "MyPass")
    assert props["database.server.id"] == "5401"
    assert props["database.include.list"] == "erp"
    assert props["table.include.list"] == r"erp\.supplier,erp\.material"
    assert props["offset.storage"].endswith("JdbcOffsetBackingStore")
    assert props["schema.history.internal"].endswith("JdbcSchemaHistory")
    assert props["schema.history.internal.jdbc.table.name"] == "capture_schema_history_erp"
    assert props["schema.history.internal.jdbc.connection.url"] == \
        "jdbc:postgresql://127.0.0.1:5433/mdm"
    assert (props["decimal.handling.mode"], props["time.precision.mode"]) == ("string", "isostring")
    assert props["boolean.type"].endswith("TinyIntOneToBooleanConverter")
    assert props["converters"] == "boolean"
    assert props["poll.interval.ms"] == "50" and props["heartbeat.interval.ms"] == "10000"
    assert props["snapshot.mode"] == "when_needed"
    assert props["driver.connectionCollation"] == "utf8mb4_general_ci"
    assert props["driver.characterSetResults"] == "null"
    assert props["driver.connectionLifecycleInterceptors"] == INTERCEPTOR
    assert props[CLASSPATH_PROPERTY] == str(MYSQL_JAR)
    assert "heartbeat.action.query" not in props  # PostgreSQL's default is not sent here
    assert "read.only" not in props


def test_the_mariadb_jar_goes_on_the_capture_jvm_and_holds_the_interceptor(project: Path) -> None:
    _as_erp(project, ERP)
    spec = load_project(project).sources["erp"]
    assert extra_classpath(spec) == [str(MYSQL_JAR)]
    with zipfile.ZipFile(MYSQL_JAR) as jar:
        names = jar.namelist()
    assert f"{INTERCEPTOR.replace('.', '/')}.class" in names
    assert "mdm/mysql/MariaDbConnector.class" in names and "mdm/mysql/MariaDbConnector$Task_.class" in names
    assert (MYSQL_JAR.parent / "MariaDbBinlogStatus.java").is_file()  # its source beside it
    assert (MYSQL_JAR.parent / "MariaDbConnector.java").is_file()
    assert (MYSQL_JAR.parent / "build_mysql.sh").is_file()


def test_explain_shows_a_mariadb_source_with_secrets_masked(project: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_MY_PW", "sekret")
    _as_erp(project, ERP.replace("MyPass", "${MDM_MY_PW}"))
    by_source = {e.source: e for e in explain(load_project(project), HUB)}
    erp = by_source["erp"]
    assert erp.problem is None and erp.connector == "mariadb"
    assert erp.properties["database.password"] == "********"
    assert erp.properties["database.server.id"] == "5401"
    assert "sekret" not in str(erp.properties) and "hubpw" not in str(erp.properties)


def test_both_connectors_are_registered_with_a_catalog_reader() -> None:
    assert SOURCE_KINDS["mysql"].engine_properties is mysql_properties
    assert SOURCE_KINDS["mariadb"].read_catalog is SOURCE_KINDS["mysql"].read_catalog


@pytest.mark.parametrize(("data_type", "column_type", "family"), [
    ("tinyint", "tinyint(1)", "boolean"), ("tinyint", "tinyint(4)", "integer"),
    ("decimal", "decimal(18,4)", "numeric"), ("datetime", "datetime(6)", "timestamp"),
    ("timestamp", "timestamp(6)", "timestamptz"), ("varchar", "varchar(100)", "text"),
    ("bigint", "bigint(20) unsigned", "integer"), ("json", "longtext", "json"),
    ("geometry", "geometry", "other"),
])
def test_mysql_column_types_fall_in_the_families_debezium_sends(data_type: str,
                                                                column_type: str, family: str) -> None:
    assert mysql_family(data_type, column_type) == family


# Recorded from Debezium 3.6's MySQL connector on MariaDB 10.11 (the spike and the real test)
SNAPSHOT: dict[str, Any] = {"before": None, "after": {"id": 1, "name": "上海华东供应商", "credit": "12345.6789",
                                      "updated": "2024-03-01T08:30:00.123456Z", "active": True},
            "source": {"version": "3.6.3.Final", "connector": "mysql", "name": "erp",
                       "ts_ms": 1796411773000, "snapshot": "last", "db": "erp",
                       "sequence": None, "ts_us": 1796411773000000, "table": "supplier",
                       "server_id": 0, "gtid": None, "file": "binlog.000004", "pos": 2570,
                       "row": 0, "thread": None, "query": None},
            "transaction": None, "op": "r", "ts_ms": 1796411773393}


def _streamed(pos: int, row: int, gtid: str | None = None) -> str:
    value = {**SNAPSHOT, "op": "u", "before": SNAPSHOT["after"]}
    value["source"] = {**SNAPSHOT["source"], "snapshot": "false", "pos": pos, "row": row,
                       "server_id": 1, "gtid": gtid, "file": "binlog.000005"}
    return orjson.dumps(value).decode()


def test_mysql_envelopes_are_database_table_events_in_binlog_order() -> None:
    read = parse_envelope("erp", "erp.erp.supplier", None, orjson.dumps(SNAPSHOT).decode(),
                          {"erp.supplier": "id"})
    assert isinstance(read, ChangeEvent)
    assert (read.table, read.row_key, read.is_snapshot) == ("erp.supplier", "1", True)
    assert read.after is not None and read.after["name"] == "上海华东供应商"
    assert read.tx_id is None
    events = [parse_envelope("erp", "erp.erp.supplier", None, _streamed(pos, row),
                             {"erp.supplier": "id"}) for pos, row in ((900, 0), (900, 1), (1400, 0))]
    positions = [e.position for e in events if isinstance(e, ChangeEvent)]
    assert len(positions) == 3 and positions == sorted(positions) and read.position < positions[0]
    with_gtid = parse_envelope("erp", "d", None, _streamed(900, 0, "0-1-42"), {"erp.supplier": "id"})
    assert isinstance(with_gtid, ChangeEvent) and with_gtid.position.endswith("/0-1-42")
