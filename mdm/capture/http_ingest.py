"""Change events over HTTP: what Debezium Server's HTTP sink posts (`POST /api/v1/ingest/debezium`).

For an ERP the hub cannot reach with its embedded engine: Debezium Server runs beside the ERP
and posts each change event to the hub. A body is one Debezium JSON envelope — with or without
the converter's `{"schema": …, "payload": …}` wrapper — or a JSON array of them. The batch is
written to the inbox in one transaction before the reply, so a 2xx means durable: the sink
commits its offsets only then, and a batch it sends again is absorbed by the inbox's dedupe.
A record that cannot be parsed is kept in the inbox with its reason (never blocks the others).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import psycopg

from mdm.capture.inbox import append_events
from mdm.capture.models import Batch, parse_envelope
from mdm.capture.service import primary_keys
from mdm.config.loader import Project


class UnknownSource(ValueError):
    """The body's source is not one of the project's cdc/*.yaml sources."""


@dataclass(frozen=True)
class Ingested:
    source: str
    records: int
    events: int
    new: int
    kept_unparseable: int
    transactions_ended: int


@dataclass(frozen=True)
class _Record:
    text: str  # as parse_envelope (and an unparseable record's kept copy) takes it
    source_block: dict[str, Any]  # the envelope's `source`, or {} when there is none


def _records(body: bytes) -> list[_Record]:
    """The body's records; a body that is not JSON is one (unparseable) record."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [_Record(body.decode("utf-8", errors="replace"), {})]
    out = []
    for item in doc if isinstance(doc, list) else [doc]:
        if isinstance(item, dict) and "payload" in item and "schema" in item:
            item = item["payload"]  # JsonConverter with schemas.enable=true
        block = item.get("source") if isinstance(item, dict) else None
        out.append(_Record(orjson.dumps(item).decode(), block if isinstance(block, dict) else {}))
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
        raise UnknownSource("name the source: ?source=<cdc file name> (the records carry "
                            f"{sorted(names) or 'no source.name'})")
    if asked not in project.sources:
        raise UnknownSource(f"unknown source {asked!r}; configured: {sorted(project.sources)}")
    return asked


def ingest(conn: psycopg.Connection, project: Project, body: bytes,
           source: str | None = None) -> Ingested:
    """Parse the body and append it to the inbox in one transaction."""
    records = _records(body)
    name = resolve_source(project, source, records)
    keys = primary_keys(project, name)
    batch = Batch()
    for r in records:
        batch.add(parse_envelope(name, partial(_destination, name, r.source_block), None, r.text, keys))
    new = append_events(conn, name, batch.events, batch.poison, batch.last_lsn, batch.ends)
    return Ingested(name, len(records), len(batch.events), new, len(batch.poison), len(batch.ends))
