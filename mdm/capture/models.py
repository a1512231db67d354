"""ChangeEvent: one captured row change, normalised from the Debezium envelope.

Every capture path (embedded Debezium, HTTP ingest) turns what it receives into these, and the
inbox stores them. Parsing never raises: a record that cannot be understood becomes a
`PoisonRecord` that is kept with its reason.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

OPS = {"c", "u", "d", "r"}


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    source: str
    table: str  # schema.table
    op: str  # c, u, d, r (snapshot read)
    row_key: str
    position: str  # sortable text: commit order, then change order within the transaction
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    tx_id: int | None
    lsn: int | None
    commit_ts: datetime | None
    is_snapshot: bool


@dataclass(frozen=True, slots=True)
class PoisonRecord:
    """A record capture received but could not parse; stored as a failed inbox row."""

    source: str
    destination: str
    raw: str
    reason: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class TransactionEnd:
    """Debezium's transaction metadata END record: every event of `tx_id` is now captured."""

    source: str
    tx_id: int
    event_count: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A heartbeat or logical message: no row change, but proof the stream is alive."""

    source: str
    lsn: int | None


def row_key_of(key: Any) -> str:
    """The Debezium record key ({"id": 7} or a composite) as one text key: "7" or "7|A"."""
    if isinstance(key, dict):
        return "|".join("" if v is None else str(v) for v in key.values())
    return "" if key is None else str(key)


@dataclass
class Batch:
    """A batch of parsed records, sorted by kind, as the inbox takes them (`append_events`)."""

    events: list[ChangeEvent] = field(default_factory=list)
    poison: list[PoisonRecord] = field(default_factory=list)
    ends: list[TransactionEnd] = field(default_factory=list)
    last_lsn: int | None = None  # the newest position a heartbeat or message reported

    def add(self, parsed: ChangeEvent | PoisonRecord | Progress | TransactionEnd | None) -> None:
        if isinstance(parsed, ChangeEvent):
            self.events.append(parsed)
        elif isinstance(parsed, PoisonRecord):
            self.poison.append(parsed)
        elif isinstance(parsed, TransactionEnd):
            self.ends.append(parsed)
        elif isinstance(parsed, Progress) and parsed.lsn:
            self.last_lsn = parsed.lsn


def position_of(source_block: dict[str, Any]) -> tuple[str, int | None]:
    """A text that sorts in stream order, from Debezium's `sequence` [lastCommitLsn, lsn]."""
    lsn = source_block.get("lsn")
    commit_lsn: Any = None
    sequence = source_block.get("sequence")
    if sequence:
        parts = orjson.loads(sequence) if isinstance(sequence, str) else sequence
        commit_lsn, lsn = parts[0], parts[1] if parts[1] is not None else lsn
    lsn_int = int(lsn) if lsn is not None else None
    return f"{int(commit_lsn or 0):016x}/{lsn_int or 0:016x}", lsn_int


def _commit_time(source_block: dict[str, Any]) -> datetime | None:
    micros = source_block.get("ts_us")
    if micros is not None:
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    millis = source_block.get("ts_ms")
    return datetime.fromtimestamp(int(millis) / 1000, tz=UTC) if millis is not None else None


KeyReader = Callable[[], "str | None"]


def parse_envelope(
    source: str, destination: str | Callable[[], str], key_json: str | None | KeyReader,
    value_json: str | None, primary_keys: Mapping[str, str] | None = None,
) -> ChangeEvent | PoisonRecord | Progress | TransactionEnd | None:
    """Normalise one Debezium JSON record (schemas disabled). None for tombstones.

    `destination` and `key_json` may be callables, read only when needed: crossing into the
    JVM for every record costs more than parsing it. With `primary_keys` (table → key column)
    the row key is taken from the row image itself.
    """
    if value_json is None:
        return None  # tombstone after a delete: the delete itself carried the change
    try:
        value = orjson.loads(value_json)
        if not isinstance(value, dict):
            raise ValueError("envelope is not a JSON object")
        if "op" not in value:
            if value.get("status") in ("BEGIN", "END") and "id" in value:
                return _transaction_boundary(source, value)
            return Progress(source, None)  # __debezium-heartbeat records carry only ts_ms
        block = value.get("source") or {}
        if value["op"] == "m":  # logical decoding message (our heartbeat query)
            return Progress(source, position_of(block)[1])
        if value["op"] not in OPS:
            raise ValueError(f"unknown op {value['op']!r}")
        position, lsn = position_of(block)
        schema, table = block.get("schema") or "public", block.get("table")
        if not table:
            raise ValueError("source block names no table")
        row_key = _row_key(f"{schema}.{table}", value, key_json, primary_keys)
        return ChangeEvent(
            source=source,
            table=f"{schema}.{table}",
            op=value["op"],
            row_key=row_key,
            position=position,
            before=value.get("before"),
            after=value.get("after"),
            tx_id=int(block["txId"]) if block.get("txId") is not None else None,
            lsn=lsn,
            commit_ts=_commit_time(block),
            is_snapshot=str(block.get("snapshot", "false")) not in ("false", "False"),
        )
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        where = destination() if callable(destination) else destination
        return PoisonRecord(source, where, value_json, f"unparseable Debezium record: {exc}")


def _row_key(table: str, value: dict[str, Any], key_json: str | None | KeyReader,
             primary_keys: Mapping[str, str] | None) -> str:
    column = (primary_keys or {}).get(table)
    row = value.get("after") or value.get("before") or {}
    if column is not None and row.get(column) is not None:
        return str(row[column])
    raw = key_json() if callable(key_json) else key_json
    key = orjson.loads(raw) if raw else None
    if key is None:
        raise ValueError("record has no key (table without primary key?)")
    return row_key_of(key)


def _transaction_boundary(source: str, value: dict[str, Any]) -> TransactionEnd | Progress:
    """`{"status": "END", "id": "571:53195832", "event_count": 2, …}` → TransactionEnd."""
    if value["status"] != "END":
        return Progress(source, None)
    tx_id = int(str(value["id"]).split(":", 1)[0])
    return TransactionEnd(source, tx_id, int(value.get("event_count") or 0))
