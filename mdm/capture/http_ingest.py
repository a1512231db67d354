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


def _envelopes(body: bytes) -> list[str]:
    """The body's records as JSON strings; a body that is not JSON is one (unparseable) record."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [body.decode("utf-8", errors="replace")]
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        if isinstance(item, dict) and "payload" in item and "schema" in item:
            item = item["payload"]  # JsonConverter with schemas.enable=true
        out.append(orjson.dumps(item).decode())
    return out


def _source_block(envelope: str) -> dict[str, Any]:
    try:
        value = orjson.loads(envelope)
    except orjson.JSONDecodeError:
        return {}
    block = value.get("source") if isinstance(value, dict) else None
    return block if isinstance(block, dict) else {}


def _named_source(envelope: str) -> str | None:
    name = _source_block(envelope).get("name")
    return str(name) if name else None


def _destination(source: str, envelope: str) -> str:
    """The topic the record would have had (`erp.public.supplier`), for a kept record."""
    block = _source_block(envelope)
    parts = [source, block.get("schema"), block.get("table")]
    return ".".join(str(p) for p in parts if p) if block.get("table") else f"{source}.http-ingest"


def resolve_source(project: Project, asked: str | None, envelopes: list[str]) -> str:
    """`?source=` if given, else the `source.name` (Debezium's topic.prefix) the records carry."""
    names = {n for n in (_named_source(e) for e in envelopes) if n}
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
    envelopes = _envelopes(body)
    name = resolve_source(project, source, envelopes)
    keys = primary_keys(project, name)
    batch = Batch()
    for envelope in envelopes:
        batch.add(parse_envelope(name, partial(_destination, name, envelope), None, envelope, keys))
    new = append_events(conn, name, batch.events, batch.poison, batch.last_lsn, batch.ends)
    return Ingested(name, len(envelopes), len(batch.events), new, len(batch.poison),
                    len(batch.ends))
