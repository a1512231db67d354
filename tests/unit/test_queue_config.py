"""cdc/*.yaml of kind amqp | nats: every bad value is a ConfigError naming the file, the key
and what was expected; good files load with their defaults."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.feed_queue import QueueFeed
from mdm.config.loader import load_project
from mdm.errors import ConfigError


def _load(project: Path, text: str) -> QueueFeed:
    (project / "cdc/wms_q.yaml").write_text(text, encoding="utf-8")
    feed = load_project(project).feeds["wms_q"]
    assert isinstance(feed, QueueFeed)
    return feed


def test_an_amqp_feed_loads_with_its_defaults(project: Path) -> None:
    feed = _load(project, "name: wms_q\nkind: amqp\nurl: ${WMS_AMQP_URL}\n"
                 "queue: {name: wms.stock}\nmessage: {table: stock_level, order: version}\n")
    assert feed.queue is not None and (feed.queue.declare, feed.queue.prefetch) == (True, 1000)
    assert feed.message.table == "public.stock_level"  # like an entity's table:
    assert (feed.message.id.from_, feed.message.op.field, feed.batch_size) == ("auto", None, 500)


def test_a_nats_feed_loads_with_its_consumer(project: Path) -> None:
    feed = _load(project, "name: wms_q\nkind: nats\nurl: nats://127.0.0.1:4222\n"
                 "jetstream: {stream: WMS, subject: wms.stock.>, ack_wait_s: 5, max_deliver: 10}\n"
                 "message:\n  table_by: {subject: true, tables: {wms.stock.level: wms.stock}}\n"
                 "  id: {from: sequence}\n")
    assert feed.jetstream is not None and feed.consumer_name == "mdm_wms_q"
    assert feed.message.table_by is not None
    assert feed.message.table_by.tables == {"wms.stock.level": "wms.stock"}


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: amqp\nurl: x\n", "kind: amqp needs queue: {name: wms.stock}"),
    ("kind: nats\nurl: x\n", "kind: nats needs jetstream: {stream"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\njetstream: {stream: S}\n", "jetstream: is for kind: nats"),
    ("kind: amqp\nqueue: {name: q}\n", "url: required key is missing"),
    ("kind: amqp\nurl: x\nqueue: {name: q, prefetch: 0}\n", "queue.prefetch: Input should be greater than or equal to 1"),
    ("kind: amqp\nurl: x\nqueue: {name: q, durable: true}\n", "queue.durable: unknown key"),
    ("kind: nats\nurl: x\njetstream: {stream: S, max_deliver: 0}\n", "jetstream.max_deliver: expected -1 (no limit) or at least 1"),
    ("kind: nats\nurl: x\njetstream: {stream: S, ack_wait_s: 0}\n", "jetstream.ack_wait_s: Input should be greater than 0"),
    ("kind: nats\nurl: x\njetstream: {stream: S, durable: 'a b'}\n", "jetstream.durable: String should match pattern"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {table: t, table_by: {header: h, tables: {a: b}}}\n",
     "message: expected table: or table_by:, not both"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {table_by: {tables: {a: b}}}\n",
     "message.table_by: expected exactly one of header, subject: true or field (got none)"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {table_by: {header: h, tables: {}}}\n",
     "message.table_by.tables: Dictionary should have at least 1 item"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {id: {from: field}}\n",
     "message.id.from: field needs name:"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {id: {from: sequence}}\n",
     "message.id.from: sequence is the NATS stream sequence"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {id: {from: uuid}}\n", "message.id.from: Input should be"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nmessage: {key: []}\n", "message.key: expected a field name"),
    ("kind: amqp\nurl: x\nqueue: {name: q}\nbatch_size: 0\n", "batch_size: Input should be greater"),
])
def test_a_bad_value_names_the_file_the_key_and_what_was_expected(
        project: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(project, "name: wms_q\n" + text)
    message = str(caught.value)
    assert "cdc/wms_q.yaml" in message and expected in message, message
