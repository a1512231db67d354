"""Pydantic schemas of cdc/*.yaml: one captured database each, with the Debezium connector
settings for it and the tables in it that hold a target's observed copies (golden_records/:
mdm/config/models.py; targets/: mdm/config/targets.py).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mdm.config.source_connectors import (
    Db2Spec, MySqlSpec, OracleSpec, SqlServerSpec, check_connector_blocks,
)
from mdm.config.targets import Identifier, Spec


class ObservedTable(Spec):
    """A table in a target's own database that holds its copy of one entity."""

    entity: Identifier
    primary_key: str = Field("id", description="The table's key column.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="target field → column, where the names differ."
    )

    def column_of(self, field: str) -> str:
        return self.columns.get(field, field)


class SourceSpec(Spec):
    """One captured database: Debezium connector settings for it (one slot, one publication).

    Its role is decided per table, not per database: the tables of the entities that name it
    as their system of record (`source:` in golden_records/) make golden versions; the tables
    under `tables:` are observed copies of a target (`observes:`), compared, never golden."""

    name: Identifier = Field(description="Source name, e.g. erp; used in xrefs and lineage.")
    connector: Literal["postgresql", "mysql", "mariadb", "sqlserver", "oracle", "db2"] = Field(
        "postgresql", description="Debezium connector (mdm/capture/registry.py SOURCE_KINDS)."
    )
    authority: Literal["system_of_record", "observed"] | None = Field(
        None, description="Deprecated: the role is decided per table (an entity's `source:`, "
        "this file's `tables:`). Still accepted where it agrees with them; `mdm check` says "
        "to remove it.")
    url: str = Field(
        description="Connection URL, postgresql://user:password@host:port/db. "
        "Write ${ENV_VAR} to take it (or part of it) from the environment."
    )
    slot: Identifier = Field("mdm_erp", description="Logical replication slot name.")
    publication: Identifier = Field("mdm_erp", description="Publication name (created if absent).")
    heartbeat_interval_ms: int = Field(
        10_000, ge=0, description="Debezium heartbeat; keeps the slot moving on an idle database."
    )
    heartbeat_query: str | None = Field(
        "SELECT pg_logical_emit_message(false, 'mdm-heartbeat', now()::text)",
        description="Run on each heartbeat so the slot advances even when captured tables are "
        "idle; the default writes a WAL message only (no table in the ERP).",
    )
    lag_warning_bytes: int = Field(
        256 * 1024 * 1024, ge=0, description="Warn when the slot retains more WAL than this."
    )
    max_batch_size: int = Field(2048, ge=1, le=65536, description="Debezium max.batch.size.")
    snapshot_mode: Literal["initial", "no_data", "when_needed", "always"] = Field(
        "when_needed", description="when_needed: snapshot when there are no offsets or the slot "
        "lost their position; re-snapshotting is harmless (unchanged rows make no version).")
    snapshot_start_timeout_s: float = Field(
        60.0, gt=0, description="An incremental snapshot request (a new table, `mdm resync`) "
        "the engine has not started this many seconds after it was sent (counted from the end "
        "of an initial snapshot holding it up) is taken as lost and sent again.")
    snapshot_attempts: int = Field(
        3, ge=1, le=100, description="How many times capture sends one incremental snapshot "
        "request (lost, or its snapshot skipped a table: Debezium's SQL_EXCEPTION …) before "
        "it marks it failed with the reasons and goes on with the next request.")
    debezium: dict[str, str] = Field(
        default_factory=dict, description="Extra Debezium properties, passed through as given."
    )
    signal_table: str | None = Field(
        None, description="schema.table in this database for Debezium's incremental snapshots "
        "(a new table or child list on a running hub, `mdm resync`): capture creates it if "
        "absent (id varchar(64) PRIMARY KEY, type varchar(32), data text), adds it to the "
        "publication and writes the snapshot windows' watermarks there; its rows never reach "
        "the inbox. Unset: read-only incremental snapshots (PostgreSQL 13 or later, nothing "
        "written in this database; heartbeats must run in a transaction).")
    observes: Identifier | None = Field(
        None, description="The target (targets/<name>.yaml) whose copies `tables:` hold: "
        "their changes are compared with what the hub sent there (divergence), never golden.")
    tables: dict[str, ObservedTable] = Field(
        default_factory=dict, description="Observed tables: schema.table → the entity (of "
        "record elsewhere) whose copy the table holds. The same database may also be the "
        "system of record of other entities.")
    write_method: Literal["none", "sql"] = Field(
        "none", description="How a change request a steward accepts reaches this system of "
        "record. none: recorded for the ERP team (GET /api/v1/change-requests.csv). sql: also "
        "written into the mapped table (UPDATE … WHERE business key), in one ERP transaction "
        "per request; capture then brings it back like any ERP change.")
    write_url: str | None = Field(
        None, description="write_method sql: a connection allowed to update the mapped tables "
        "(default: url). ${ENV_VAR} allowed.")
    mysql: MySqlSpec | None = Field(
        None, description="connector: mysql or mariadb — its settings (server_id …): "
        "mdm/config/source_connectors.py.")
    sqlserver: SqlServerSpec | None = Field(
        None, description="connector: sqlserver — its settings (database_names …): "
        "mdm/config/source_connectors.py.")
    oracle: OracleSpec | None = Field(
        None, description="connector: oracle — its settings (pdb_name, log_mining_strategy …).")
    db2: Db2Spec | None = Field(
        None, description="connector: db2 — its settings (driver_jar: IBM's JDBC driver …).")

    @field_validator("signal_table")
    @classmethod
    def _signal_table_qualified(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split(".")
        if len(parts) > 2 or not all(p and p.replace("_", "a").isalnum() for p in parts):
            raise ValueError(f"expected schema.table (letters, digits, _), got {value!r}")
        return value if len(parts) == 2 else f"public.{value}"

    @model_validator(mode="after")
    def _connector_block(self) -> SourceSpec:
        check_connector_blocks(self.connector, self.url, {
            "mysql": self.mysql, "sqlserver": self.sqlserver, "oracle": self.oracle,
            "db2": self.db2})
        return self

    @model_validator(mode="after")
    def _observed_tables_name_a_target(self) -> SourceSpec:
        # the cross-file side of the roles (entities of record, write_method): role_checks.py
        if self.authority == "observed" and not self.tables:
            raise ValueError("authority: 'observed' but no observed tables: add `observes: "
                             "<target>` and `tables:`, or remove `authority:` (the role is "
                             "decided per table)")
        if self.authority == "system_of_record" and self.tables:
            raise ValueError("authority: 'system_of_record' contradicts `tables:` (observed "
                             "copies): the role is decided per table now; remove `authority:`")
        if self.tables and not self.observes:
            raise ValueError("observes: required with `tables:` (the target whose copies "
                             "those tables hold)")
        if self.observes and not self.tables:
            raise ValueError("tables: required with `observes:` (schema.table → the entity "
                             "whose copy it holds)")
        return self
