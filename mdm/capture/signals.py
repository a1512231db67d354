"""Talking to the running Debezium engine about snapshots: sending it the execute-snapshot
signals of queued requests (in-process channel), and reading its notifications (sink channel:
they arrive among the change events) into per-table snapshot progress.

Requests are queued in the hub database (`snapshot_request`) by capture itself (new tables)
and by `mdm resync`, from any process; only this thread, beside the engine, sends them, one
at a time per source. A signal handed to an engine that then stops is lost with it: at each
engine start the requests it did not resume from its offsets are pending again. A request
the engine has not started `snapshot_start_timeout_s` after it was sent, or whose snapshot
skipped a table (Debezium's SQL_EXCEPTION …), is sent again; after `snapshot_attempts` sends
it is failed with the reasons, so one request never holds up the queue behind it.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import orjson
import psycopg

from mdm.capture.models import ChangeEvent
from mdm.config.sources import SourceSpec
from mdm.model.snapshots import (ProgressStep, SnapshotEnded, SnapshotKind, SnapshotRequest,
                                 SnapshotRows, SnapshotStarted, TableDone, TableRunning,
                                 request_of_signal, signal_id)
from mdm.store.repositories.capture import (mark_request, next_request, reopen_requests,
                                            requeue_unstarted, resumed_correlation_id,
                                            widen_offsets)

logger = logging.getLogger(__name__)
_AGGREGATES: dict[str, SnapshotKind] = {"Initial Snapshot": "initial",
                                        "Incremental Snapshot": "incremental"}
_READ_OK = ("SUCCEEDED", "EMPTY")  # a table scan's status when its rows were read


class EngineHandle:
    """The engine now running for one source, for the thread that sends it signals. `lock` is
    held while an engine is attached or detached, while requests are reopened at its start,
    and while a signal is sent and recorded, so no signal is recorded for a dead engine."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._engine: Any = None

    def attach(self, engine: Any) -> None:
        with self.lock:
            self._engine = engine

    def detach(self) -> None:
        with self.lock:
            self._engine = None

    @property
    def is_running(self) -> bool:
        return self._engine is not None

    def signal(self, signal: str, kind: str, data: str) -> bool:
        """Hand a signal to the engine's in-process channel; False if it cannot take it yet
        (not started, or stopping): the caller tries again later."""
        import jpype

        with self.lock:
            if self._engine is None:
                return False
            try:
                make = jpype.JClass("io.debezium.engine.DebeziumEngine$Signal")
                self._engine.engine.getSignaler().signal(make(signal, kind, data, None))
            except Exception as exc:  # noqa: BLE001 — JPype's proxies of Java exceptions
                logger.debug("engine refused signal %s (not ready?): %s", signal, exc)
                return False
            return True


def signal_data(request: SnapshotRequest) -> str:
    """The execute-snapshot signal's data: the tables and each one's extra condition."""
    data: dict[str, Any] = {"type": "incremental", "data-collections": list(request.tables)}
    conditions = [{"data-collection": t, "filter": c} for t, c in request.conditions.items()
                  if t in request.tables]
    if conditions:
        data["additional-conditions"] = conditions
    return orjson.dumps(data).decode()


def reopen_for_start(spec: SourceSpec, offsets_table: str, hub_url: str) -> None:
    """Before an engine starts: requests it will not resume from its offsets go back to
    pending, so they are sent to it again (and its offset table takes offsets of any size)."""
    with psycopg.connect(hub_url) as conn, conn.transaction():
        if widen_offsets(conn, offsets_table):
            logger.info("offset table widened to text source=%s table=%s", spec.name,
                        offsets_table)
        resumed = request_of_signal(resumed_correlation_id(conn, offsets_table))
        reopened = reopen_requests(conn, spec.name, resumed)
    if reopened:
        logger.info("snapshot requests pending again source=%s count=%d resumed=%s", spec.name,
                    reopened, resumed)


def send_snapshot_signals(spec: SourceSpec, hub_url: str, handle: EngineHandle,
                          stop: threading.Event, interval_s: float = 1.0) -> None:
    """Until `stop`: every `interval_s`, send the next queued request to the running engine."""
    conn: psycopg.Connection | None = None
    sent: Counter[int] = Counter()  # request → signals sent for it by this process
    while not stop.wait(interval_s):
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(hub_url, autocommit=True)
            _send_next(conn, spec, handle, sent)
        except psycopg.Error as exc:
            logger.warning("cannot read snapshot requests source=%s: %s", spec.name, exc)
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _send_next(conn: psycopg.Connection, spec: SourceSpec, handle: EngineHandle,
               sent: Counter[int]) -> None:
    timeout = spec.snapshot_start_timeout_s
    with handle.lock:
        if not handle.is_running:
            return
        for lost in requeue_unstarted(conn, spec.name, timeout):
            logger.warning("snapshot request not started by the engine within %.0fs, sending "
                           "it again source=%s request=%d", timeout, spec.name, lost)
        request = _next_with_attempts_left(conn, spec, sent)
        if request is None or not handle.signal(signal_id(request.id), "execute-snapshot",
                                                signal_data(request)):
            return
        mark_request(conn, request.id, "sent")
        sent[request.id] += 1
    logger.info("snapshot signal sent source=%s request=%d reason=%s tables=%s attempt=%d",
                spec.name, request.id, request.reason, ",".join(request.tables),
                sent[request.id])


def _next_with_attempts_left(conn: psycopg.Connection, spec: SourceSpec, sent: Counter[int]
                             ) -> SnapshotRequest | None:
    """The next request to send; one sent `snapshot_attempts` times already (lost, or its
    snapshot skipped a table each time) is failed with the reason, and the queue goes on."""
    while (request := next_request(conn, spec.name)) is not None:
        if sent[request.id] < spec.snapshot_attempts:
            return request
        reason = give_up_reason(sent[request.id], request.error)
        mark_request(conn, request.id, "failed", reason)
        logger.error("snapshot request failed source=%s request=%d: %s", spec.name,
                     request.id, reason)
    return None


def give_up_reason(attempts: int, history: str | None) -> str:
    """Why a request is failed after its last attempt, for `mdm status` and `mdm resync`."""
    return (f"not completed in {attempts} attempt{'s' if attempts != 1 else ''} "
            f"({history or 'no reason recorded'}); see the capture log, then run "
            "'mdm resync' again")


# -- notifications and snapshot rows → progress ------------------------------------------------
def is_notification(text: str) -> bool:
    """Whether a record is one of Debezium's notifications (cheap: no JSON parse)."""
    return text.startswith('{"id":') and '"aggregate_type":' in text


def notification_steps(text: str, tables: tuple[str, ...]) -> list[ProgressStep]:
    """The progress a notification tells; [] for one that tells none (or cannot be read).
    `tables` are the captured tables: an initial snapshot's STARTED names none."""
    try:  # never raises: an exception here would stop capture
        note = orjson.loads(text)
        kind = _AGGREGATES.get(str(note.get("aggregate_type")))
        data = note.get("additional_data") or {}
        if kind is None or not isinstance(data, dict):
            return []
        request = request_of_signal(str(note.get("id"))) if kind == "incremental" else None
        return _steps(str(note.get("type")), kind, data, request, tables)
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        logger.warning("unreadable Debezium notification: %.200s", text)
        return []


def _steps(type_: str, kind: SnapshotKind, data: dict[str, Any], request: int | None,
           tables: tuple[str, ...]) -> list[ProgressStep]:
    named = tuple(t for t in str(data.get("data_collections") or "").split(",") if t)
    if type_ == "STARTED":
        return [SnapshotStarted(kind, named or tables, request)]
    if type_ == "IN_PROGRESS" and data.get("current_collection_in_progress"):
        return [TableRunning(kind, str(data["current_collection_in_progress"]))]
    if type_ == "TABLE_SCAN_COMPLETED" and data.get("scanned_collection"):
        status = str(data.get("status") or "SUCCEEDED")
        rows = str(data.get("total_rows_scanned") or "0")
        return [TableDone(kind, str(data["scanned_collection"]),
                          int(rows) if rows.isdigit() else 0, request,
                          None if status in _READ_OK else status)]
    if type_ in ("COMPLETED", "ABORTED", "SKIPPED"):
        # SKIPPED (no initial snapshot at this start) closes one an earlier engine left open
        return [SnapshotEnded(kind, request, aborted=type_ == "ABORTED")]
    return []


class SnapshotTracker:
    """The progress steps of one batch, in the order capture saw them: snapshot rows per table
    (counted between notifications) and what each notification says."""

    def __init__(self, tables: tuple[str, ...]) -> None:
        self.tables = tables
        self.steps: list[ProgressStep] = []
        self._rows: Counter[tuple[SnapshotKind, str]] = Counter()

    def row(self, event: ChangeEvent) -> None:
        # Debezium marks incremental snapshot reads `snapshot: incremental`; the initial
        # snapshot's are true / first / last / first_in_data_collection …
        raw = event.raw or ""
        kind: SnapshotKind = "incremental" if '"snapshot":"incremental"' in raw else "initial"
        self._rows[(kind, event.table)] += 1

    def note(self, text: str) -> None:
        self._flush_rows()
        self.steps += notification_steps(text, self.tables)

    def take(self) -> list[ProgressStep]:
        """The batch's steps (and start the next batch)."""
        self._flush_rows()
        steps, self.steps = self.steps, []
        return steps

    def _flush_rows(self) -> None:
        self.steps += [SnapshotRows(kind, table, n) for (kind, table), n in self._rows.items()]
        self._rows.clear()
