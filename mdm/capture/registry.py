"""Source kinds → how the hub reads them: the one table capture picks its engine by and
`mdm check --live` picks its catalog reader by, keyed by `connector:` in cdc/*.yaml (a SQL
target's database by its URL's scheme). A new connector is its `Literal` value in
mdm/config/sources.py, its modules here, and one entry in SOURCE_KINDS;
tests/unit/test_kind_registry.py fails while a declared connector has none.

HTTP ingest (Debezium Server's HTTP sink, mdm/capture/http_ingest.py) is no entry: it is the
API appending to the same inbox for any source, whatever its connector; SOURCE_KINDS only says
what the hub's own capture process runs for a source.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import get_args

from mdm.capture.debezium import debezium_properties, parse_url
from mdm.capture.introspect import read_postgres_catalog
from mdm.capture.mysql import mysql_properties
from mdm.capture.mysql_catalog import read_mysql_catalog
from mdm.capture.other_connectors import (
    check_url_for, db2_properties, no_catalog, oracle_properties, sqlserver_properties, watch_nothing,
)
from mdm.capture.slot import watch_slot
from mdm.config.live_check import Catalog, Probe
from mdm.config.sources import SourceSpec
from mdm.errors import ConfigError


@dataclass(frozen=True)
class SourceKind:
    """What capture needs per kind of source. `check_url(url, file)` raises a ConfigError
    naming the file for a URL the engine cannot use; `engine_properties(spec, tables, hub_url)`
    are the embedded Debezium engine's properties; `watch_position(spec, url, hub_url, stop)`
    runs until `stop`, recording how far behind the source's log the capture is;
    `read_catalog(url, probe)` reads the probe's tables from the database's catalog (libpq URL,
    ${ENV} expanded) for `mdm check --live`."""

    check_url: Callable[[str, str], object]
    engine_properties: Callable[[SourceSpec, list[str], str], dict[str, str]]
    watch_position: Callable[[SourceSpec, str, str, threading.Event], None]
    read_catalog: Callable[[str, Probe], Catalog]


def _watch_replication_slot(spec: SourceSpec, url: str, hub_url: str,
                            stop: threading.Event) -> None:
    watch_slot(spec.name, url, spec.slot, hub_url, spec.lag_warning_bytes, stop)


SOURCE_KINDS: Mapping[str, SourceKind] = {
    "postgresql": SourceKind(check_url=parse_url, engine_properties=debezium_properties,
                             watch_position=_watch_replication_slot,
                             read_catalog=read_postgres_catalog),
    # MySQL, MariaDB: mdm/capture/mysql.py (one Debezium connector; no log-lag watcher yet)
    "mysql": SourceKind(check_url=check_url_for("mysql"), engine_properties=mysql_properties,
                        watch_position=watch_nothing, read_catalog=read_mysql_catalog),
    "mariadb": SourceKind(check_url=check_url_for("mariadb"), engine_properties=mysql_properties,
                          watch_position=watch_nothing, read_catalog=read_mysql_catalog),
    # SQL Server, Oracle, Db2: mdm/capture/other_connectors.py (no log-lag watcher, no --live)
    "sqlserver": SourceKind(check_url=check_url_for("sqlserver"), engine_properties=sqlserver_properties,
                            watch_position=watch_nothing, read_catalog=no_catalog("sqlserver")),
    "oracle": SourceKind(check_url=check_url_for("oracle"), engine_properties=oracle_properties,
                         watch_position=watch_nothing, read_catalog=no_catalog("oracle")),
    "db2": SourceKind(check_url=check_url_for("db2"), engine_properties=db2_properties,
                      watch_position=watch_nothing, read_catalog=no_catalog("db2")),
}


def declared_source_kinds() -> list[str]:
    """Every `connector:` the cdc/*.yaml schema accepts."""
    return list(get_args(SourceSpec.model_fields["connector"].annotation))


def source_kind(spec: SourceSpec, kinds: Mapping[str, SourceKind] = SOURCE_KINDS) -> SourceKind:
    """How to capture `spec`; a connector without a registration is a ConfigError naming the
    source's file, never a fallback to another connector."""
    try:
        return kinds[spec.connector]
    except KeyError:
        raise ConfigError(f"cdc/{spec.name}.yaml", [
            f"connector: no capture is registered for connector {spec.connector!r} (registered: "
            f"{', '.join(sorted(kinds))}); add it to SOURCE_KINDS in mdm/capture/registry.py"],
        ) from None
