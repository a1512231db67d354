"""ChangeEvent: one captured row change, normalised from the Debezium envelope.

Every capture path (embedded Debezium, HTTP ingest) turns what it receives into these, and the
inbox stores them. Parsing never raises: a record that cannot be understood becomes a
`PoisonRecord` that is kept with its reason.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from mdm.capture.positions import transaction_id
from mdm.capture.storable import Unstorable, bigint, check_text, storable_text
from mdm.model.inbox import CONTENT_POSITION_PREFIX

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
    raw: str | None = field(default=None, compare=False, repr=False)  # kept if it is refused


@dataclass(frozen=True, slots=True)
class PoisonRecord:
    """A record capture received but could not parse; stored as a failed inbox row."""

    source: str
    destination: str
    raw: str
    reason: str
    row_key: str | None = None  # known when the record parsed but a value cannot be stored

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


_PROCESSING_TIMES = ("ts_ms", "ts_us", "ts_ns")  # when the connector emitted the event


def position_of(source_block: dict[str, Any]) -> tuple[str | None, int | None]:
    """A text that sorts in stream order and an integer position (the LSN for PostgreSQL),
    by the block's `connector` (mdm/capture/positions.py; PostgreSQL when it names none);
    (None, None) when the block carries none. Raises ValueError for a malformed one."""
    from mdm.capture.positions import POSITIONS

    connector = source_block.get("connector") or "postgresql"
    reader = POSITIONS.get(connector) if isinstance(connector, str) else None
    if reader is None:
        return None, None  # an unknown connector's event falls back to its content hash
    return reader(source_block)


def postgres_position(source_block: dict[str, Any]) -> tuple[str | None, int | None]:
    """From Debezium's `sequence` [lastCommitLsn, lsn] (or `lsn` alone), and the LSN; (None,
    None) when the block carries neither. Raises ValueError for a malformed or out-of-range
    one."""
    lsn = _lsn(source_block.get("lsn"), "source.lsn")
    commit_lsn: int | None = None
    sequence = source_block.get("sequence")
    if sequence:
        parts = orjson.loads(sequence) if isinstance(sequence, str) else sequence
        if not isinstance(parts, list) or len(parts) != 2:
            raise ValueError(f"source.sequence {storable_text(str(sequence))[:60]!r} is not "
                             "[lastCommitLsn, lsn]")
        commit_lsn = _lsn(parts[0], "source.sequence[0]")
        if parts[1] is not None:
            lsn = _lsn(parts[1], "source.sequence[1]")
    if lsn is None and commit_lsn is None:
        return None, None
    return f"{commit_lsn or 0:016x}/{lsn or 0:016x}", lsn


def _lsn(value: Any, name: str) -> int | None:
    number = bigint(value, name)
    if number is not None and number < 0:
        raise ValueError(f"{name} {number} is negative")
    return number


def content_position(value: dict[str, Any]) -> str:
    """The position of an event that carries none its connector reads (a hand-made one): a
    hash of what the event says, less the top-level processing times a re-emitted event
    changes. A redelivered event is absorbed by the inbox; two different events never are."""
    stable = {k: v for k, v in value.items() if k not in _PROCESSING_TIMES}
    try:
        text = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, NaN markers, lone surrogates
        text = json.dumps(stable, sort_keys=True, default=repr).encode()
    return CONTENT_POSITION_PREFIX + hashlib.sha256(text).hexdigest()[:32]


def _commit_time(source_block: dict[str, Any]) -> datetime | None:
    for name, per_second in (("ts_us", 1_000_000), ("ts_ns", 1_000_000_000), ("ts_ms", 1000)):
        ticks = bigint(source_block.get(name), f"source.{name}")
        if ticks is None:
            continue
        try:
            return datetime.fromtimestamp(ticks / per_second, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"source.{name} {ticks} is not a time the hub can store") from exc
    return None


KeyReader = Callable[[], "str | None"]
Parsed = ChangeEvent | PoisonRecord | Progress | TransactionEnd | None


def parse_envelope(
    source: str, destination: str | Callable[[], str], key_json: str | None | KeyReader,
    value_json: str | None, primary_keys: Mapping[str, str] | None = None,
) -> Parsed:
    """Normalise one Debezium JSON record (schemas disabled). None for tombstones.

    `destination` and `key_json` may be callables, read only when needed: crossing into the
    JVM for every record costs more than parsing it. With `primary_keys` (table → key column)
    the row key is taken from the row image itself. Never raises: a record that cannot be
    understood, or holds what PostgreSQL cannot store, is a PoisonRecord with the reason.
    """
    if value_json is None:
        return None  # tombstone after a delete: the delete itself carried the change
    try:
        value = orjson.loads(value_json)
    except orjson.JSONDecodeError as exc:
        where = destination() if callable(destination) else destination
        return PoisonRecord(source, storable_text(where)[:200], storable_text(value_json),
                            f"unparseable Debezium record: {exc}")
    return parse_value(source, destination, key_json, value, value_json, primary_keys)


def parse_value(
    source: str, destination: str | Callable[[], str], key_json: str | None | KeyReader,
    value: Any, raw: str, primary_keys: Mapping[str, str] | None = None,
) -> Parsed:
    """`parse_envelope` for a record already parsed from JSON; `raw` is its text (kept if bad)."""
    try:
        return _parse(source, key_json, value, raw, primary_keys)
    except Unstorable as exc:
        reason = f"value PostgreSQL cannot store: {exc}"
    except Exception as exc:  # noqa: BLE001 — parsing never raises: the record is kept instead
        reason = f"unparseable Debezium record: {storable_text(str(exc))}"
    where = destination() if callable(destination) else destination
    return PoisonRecord(source, storable_text(where)[:200], storable_text(raw), reason)


def _parse(source: str, key_json: str | None | KeyReader, value: Any, raw: str,
           primary_keys: Mapping[str, str] | None) -> Parsed:
    if not isinstance(value, dict):
        raise ValueError("envelope is not a JSON object")
    if "op" not in value:
        if value.get("status") in ("BEGIN", "END") and "id" in value:
            return _transaction_boundary(source, value)
        return Progress(source, None)  # __debezium-heartbeat records carry only ts_ms
    block = value.get("source") or {}
    if not isinstance(block, dict):
        raise ValueError("the source block is not a JSON object")
    if value["op"] == "m":  # logical decoding message (our heartbeat query)
        return Progress(source, position_of(block)[1])
    if value["op"] not in OPS:
        raise ValueError(f"unknown op {storable_text(str(value['op']))[:20]!r}")
    position, lsn = position_of(block)
    # MySQL's block names the database (`db`), not a schema: its tables are database.table
    schema, table = block.get("schema") or block.get("db") or "public", block.get("table")
    if not table:
        raise ValueError("source block names no table")
    if not isinstance(schema, str) or not isinstance(table, str):
        raise ValueError("source block's schema and table are not text")
    check_text(f"{schema}.{table}", "source.table", max_bytes=256)
    before, after = value.get("before"), value.get("after")
    for name, image in (("before", before), ("after", after)):
        if image is not None and not isinstance(image, dict):
            raise ValueError(f"{name} is not a JSON object")
    row_key = check_text(_row_key(f"{schema}.{table}", value, key_json, primary_keys), "the row key",
                         max_bytes=1024)
    return ChangeEvent(
        source=source,
        table=f"{schema}.{table}",
        op=value["op"],
        row_key=row_key,
        position=position or content_position(value),
        before=before,
        after=after,
        tx_id=transaction_id(block),  # None where the connector's id is text (Oracle)
        lsn=lsn,
        commit_ts=_commit_time(block),
        is_snapshot=str(block.get("snapshot", "false")) not in ("false", "False"),
        raw=raw,
    )


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
    tx_id = bigint(str(value["id"]).split(":", 1)[0], "the transaction id")
    count = bigint(value.get("event_count") or 0, "event_count")
    if tx_id is None or count is None or not 0 <= count < 2**31:
        raise ValueError(f"event_count {count} is out of range")
    return TransactionEnd(source, tx_id, count)
