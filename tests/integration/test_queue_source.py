"""Queue sources (kind: amqp | nats) on the machine's real RabbitMQ and NATS JetStream: a WMS's
stock-level messages become golden versions (decimals exact, Chinese text intact; the lots
inside a message a child list, a lot gone from the next message deleted); a message
published twice with one id is stored once; a poison message is kept failed with its reason
and the queue goes on; kill -9 of the hub between consume and inbox commit (the consumer holds
the marked batch — MDM_QUEUE_HOLD_* — until the kill, whatever the machine's speed) →
redelivered, stored once, acknowledged. One hub stack for the module, a scratch project where
two stock entities take the two feeds as their source."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import nats
import orjson
import pytest
from nats.js import api

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.brokers import AMQP_URL, NATS_URL, require_brokers
from tests.conftest import running_stack
from tests.helpers import eventually, rows

RUN = uuid.uuid4().hex[:8]
QUEUE, STREAM, SUBJECT = f"mdm.qsrc.{RUN}", f"MDMQSRC{RUN.upper()}", f"mdmqsrc{RUN}"
MARKER = f"HOLD-{RUN}"
DEADLINE = 120.0
ENTITY_FILE = """entity: {entity}
description: Stock levels the WMS publishes on {what}.
source: {source}
table: {source}.stock_level
primary_key: stock_key
business_key: stock_key
attributes:
  stock_key: {{type: string, required: true}}
  item_code: {{type: string, required: true}}
  item_name: {{type: string}}
  warehouse: {{type: string, required: true}}
  on_hand: {{type: decimal, required: true}}
  reserved: {{type: decimal}}
"""
# the lots of a stock level arrive inside its message (`lots: [...]`): child rows of their own
LOTS = """children:
  lots:
    table: wms_mq.stock_lot
    parent_column: stock_key
    primary_key: lot
    attributes:
      lot: {type: string}
      qty: {type: decimal}
    order_by: lot
"""
AMQP_FEED = f"""name: wms_mq
kind: amqp
description: The WMS's stock levels on RabbitMQ (message_id = the event id).
url: ${{QSRC_AMQP_URL}}
queue: {{name: {QUEUE}, prefetch: 500}}
message:
  fields: data
  op: {{field: event, delete: [stock.deleted]}}
batch_size: 200
"""
NATS_FEED = f"""name: wms_js
kind: nats
description: The WMS's stock levels on JetStream (the event id is a body field).
url: ${{QSRC_NATS_URL}}
jetstream: {{stream: {STREAM}, subject: {SUBJECT}.>, ack_wait_s: 3}}
message:
  fields: data
  id: {{from: field, name: event_id}}
  order: seq
"""


def _project(root: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    (root / "cdc/wms_mq.yaml").write_text(AMQP_FEED, encoding="utf-8")
    (root / "cdc/wms_js.yaml").write_text(NATS_FEED, encoding="utf-8")
    for entity, source, what in (("mq_stock", "wms_mq", "RabbitMQ"),
                                 ("js_stock", "wms_js", "NATS JetStream")):
        (root / f"golden_records/{entity}.yaml").write_text(
            ENTITY_FILE.format(entity=entity, source=source, what=what)
            + (LOTS if entity == "mq_stock" else ""), encoding="utf-8")
    load_project(root)  # the scratch project loads like any other
    return root


async def _create_stream() -> None:
    client = await nats.connect(NATS_URL)
    try:  # file storage: what a producer's acks need to survive a restart (see the README)
        await client.jetstream().add_stream(name=STREAM, subjects=[f"{SUBJECT}.>"],
                                            storage=api.StorageType.FILE)
    finally:
        await client.close()


async def _delete_brokers() -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(QUEUE)
    client = await nats.connect(NATS_URL)
    try:
        await client.jetstream().delete_stream(STREAM)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, Path]]:
    require_brokers()
    asyncio.run(_create_stream())
    hold = tmp_path_factory.mktemp("hold")
    project = _project(tmp_path_factory.mktemp("project"))
    env = {"QSRC_AMQP_URL": AMQP_URL, "QSRC_NATS_URL": NATS_URL,
           "MDM_QUEUE_HOLD_MARKER": MARKER, "MDM_QUEUE_HOLD_DIR": str(hold)}
    try:
        with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project,
                           extra_env=env) as s:
            yield s, hold
    finally:
        asyncio.run(_delete_brokers())


def _stock(key: str, **values: Any) -> dict[str, Any]:
    return {"stock_key": key, "item_code": key.split("@")[0], "warehouse": key.split("@")[1],
            **values}


async def _publish_amqp(messages: list[tuple[str | None, bytes]]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(QUEUE, durable=True)
        window = asyncio.Semaphore(256)  # confirms pipelined; one channel keeps the order

        async def one(message_id: str | None, body: bytes) -> None:
            async with window:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, message_id=message_id,
                                     content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=QUEUE)

        await asyncio.gather(*(one(i, b) for i, b in messages))


async def _publish_nats(bodies: list[bytes]) -> None:
    client = await nats.connect(NATS_URL)
    try:
        js = client.jetstream()
        window = asyncio.Semaphore(256)

        async def one(body: bytes) -> None:
            async with window:
                await js.publish(f"{SUBJECT}.stock", body)

        if len(bodies) <= 2:  # keep the order of a few (a duplicate after its original)
            for body in bodies:
                await js.publish(f"{SUBJECT}.stock", body)
        else:
            await asyncio.gather(*(one(b) for b in bodies))
    finally:
        await client.close()


def amqp(*messages: tuple[str | None, Any]) -> None:
    asyncio.run(_publish_amqp([(i, b if isinstance(b, bytes) else orjson.dumps(b))
                               for i, b in messages]))


def jetstream(*bodies: Any) -> None:
    asyncio.run(_publish_nats([b if isinstance(b, bytes) else orjson.dumps(b) for b in bodies]))


def amqp_settled() -> bool:
    """No message of the queue is ready or unacknowledged (every one was acked)."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages_ready",
                          "messages_unacknowledged"], capture_output=True, text=True,
                         timeout=60).stdout
    return any(line.split() == [QUEUE, "0", "0"] for line in out.splitlines())


async def _nats_pending() -> tuple[int, int]:
    client = await nats.connect(NATS_URL)
    try:
        info = await client.jetstream().consumer_info(STREAM, "mdm_wms_js")
        return info.num_pending, info.num_ack_pending
    finally:
        await client.close()


def nats_settled() -> bool:
    return asyncio.run(_nats_pending()) == (0, 0)


def golden_of(stack: DemoStack, entity: str, key: str) -> dict[str, Any] | None:
    found = rows(stack.hub_url, "SELECT attributes, version FROM golden_record WHERE entity = %s "
                 "AND business_key = %s", (entity, key))
    return found[0] if found else None


def inbox_rows(stack: DemoStack, source: str, row_key: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT position, status, error FROM inbox WHERE source = %s "
                "AND row_key = %s ORDER BY id", (source, row_key))


def test_messages_become_golden_versions_with_exact_values(stack):
    s, _ = stack
    document = orjson.dumps({"event": "stock.changed", "data": _stock(
        "M-1002@WH01", item_name="六角螺栓 M8×30（镀锌）", on_hand="ON_HAND", reserved="0.125")})
    # a JSON number no double holds: the hub keeps its digits
    amqp(("mq-1", document.replace(b'"ON_HAND"', b"12345678901234.567")))
    jetstream({"event_id": "js-1", "seq": 1, "data": _stock(
        "M-2001@WH02", item_name="轴承 6204-2RS", on_hand=0.1, reserved=3)})
    assert eventually(lambda: golden_of(s, "mq_stock", "M-1002@WH01"), DEADLINE)
    assert eventually(lambda: golden_of(s, "js_stock", "M-2001@WH02"), DEADLINE)
    mq = golden_of(s, "mq_stock", "M-1002@WH01")["attributes"]
    assert mq["on_hand"] == "12345678901234.567" and mq["reserved"] == "0.125"
    assert mq["item_name"] == "六角螺栓 M8×30（镀锌）" and mq["warehouse"] == "WH01"
    js = golden_of(s, "js_stock", "M-2001@WH02")["attributes"]
    assert (js["on_hand"], js["reserved"], js["item_name"]) == ("0.1", "3", "轴承 6204-2RS")
    amqp(("mq-2", {"event": "stock.changed", "data": _stock("M-1002@WH01", item_name="六角螺栓",
                                                            on_hand="7.000")}))
    assert eventually(lambda: golden_of(s, "mq_stock", "M-1002@WH01")["version"] == 2, DEADLINE)
    assert golden_of(s, "mq_stock", "M-1002@WH01")["attributes"]["on_hand"] == "7.000"
    amqp(("mq-3", {"event": "stock.deleted", "data": _stock("M-1002@WH01")}))
    assert eventually(lambda: golden_of(s, "mq_stock", "M-1002@WH01")["version"] == 3, DEADLINE)
    retired = rows(s.hub_url, "SELECT status FROM golden_record WHERE entity = 'mq_stock' AND "
                   "business_key = 'M-1002@WH01'")
    assert retired == [{"status": "retired"}]  # the delete marker retired the record


def test_a_message_published_twice_with_one_id_is_stored_once(stack):
    s, _ = stack
    body = {"event": "stock.changed", "data": _stock("M-3001@WH01", on_hand="5.5")}
    amqp(("dup-1", body), ("dup-1", body))
    event = {"event_id": "js-dup-1", "seq": 10, "data": _stock("M-3002@WH01", on_hand="6")}
    jetstream(event, event)  # no Nats-Msg-Id: the stream keeps both, the hub stores one
    assert eventually(amqp_settled, DEADLINE) and eventually(nats_settled, DEADLINE)
    assert eventually(lambda: golden_of(s, "mq_stock", "M-3001@WH01"), DEADLINE)
    assert eventually(lambda: golden_of(s, "js_stock", "M-3002@WH01"), DEADLINE)
    assert [r["position"] for r in inbox_rows(s, "wms_mq", "M-3001@WH01")] == ["h/dup-1"]
    assert [r["position"] for r in inbox_rows(s, "wms_js", "M-3002@WH01")] == [
        "o/00000000000000000010/js-dup-1"]
    assert golden_of(s, "mq_stock", "M-3001@WH01")["version"] == 1


def test_a_poison_message_is_kept_failed_and_the_queue_goes_on(stack):
    s, _ = stack
    amqp(("bad-1", b"{not json"), ("bad-2", {"event": "stock.changed", "data": {"on_hand": 1}}),
         ("ok-after-bad", {"event": "stock.changed", "data": _stock("M-4001@WH03", on_hand=1)}))
    jetstream(b"\xff\xfe garbage", {"event_id": "js-ok", "seq": 1,
                                    "data": _stock("M-4002@WH03", on_hand=2)})
    assert eventually(lambda: golden_of(s, "mq_stock", "M-4001@WH03"), DEADLINE)
    assert eventually(lambda: golden_of(s, "js_stock", "M-4002@WH03"), DEADLINE)
    failed = rows(s.hub_url, "SELECT source, error, raw FROM inbox WHERE status = 'failed' "
                  "AND source IN ('wms_mq', 'wms_js') AND error LIKE 'unreadable message:%%'")
    reasons = {(f["source"], f["error"].split(" (")[0]) for f in failed}
    assert ("wms_mq", "unreadable message: the message body is not JSON") in reasons
    assert ("wms_mq", "unreadable message: the document has no key") in reasons
    assert ("wms_js", "unreadable message: the message body is not JSON") in reasons
    assert any("bad-1" in f["raw"] and "{not json" in f["raw"] for f in failed)  # kept whole
    assert eventually(amqp_settled, DEADLINE) and eventually(nats_settled, DEADLINE)


def test_kill_9_between_consume_and_inbox_commit_redelivers_and_stores_once(stack):
    s, hold = stack
    amqp(("held-1", {"event": "stock.changed", "data": _stock(
        "M-5001@WH01", item_name=f"待检 {MARKER}", on_hand="9.990")}))
    jetstream({"event_id": "js-held-1", "seq": 3, "data": _stock(
        "M-5002@WH01", item_name=f"待检 {MARKER}", on_hand="1.001")})
    assert eventually(lambda: (hold / "wms_mq.held").exists()
                      and (hold / "wms_js.held").exists(), DEADLINE)  # received, not committed
    s.kill_hub()
    assert inbox_rows(s, "wms_mq", "M-5001@WH01") == []
    assert inbox_rows(s, "wms_js", "M-5002@WH01") == []
    s.start_hub()
    assert eventually(lambda: golden_of(s, "mq_stock", "M-5001@WH01"), DEADLINE)
    assert eventually(lambda: golden_of(s, "js_stock", "M-5002@WH01"), DEADLINE)
    assert eventually(amqp_settled, DEADLINE) and eventually(nats_settled, DEADLINE)
    assert [r["position"] for r in inbox_rows(s, "wms_mq", "M-5001@WH01")] == ["h/held-1"]
    assert [r["position"] for r in inbox_rows(s, "wms_js", "M-5002@WH01")] == [
        "o/00000000000000000003/js-held-1"]
    assert golden_of(s, "mq_stock", "M-5001@WH01")["attributes"]["on_hand"] == "9.990"


BURST = 3000


def _burst_stored(s: DemoStack, source: str, pattern: str) -> tuple[int, float]:
    """How many of the burst's messages are in the inbox, and the seconds from the first
    one's inbox commit to the last one's."""
    [row] = rows(s.hub_url, "SELECT count(*) AS n, coalesce(extract(epoch FROM max(received_at) "
                 "- min(received_at)), 0) AS span FROM inbox WHERE source = %s AND position "
                 "LIKE %s", (source, pattern))
    return row["n"], float(row["span"])


@pytest.mark.parametrize("kind", ["amqp", "nats"])
def test_a_burst_of_messages_is_stored_once_each(stack, kind):
    s, _ = stack
    started = time.monotonic()
    if kind == "amqp":
        source, pattern, settled = "wms_mq", "h/burst-%", amqp_settled
        amqp(*[(f"burst-{i}", {"event": "stock.changed", "data": _stock(
            f"B-{i:05d}@WH01", on_hand=f"{i}.5")}) for i in range(BURST)])
    else:
        source, pattern, settled = "wms_js", "o/%/js-burst-%", nats_settled
        jetstream(*[{"event_id": f"js-burst-{i}", "seq": 1, "data": _stock(
            f"B-{i:05d}@WH02", on_hand=f"{i}.5")} for i in range(BURST)])
    published = time.monotonic()
    assert eventually(lambda: _burst_stored(s, source, pattern)[0] == BURST, DEADLINE)
    done = time.monotonic()
    assert eventually(settled, DEADLINE)
    span = _burst_stored(s, source, pattern)[1]
    print(f"\n{kind} source: {BURST} messages published in {published - started:.2f} s, all in "
          f"the inbox {done - started:.2f} s after the first publish; first to last inbox "
          f"commit {span:.2f} s ({BURST / max(span, 1e-3):.0f} events/s)")


def test_the_lots_inside_a_message_are_its_child_list_and_a_lot_gone_is_deleted(stack):
    s, _ = stack
    key = "M-3001@WH03"
    lots = [{"lot": "L-A", "qty": "5.5"}, {"lot": "L-B", "qty": "2"}]
    amqp(("lots-1", {"event": "stock.changed", "data": _stock(key, on_hand="7.5", lots=lots)}))
    assert eventually(lambda: golden_of(s, "mq_stock", key), DEADLINE)
    assert golden_of(s, "mq_stock", key)["attributes"]["lots"] == lots
    amqp(("lots-2", {"event": "stock.changed", "data": _stock(key, on_hand="5.5",
                                                              lots=lots[:1])}))
    assert eventually(lambda: golden_of(s, "mq_stock", key)["version"] == 2, DEADLINE)
    assert golden_of(s, "mq_stock", key)["attributes"]["lots"] == lots[:1]
    assert golden_of(s, "mq_stock", key)["attributes"]["on_hand"] == "5.5"
    deleted = rows(s.hub_url, "SELECT table_name, row_key FROM inbox WHERE source = 'wms_mq' "
                   "AND op = 'd' AND table_name = 'wms_mq.stock_lot'")
    assert deleted == [{"table_name": "wms_mq.stock_lot", "row_key": f"{key}|L-B"}]
    assert eventually(amqp_settled, DEADLINE)  # acknowledged after the inbox commit
