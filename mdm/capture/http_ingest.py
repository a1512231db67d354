"""Change events over HTTP: what Debezium Server's HTTP sink posts (`POST /api/v1/ingest/debezium`).

For an ERP the hub cannot reach with its embedded engine: Debezium Server runs beside the ERP
and posts each change event to the hub. A body is one Debezium JSON envelope — with or without
the converter's `{"schema": …, "payload": …}` wrapper — or a JSON array of them. The batch is
written to the inbox in one transaction before the reply, so a 2xx means durable: the sink
commits its offsets only then, and a batch it sends again is absorbed by the inbox's dedupe.
A record that cannot be parsed, or holds a value PostgreSQL cannot store, is kept in the inbox
`failed` with its reason (never blocks the others). Events without an LSN are keyed by a hash
of their content, so two different changes are never taken for one redelivered.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg

from mdm.capture.inbox import append_batch
from mdm.capture.models import Batch, Parsed, PoisonRecord, parse_value
from mdm.capture.service import primary_keys
from mdm.capture.storable import dumps_lenient, loads_exact, storable_text
from mdm.config.loader import Project


class UnknownSource(ValueError):
    """The body's source is not one of the project's cdc/*.yaml sources."""


@dataclass(frozen=True)
class Ingested:
    source: str
    records: int
    events: int  # change events stored as pending
    new: int
    kept_unparseable: int  # records kept failed with their reason (unparseable or unstorable)
    transactions_ended: int
    ignored: int  # heartbeats, BEGIN records, tombstones: nothing to store


@dataclass(frozen=True)
class _Record:
    value: Any  # the parsed record (the envelope's `payload` when it is wrapped)
    source_block: dict[str, Any]  # the envelope's `source`, or {} when there is none
    text: str | None = None  # the body's text, when the body is not JSON


def _records(body: bytes) -> list[_Record]:
    """The body's records; a body that is not JSON is one (unparseable) record. Integers stay
    exact at any size (orjson would round a 2^70 to a float): a txId or LSN beyond bigint, or
    a NaN, is then refused for its own record, not for the whole body."""
    try:
        doc = loads_exact(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond parsing
        return [_Record(None, {}, body.decode("utf-8", errors="replace"))]
    out = []
    for item in doc if isinstance(doc, list) else [doc]:
        if isinstance(item, dict) and "payload" in item and "schema" in item:
            item = item["payload"]  # JsonConverter with schemas.enable=true
        block = item.get("source") if isinstance(item, dict) else None
        out.append(_Record(item, block if isinstance(block, dict) else {}))
    return out


def _destination(source: str, block: dict[str, Any]) -> str:
    """The topic the record would have had (`erp.public.supplier`), for a kept record."""
    parts = [source, block.get("schema"), block.get("table")]
    return ".".join(str(p) for p in parts if p) if block.get("table") else f"{source}.http-ingest"


def resolve_source(project: Project, asked: str | None, records: list[_Record]) -> str:
    """`?source=` if given, else the `source.name` (Debezium's topic.prefix) the records carry."""
    names = {str(r.source_block["name"]) for r in records if r.source_block.get("name")}
    if asked is None and len(names) == 1:
        asked = names.pop()
    if asked is None:
        shown = sorted(storable_text(n)[:60] for n in names)[:10]
        raise UnknownSource("name the source: ?source=<cdc file name> (the records carry "
                            f"{shown or 'no source.name'})")
    if asked not in project.sources:
        raise UnknownSource(f"unknown source {storable_text(asked)[:60]!r}; "
                            f"configured: {sorted(project.sources)}")
    return asked


def _parse(name: str, record: _Record, keys: dict[str, str]) -> Parsed:
    destination = partial(_destination, name, record.source_block)
    if record.text is not None:
        return PoisonRecord(name, destination(), storable_text(record.text),
                            "unparseable Debezium record: the body is not JSON")
    if record.value is None:
        return None  # a tombstone ({"schema": null, "payload": null})
    return parse_value(name, destination, None, record.value, dumps_lenient(record.value), keys)


def ingest(conn: psycopg.Connection, project: Project, body: bytes,
           source: str | None = None) -> Ingested:
    """Parse the body and append it to the inbox in one transaction. Every record is stored:
    pending, or failed with its reason (it never fails the batch); heartbeats, BEGIN records
    and tombstones carry nothing to store."""
    records = _records(body)
    name = resolve_source(project, source, records)
    keys = primary_keys(project, name)
    batch = Batch()
    for r in records:
        batch.add(_parse(name, r, keys))
    appended = append_batch(conn, name, batch)
    failed, ends = appended.failed, len(batch.ends)
    stored = len(batch.events) + len(batch.poison) - failed
    return Ingested(name, len(records), stored, appended.new, failed, ends,
                    len(records) - stored - failed - ends)
