"""Snapshots as capture sees them: the requests for incremental snapshots (new tables, `mdm
resync`) and the steps of progress capture records per table (from Debezium's notifications
and the snapshot rows it reads). Shared by capture (which produces them), the store (which
records them) and the surfaces (which show them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SnapshotKind = Literal["initial", "incremental"]
SIGNAL_PREFIX = "mdm-snapshot-"  # Debezium signal id = prefix + request id


def signal_id(request_id: int) -> str:
    return f"{SIGNAL_PREFIX}{request_id}"


def request_of_signal(signal: str | None) -> int | None:
    """The request a Debezium signal (or notification) id names; None for ids not ours."""
    if not signal or not signal.startswith(SIGNAL_PREFIX):
        return None
    number = signal[len(SIGNAL_PREFIX):]
    return int(number) if number.isdigit() else None


@dataclass(frozen=True)
class SnapshotRequest:
    """An incremental snapshot to send: `tables` in the order to read them, `conditions`
    table → SQL condition on that table's rows (Debezium's additional-conditions)."""

    id: int
    source: str
    reason: Literal["new_tables", "resync"]
    tables: tuple[str, ...]
    conditions: dict[str, str] = field(default_factory=dict)
    entity: str | None = None
    keys: tuple[str, ...] | None = None
    status: str = "pending"
    error: str | None = None  # why earlier attempts failed, or why the request did


# -- progress steps, applied in order ----------------------------------------------------------
@dataclass(frozen=True)
class SnapshotStarted:
    """A snapshot of `tables` began: each is pending, with no rows yet."""

    kind: SnapshotKind
    tables: tuple[str, ...]
    request_id: int | None = None


@dataclass(frozen=True)
class TableRunning:
    kind: SnapshotKind
    table: str


@dataclass(frozen=True)
class SnapshotRows:
    """`rows` snapshot rows of `table` reached the inbox."""

    kind: SnapshotKind
    table: str
    rows: int


@dataclass(frozen=True)
class TableDone:
    """Debezium finished reading `table`: `rows` is its own count; `problem` is set when the
    table could not be read (Debezium's status, e.g. SQL_EXCEPTION)."""

    kind: SnapshotKind
    table: str
    rows: int
    request_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class SnapshotEnded:
    """The whole snapshot ended: completed, aborted (tables not done are marked aborted), or,
    for the initial snapshot, skipped (Debezium's offsets hold it complete: streaming goes on
    from them)."""

    kind: SnapshotKind
    request_id: int | None = None
    aborted: bool = False


ProgressStep = SnapshotStarted | TableRunning | SnapshotRows | TableDone | SnapshotEnded


@dataclass(frozen=True)
class TableSnapshot:
    """One table's latest snapshot of one kind, for `mdm status` and /metrics."""

    source: str
    table: str
    kind: SnapshotKind
    state: str  # pending | running | done | aborted
    rows: int
    request_id: int | None
    started_at: datetime | None = None
    finished_at: datetime | None = None
