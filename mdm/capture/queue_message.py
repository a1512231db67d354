"""One queue message → the change event the inbox stores (or the failed record keeping it).

Pure: no broker, no database. The runners (queue_amqp.py, queue_nats.py) turn what their
library hands them into a `Received` and call `message_event`; the message's mapping is the
feed's `message:` (mdm/config/feed_queue.py), resolved once against the project (`Mapping`).

Numbers with a fraction or an exponent are kept as their exact text ("12.345"), as Debezium's
decimals are: a decimal attribute gets every digit, a float attribute parses it.
The position is the message id, "h/<id>" (applies in inbox order), or with an order field
"o/<order, zero-padded when an integer>/<id>", which sorts per record so a stale redelivery
is refused by the golden stage.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from mdm.capture.documents import Document, document_with_children
from mdm.capture.models import ChangeEvent, PoisonRecord
from mdm.capture.storable import NonFinite, dumps_lenient, storable_text
from mdm.config.feed_children import Splits, child_splits
from mdm.config.feed_queue import MessageSpec, QueueFeed
from mdm.config.loader import Project
from mdm.errors import ConfigError
from mdm.model.inbox import CONTENT_POSITION_PREFIX

ORDER_DIGITS = 20  # an integer order is zero-padded so text order = numeric order


@dataclass(frozen=True)
class Received:
    """What a broker delivered, library-neutral."""

    body: bytes
    headers: MappingType[str, Any] = field(default_factory=dict)
    subject: str = ""  # NATS subject or AMQP routing key
    message_id: str | None = None  # AMQP message_id property / NATS Nats-Msg-Id header
    sequence: int | None = None  # NATS stream sequence


@dataclass(frozen=True)
class Mapping:
    """A feed's `message:` with the project's defaults filled in (table, key per table)."""

    source: str
    kind: str
    spec: MessageSpec
    default_table: str | None
    keys: MappingType[str, list[str]]  # table → key fields
    splits: Splits = field(default_factory=dict)  # tables whose documents carry child lists


class Unreadable(ValueError):
    """Why a message cannot be a document (kept failed with this reason)."""


def mapping_of(project: Project, feed: QueueFeed) -> Mapping:
    """The feed's message mapping resolved against the entities that take it as source; a
    ConfigError naming the file when the table cannot be decided."""
    spec = feed.message
    entities = [project.entities[e] for e in project.entities_of_record(feed.name)]
    default_table = spec.table
    if spec.table is None and spec.table_by is None:
        tables = sorted({e.table for e in entities})
        if len(tables) != 1:
            raise ConfigError(f"cdc/{feed.name}.yaml", [
                f"message.table: required when {len(tables)} entities take this feed as "
                f"source ({', '.join(tables) or 'none'}); name the table (or table_by:)"])
        default_table = tables[0]
    keys: dict[str, list[str]] = {e.table: e.key_columns for e in entities}
    if spec.key is not None:
        fixed = [spec.key] if isinstance(spec.key, str) else list(spec.key)
        keys = {t: fixed for t in {*keys, *(spec.table_by.tables.values() if spec.table_by
                                             else ()), default_table or ""}}
    return Mapping(feed.name, feed.kind, spec, default_table, keys,
                   child_splits(feed, entities))


def parse_body(body: bytes) -> Any:
    """The JSON body, numbers with a fraction as their exact text; Unreadable if not JSON."""
    try:
        return json.loads(body, parse_float=_exact, parse_constant=NonFinite)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Unreadable(f"the message body is not JSON ({exc})") from None


def _exact(text: str) -> str:
    return text


def dig(value: Any, path: str, what: str) -> Any:
    """The value at dotted `path` in `value`; Unreadable naming `what` when absent."""
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Unreadable(f"no {what} at {path!r} in the message body")
        value = value[part]
    return value


def message_event(m: Mapping, msg: Received) -> Document | ChangeEvent | PoisonRecord:
    """The change event of one message (its document split into child rows when its table has
    child lists: m.splits), or the failed record with its reason. Never raises."""
    try:
        return _event(m, msg)
    except Unreadable as exc:
        return PoisonRecord(m.source, _destination(m, msg), _raw(msg),
                            f"unreadable message: {storable_text(str(exc))}")


def _event(m: Mapping, msg: Received) -> Document | ChangeEvent | PoisonRecord:
    body = parse_body(msg.body)
    if not isinstance(body, dict):
        raise Unreadable("the message body is not a JSON object")
    table = table_of(m, msg, body)
    document = dig(body, m.spec.fields, "fields object") if m.spec.fields else body
    if not isinstance(document, dict):
        raise Unreadable(f"{m.spec.fields!r} is not a JSON object")
    key_fields = m.keys.get(table)
    if not key_fields:
        raise Unreadable(f"no key fields known for table {table}")
    missing = [k for k in key_fields if document.get(k) in (None, "")]
    if missing:
        raise Unreadable(f"the document has no key ({', '.join(missing)} missing)")
    row_key = "|".join(str(document[k]) for k in key_fields)
    op = op_of(m.spec, body)
    position = position_of(m, msg, body)
    return document_with_children(m.splits, m.source, table, row_key,
                                  None if op == "d" else document, position, op=op, raw=_raw(msg))


def table_of(m: Mapping, msg: Received, body: dict[str, Any]) -> str:
    by = m.spec.table_by
    if by is None:
        assert m.default_table is not None  # mapping_of decided it
        return m.default_table
    if by.header:
        value, what = msg.headers.get(by.header), f"header {by.header}"
    elif by.subject:
        value, what = msg.subject, "subject" if m.kind == "nats" else "routing key"
    else:
        assert by.field is not None
        value, what = dig(body, by.field, "table field"), f"field {by.field}"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or value not in by.tables:
        raise Unreadable(f"no table for {what} {value!r} (mapped: {', '.join(by.tables)})")
    return by.tables[value]


def op_of(spec: MessageSpec, body: dict[str, Any]) -> str:
    if spec.op.field is None:
        return "u"
    try:
        value = dig(body, spec.op.field, "op field")
    except Unreadable:
        return "u"  # no marker: an upsert
    deletes = spec.op.delete
    hit = any(value is d or (type(value) is type(d) and value == d) for d in deletes)
    return "d" if hit else "u"


def message_id(m: Mapping, msg: Received, body: dict[str, Any]) -> str:
    how, name = m.spec.id.from_, m.spec.id.name
    if how == "header":
        assert name is not None
        value: Any = msg.headers.get(name)
        if value in (None, ""):
            raise Unreadable(f"no message id: header {name} is absent")
    elif how == "field":
        assert name is not None
        value = dig(body, name, "message id field")
    elif how == "sequence":
        value = msg.sequence
    elif how == "message_id":
        value = msg.message_id
        if not value:
            raise Unreadable("no message id: the message carries no "
                             f"{'message_id property' if m.kind == 'amqp' else 'Nats-Msg-Id'}")
    else:  # auto
        value = msg.message_id or (msg.sequence if msg.sequence is not None else None)
        if not value:
            value = "sha256:" + hashlib.sha256(msg.subject.encode() + b"\n" + msg.body).hexdigest()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value in (None, "") or isinstance(value, dict | list):
        raise Unreadable(f"no usable message id ({how}: {value!r})")
    return str(value)


def position_of(m: Mapping, msg: Received, body: dict[str, Any]) -> str:
    ident = message_id(m, msg, body)
    if m.spec.order is None:
        return f"{CONTENT_POSITION_PREFIX}{ident}"
    order = dig(body, m.spec.order, "order field")
    if isinstance(order, bool) or not isinstance(order, int | str) or order == "":
        raise Unreadable(f"order field {m.spec.order!r} is {order!r}, not an integer or text")
    if isinstance(order, str) and order.isdigit():
        order = int(order)
    elif isinstance(order, str) and _is_number(order):
        raise Unreadable(f"order field {m.spec.order!r} is {order}: a number that is not an "
                         "integer does not sort as text")
    if isinstance(order, int):
        if order < 0 or len(str(order)) > ORDER_DIGITS:
            raise Unreadable(f"order field {m.spec.order!r} is {order}, expected 0 … 10^20")
        order = f"{order:0{ORDER_DIGITS}d}"
    return f"o/{order}/{ident}"


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _destination(m: Mapping, msg: Received) -> str:
    return storable_text(m.default_table or msg.subject or m.source)[:200]


def _raw(msg: Received) -> str:
    """The message as kept in the inbox: its body as text (bytes that are not UTF-8 escaped)
    with the headers, subject and id."""
    return dumps_lenient({
        "body": msg.body.decode("utf-8", "backslashreplace"),
        "subject": msg.subject, "message_id": msg.message_id, "sequence": msg.sequence,
        "headers": {str(k): v if isinstance(v, str | int | float | bool) or v is None
                    else storable_text(str(v)) for k, v in msg.headers.items()}})
