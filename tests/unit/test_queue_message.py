"""Queue messages → change events (mdm/capture/queue_message.py): table, fields, key, op, id
and order as the feed's `message:` says; what cannot be a document is the failed record with
its reason; numbers keep every digit; the position absorbs a redelivery and sorts with order."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mdm.capture.models import ChangeEvent, PoisonRecord
from mdm.capture.queue import batch_of
from mdm.capture.queue_message import Mapping, Received, mapping_of, message_event
from mdm.config.feed_queue import MessageSpec, QueueFeed
from mdm.config.loader import load_project
from mdm.errors import ConfigError

STOCK = "wms_q.stock_level"


def _mapping(kind: str = "amqp", **message: Any) -> Mapping:
    spec = MessageSpec.model_validate({"table": STOCK, **message})
    return Mapping("wms_q", kind, spec, spec.table, {STOCK: ["sku"], "wms_q.bin": ["code"]})


def _msg(body: Any, **kw: Any) -> Received:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return Received(body=data, **{"message_id": "m-1", **kw})


def _event(m: Mapping, msg: Received) -> ChangeEvent:
    event = message_event(m, msg)
    assert isinstance(event, ChangeEvent), event
    return event


def test_a_message_is_an_upsert_of_its_document_keyed_by_its_id() -> None:
    body = b'{"sku": "M-1002@WH01", "on_hand": 12.345, "name": "\xe8\x9e\xba\xe6\xa0\x93"}'
    event = _event(_mapping(), _msg(body))
    assert (event.source, event.table, event.row_key, event.op) == ("wms_q", STOCK,
                                                                     "M-1002@WH01", "u")
    assert event.after == {"sku": "M-1002@WH01", "on_hand": "12.345", "name": "螺栓"}
    assert event.position == "h/m-1"


def test_decimals_keep_every_digit_and_their_scale() -> None:
    body = b'{"sku": "A", "on_hand": 12345678901234567.890, "big": 123456789012345678901}'
    event = _event(_mapping(), _msg(body))
    assert event.after == {"sku": "A", "on_hand": "12345678901234567.890",
                           "big": 123456789012345678901}


def test_fields_from_a_sub_object_and_a_composite_key() -> None:
    m = _mapping(fields="data")
    m = Mapping(m.source, m.kind, m.spec, m.default_table, {STOCK: ["item", "wh"]})
    event = _event(m, _msg({"type": "stock", "data": {"item": "M-1", "wh": "WH01", "q": 1}}))
    assert (event.row_key, event.after) == ("M-1|WH01", {"item": "M-1", "wh": "WH01", "q": 1})


def test_a_delete_marker_makes_a_delete() -> None:
    m = _mapping(op={"field": "event"})
    assert _event(m, _msg({"sku": "A", "event": "deleted"})).op == "d"
    assert _event(m, _msg({"sku": "A", "event": "deleted"})).after is None
    assert _event(m, _msg({"sku": "A", "event": "changed"})).op == "u"
    assert _event(m, _msg({"sku": "A"})).op == "u"
    flag = _mapping(op={"field": "meta.removed", "delete": [True]})
    assert _event(flag, _msg({"sku": "A", "meta": {"removed": True}})).op == "d"
    assert _event(flag, _msg({"sku": "A", "meta": {"removed": 1}})).op == "u"


def test_the_table_by_header_subject_or_field() -> None:
    tables = {"stock": STOCK, "bin": "wms_q.bin"}
    by_header = _mapping(table=None, table_by={"header": "x-entity", "tables": tables})
    assert _event(by_header, _msg({"code": "B1"}, headers={"x-entity": b"bin"})).table == "wms_q.bin"
    by_subject = _mapping("nats", table=None, table_by={"subject": True, "tables": tables})
    assert _event(by_subject, _msg({"sku": "A"}, subject="stock")).table == STOCK
    by_field = _mapping(table=None, table_by={"field": "meta.t", "tables": tables})
    assert _event(by_field, _msg({"sku": "A", "meta": {"t": "stock"}})).table == STOCK
    poison = message_event(by_header, _msg({"sku": "A"}, headers={"x-entity": "truck"}))
    assert isinstance(poison, PoisonRecord)
    assert "no table for header x-entity 'truck' (mapped: stock, bin)" in poison.reason


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json {", "the message body is not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"on_hand": 1}', "the document has no key (sku missing)"),
    (b'{"sku": ""}', "the document has no key"),
    (b'{"sku": "A", "q": NaN}', "cannot"),
    (b'\xff\xfe', "not JSON"),
])
def test_a_poison_message_is_a_failed_record_with_its_reason(body: bytes, reason: str) -> None:
    m = _mapping()
    parsed = message_event(m, _msg(body))
    batch = batch_of(m, [_msg(body)])
    if isinstance(parsed, ChangeEvent):  # parsed, but the inbox refuses the value (NaN)
        from mdm.capture.inbox import _rows
        _, stored, failed = _rows(batch.events, batch.poison)
        assert stored == [] and reason in failed[0].reason
        return
    assert reason in parsed.reason and parsed.source == "wms_q"
    assert body.decode("utf-8", "backslashreplace") in orjson.loads(parsed.raw)["body"]


def test_a_redelivered_poison_message_is_one_failed_record() -> None:
    m = _mapping()
    one, two = (message_event(m, _msg(b"garbage")) for _ in range(2))
    assert isinstance(one, PoisonRecord) and isinstance(two, PoisonRecord)
    assert one.digest == two.digest  # the inbox keys a failed record by its content


def test_message_ids_from_property_header_field_sequence_or_a_hash() -> None:
    body = {"sku": "A", "evt": {"id": "E-9"}}
    assert _event(_mapping(), _msg(body)).position == "h/m-1"
    assert _event(_mapping(id={"from": "header", "name": "x-id"}),
                  _msg(body, headers={"x-id": "H-3"})).position == "h/H-3"
    assert _event(_mapping(id={"from": "field", "name": "evt.id"}), _msg(body)).position == "h/E-9"
    assert _event(_mapping("nats", id={"from": "sequence"}),
                  _msg(body, sequence=41)).position == "h/41"
    assert _event(_mapping("nats"), _msg(body, message_id=None, sequence=7)).position == "h/7"
    hashed = _event(_mapping(), _msg(body, message_id=None)).position
    assert hashed.startswith("h/sha256:")
    assert hashed == _event(_mapping(), _msg(body, message_id=None)).position
    strict = message_event(_mapping(id={"from": "message_id"}), _msg(body, message_id=None))
    assert isinstance(strict, PoisonRecord) and "no message id" in strict.reason


def test_an_order_field_makes_the_position_sort_per_record() -> None:
    m = _mapping(order="version")
    p9 = _event(m, _msg({"sku": "A", "version": 9}, message_id="z")).position
    p10 = _event(m, _msg({"sku": "A", "version": "10"}, message_id="a")).position
    assert p9 == "o/00000000000000000009/z" and p9 < p10
    stamped = _mapping(order="at")
    t1 = _event(stamped, _msg({"sku": "A", "at": "2026-12-03T10:00:00Z"})).position
    t2 = _event(stamped, _msg({"sku": "A", "at": "2026-12-03T10:00:01Z"})).position
    assert t1 < t2 and not t1.startswith("h/")
    for bad in ({"sku": "A"}, {"sku": "A", "version": -1}, {"sku": "A", "version": 1.5}):
        poison = message_event(m, _msg(bad))
        assert isinstance(poison, PoisonRecord) and "order field" in poison.reason


def _feed(project: Path, text: str, name: str = "wms_q") -> None:
    (project / f"cdc/{name}.yaml").write_text(text, encoding="utf-8")


def _entity(project: Path, source: str = "wms_q", table: str = STOCK, name: str = "q_stock") -> None:
    (project / f"golden_records/{name}.yaml").write_text(
        f"entity: {name}\nsource: {source}\ntable: {table}\nprimary_key: sku\nbusiness_key: sku\n"
        "attributes:\n  sku: {type: string, required: true}\n  on_hand: {type: decimal}\n",
        encoding="utf-8")


def test_the_table_and_key_default_to_the_one_entity_of_the_feed(project: Path) -> None:
    _feed(project, "name: wms_q\nkind: amqp\nurl: ${AMQP}\nqueue: {name: wms.stock}\n")
    _entity(project)
    loaded = load_project(project)
    feed = loaded.feeds["wms_q"]
    assert isinstance(feed, QueueFeed)
    m = mapping_of(loaded, feed)
    assert (m.default_table, m.keys[STOCK]) == (STOCK, ["sku"])
    _entity(project, table="wms_q.other", name="q_other")
    with pytest.raises(ConfigError, match=r"cdc/wms_q.yaml: message.table: expected the table "
                       r"of each message .* and 2 do \(wms_q.other, wms_q.stock_level\)"):
        load_project(project)  # at `mdm check`, not when the feed starts
