"""Flow 7, stock levels (WMS → ERP, asynchronous), on the real stack and the machine's
RabbitMQ: the hub captures the demo WMS's wms_stock (its system of record, `source: wms`), each
change of a level becomes a golden version of stock_level, published by the erp_mq target
(mdm/demo/flow7/erp_mq.yaml) on the ERP's exchange; the demo ERP's consumer
(mdm/demo/erp_stock_consumer.py, a process of its own) upserts erp_stock idempotently. Exact
decimals; a burst ends with the newest level; a redelivered message and an older version
change nothing; the hub's deliveries are acked.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aio_pika
import orjson
import psycopg
import pytest

from mdm.demo.stack import DemoStack
from tests.brokers import AMQP_URL
from tests.flow7_stack import flow7_stack
from tests.helpers import eventually, execute, rows

RUN = uuid.uuid4().hex[:8]
EXCHANGE, QUEUE = f"erp.stock.test.{RUN}", f"erp.stock.levels.test.{RUN}"
DEADLINE = 120.0  # WMS capture, processing, the publish, the consumer's commit


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with flow7_stack(tmp_path_factory, EXCHANGE, QUEUE) as s:
        yield s


def _wms(stack: DemoStack, *statements: str) -> None:
    execute(stack.pg.url("wms"), *statements)


def _seeded(stack: DemoStack, n: int) -> str:
    """The material of the `n`th seeded level in 原料仓 WH01 (each test changes its own)."""
    found = rows(stack.pg.url("wms"), "SELECT item_code FROM wms_stock WHERE warehouse = 'WH01' "
                 "ORDER BY item_code OFFSET %s LIMIT 1", (n,))
    return str(found[0]["item_code"])


def _erp_stock(stack: DemoStack, material: str, warehouse: str) -> dict[str, Any] | None:
    found = rows(stack.erp_url, "SELECT * FROM erp_stock WHERE material_code = %s "
                 "AND warehouse = %s", (material, warehouse))
    return found[0] if found else None


def _levels_equal(stack: DemoStack, material: str, warehouse: str, on_hand: str,
                  reserved: str) -> bool:
    row = _erp_stock(stack, material, warehouse)
    return row is not None and (row["on_hand"], row["reserved"]) == (Decimal(on_hand),
                                                                     Decimal(reserved))


def _deliveries(stack: DemoStack, key: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM delivery WHERE target = 'erp_mq' "
                "AND business_key = %s ORDER BY version, id", (key,))


def test_the_seeded_wms_levels_reach_the_erp(stack: DemoStack):
    wms = rows(stack.pg.url("wms"), "SELECT item_code, warehouse, on_hand, reserved FROM wms_stock")
    assert len(wms) >= 12 and {r["warehouse"] for r in wms} == {"WH01", "WH02", "WH03"}

    def erp() -> set[tuple[Any, ...]]:
        return {(r["material_code"], r["warehouse"], r["on_hand"], r["reserved"]) for r in rows(
            stack.erp_url, "SELECT * FROM erp_stock WHERE active")}

    want = {(r["item_code"], r["warehouse"], r["on_hand"], r["reserved"]) for r in wms}
    assert eventually(lambda: erp() == want, DEADLINE), want ^ erp()
    materials = {r["code"] for r in rows(stack.erp_url, "SELECT code FROM material")}
    assert {r["item_code"] for r in wms} <= materials  # the WMS holds the ERP's materials


def test_a_wms_stock_change_reaches_erp_stock_with_exact_decimals(stack: DemoStack):
    item = _seeded(stack, 1)
    _wms(stack, "UPDATE wms_stock SET on_hand = 1234.567, reserved = 0.001 "
                f"WHERE item_code = '{item}' AND warehouse = 'WH01'")
    assert eventually(lambda: _levels_equal(stack, item, "WH01", "1234.567", "0.001"),
                      DEADLINE), _erp_stock(stack, item, "WH01")
    row = _erp_stock(stack, item, "WH01")
    assert row is not None and row["on_hand"] == Decimal("1234.567") and row["active"]
    [record] = rows(stack.hub_url, "SELECT id, version, attributes FROM golden_record "
                    "WHERE entity = 'stock_level' AND business_key = %s", (f"{item}@WH01",))
    assert (row["mdm_golden_id"], row["mdm_version"]) == (record["id"], record["version"])
    assert record["attributes"]["on_hand"] == "1234.567"
    assert eventually(lambda: _deliveries(stack, f"{item}@WH01")[-1]["status"] == "acked",
                      DEADLINE)
    newest = _deliveries(stack, f"{item}@WH01")[-1]
    assert newest["version"] == record["version"]
    assert row["message_id"] == newest["idempotency_key"]
    assert newest["target_id"] == f"{EXCHANGE}/stock.level"


def test_a_burst_of_changes_to_one_level_ends_with_the_newest(stack: DemoStack):
    item = _seeded(stack, 0)
    with psycopg.connect(stack.pg.url("wms"), autocommit=True) as conn:
        for step in range(1, 31):  # thirty commits, one after the other
            conn.execute("UPDATE wms_stock SET on_hand = %s, reserved = %s "
                         "WHERE item_code = %s AND warehouse = 'WH01'",
                         (Decimal("100.000") + Decimal(step) / 1000, Decimal(step) / 100, item))
    assert eventually(lambda: _levels_equal(stack, item, "WH01", "100.030", "0.30"),
                      DEADLINE), _erp_stock(stack, item, "WH01")
    [record] = rows(stack.hub_url, "SELECT version FROM golden_record "
                    "WHERE entity = 'stock_level' AND business_key = %s", (f"{item}@WH01",))
    assert record["version"] > 1
    assert eventually(lambda: all(d["status"] in ("acked", "superseded")
                                  for d in _deliveries(stack, f"{item}@WH01")), DEADLINE)
    row = _erp_stock(stack, item, "WH01")
    assert row is not None and row["mdm_version"] == record["version"]
    receipts = rows(stack.erp_url, "SELECT mdm_version, applied FROM erp_stock_receipt "
                    "WHERE material_code = %s AND warehouse = 'WH01' ORDER BY id", (item,))
    applied = [r["mdm_version"] for r in receipts if r["applied"]]
    assert applied == sorted(applied) and applied[-1] == record["version"]


def _publish(body: dict[str, Any], message_id: str) -> None:
    """A message straight onto the ERP's queue (the default exchange), as a broker's
    redelivery or a late copy would arrive."""

    async def run() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=10)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.default_exchange.publish(
                aio_pika.Message(orjson.dumps(body), message_id=message_id,
                                 content_type="application/json",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=QUEUE)

    asyncio.run(run())


def _receipts(stack: DemoStack, message_id: str) -> list[dict[str, Any]]:
    return rows(stack.erp_url, "SELECT * FROM erp_stock_receipt WHERE message_id = %s "
                "ORDER BY id", (message_id,))


def test_a_redelivered_message_or_an_older_version_changes_nothing(stack: DemoStack):
    item = _seeded(stack, 2)
    _wms(stack, "UPDATE wms_stock SET on_hand = 55.500, reserved = 5.250 "
                f"WHERE item_code = '{item}' AND warehouse = 'WH01'")
    assert eventually(lambda: _levels_equal(stack, item, "WH01", "55.500", "5.250"), DEADLINE)
    assert eventually(lambda: _deliveries(stack, f"{item}@WH01")[-1]["status"] == "acked",
                      DEADLINE)
    sent = _deliveries(stack, f"{item}@WH01")[-1]
    before = _erp_stock(stack, item, "WH01")
    assert before is not None and before["message_id"] == sent["idempotency_key"]
    envelope = {"entity": "stock_level", "key": f"{item}@WH01", "golden_id": sent["golden_id"],
                "version": sent["version"], "operation": sent["operation"], "status": "active",
                "idempotency_key": sent["idempotency_key"], "data": sent["payload"]}

    _publish(envelope, sent["idempotency_key"])  # the same message again
    assert eventually(lambda: len(_receipts(stack, sent["idempotency_key"])) == 2, DEADLINE)
    assert [r["applied"] for r in _receipts(stack, sent["idempotency_key"])] == [True, False]
    assert _erp_stock(stack, item, "WH01") == before

    older_id = f"mdm-g{sent['golden_id']}-v{sent['version'] - 1}-erp_mq-late"
    _publish({**envelope, "version": sent["version"] - 1, "idempotency_key": older_id,
              "data": {**sent["payload"], "on_hand": "999.999"}}, older_id)  # a late, older one
    assert eventually(lambda: len(_receipts(stack, older_id)) == 1, DEADLINE)
    assert _receipts(stack, older_id)[0]["applied"] is False
    assert _erp_stock(stack, item, "WH01") == before


def test_a_level_the_wms_deletes_is_inactive_at_the_erp(stack: DemoStack):
    item = "M-1099"  # not a seeded level: the WMS adds it, then gives it up
    _wms(stack, "INSERT INTO wms_stock (item_code, warehouse, on_hand, reserved) "
                f"VALUES ('{item}', 'WH03', 8.000, 0)")
    assert eventually(lambda: _levels_equal(stack, item, "WH03", "8.000", "0"), DEADLINE)
    _wms(stack, f"DELETE FROM wms_stock WHERE item_code = '{item}' AND warehouse = 'WH03'")

    def inactive() -> bool:
        row = _erp_stock(stack, item, "WH03")
        return row is not None and not row["active"]

    assert eventually(inactive, DEADLINE), _erp_stock(stack, item, "WH03")
    row = _erp_stock(stack, item, "WH03")
    assert row is not None and row["on_hand"] == 0 and row["reserved"] == 0


def test_levels_wait_in_the_queue_while_the_erp_consumer_is_down(stack: DemoStack):
    item = _seeded(stack, 3)
    consumer = stack.processes["erp_stock"]
    consumer.kill()  # kill -9: whatever it had taken but not acknowledged is redelivered
    consumer.wait()
    _wms(stack, "UPDATE wms_stock SET on_hand = 77.777, reserved = 7.007 "
                f"WHERE item_code = '{item}' AND warehouse = 'WH01'")
    # the broker confirmed the message (the hub's delivery is acked) with nobody consuming
    assert eventually(lambda: any(d["status"] == "acked" and d["payload"]["on_hand"] == "77.777"
                                  for d in _deliveries(stack, f"{item}@WH01")), DEADLINE)
    assert not _levels_equal(stack, item, "WH01", "77.777", "7.007")
    stack.start_stock_consumer(exchange=EXCHANGE, queue=QUEUE)
    assert eventually(lambda: _levels_equal(stack, item, "WH01", "77.777", "7.007"), DEADLINE)
