"""The journeys `mdm demo` runs for flows 3, 4 and 7 (mdm/demo/warehouse_journeys.py), on the
real stack with the machine's RabbitMQ (the demo's project plus flow 7's erp_mq target, the
ERP's stock consumer): each reaches every step within its timeout, names the documents it
made, leaves the systems as the flow says (the list short by 20, stock − exactly, the order
已发货 with its receivable, the ERP's erp_stock at the WMS's level) and runs again the same
(the demo reuses its data across starts); the broker probe finds the machine's RabbitMQ."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from mdm.demo.flow_journeys import Chain, chain_line
from mdm.demo.stack import DemoStack
from mdm.demo.stock import DEFAULT_MQ_URL, broker_answers
from mdm.demo.warehouse_journeys import production_picking, sales_outbound, stock_level
from tests.brokers import AMQP_URL
from tests.flow7_stack import flow7_stack
from tests.helpers import rows

RUN = uuid.uuid4().hex[:8]
EXCHANGE, QUEUE = f"erp.stock.journeys.{RUN}", f"erp.stock.levels.journeys.{RUN}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with flow7_stack(tmp_path_factory, EXCHANGE, QUEUE) as s:
        yield s


def _picking(stack: DemoStack) -> Chain:
    return production_picking(stack.erp_url, stack.erp_api_url, stack.wms_url,
                              stack.pg.url("wms"), stack.hub_url)


def test_the_picking_journey_shows_the_task_the_shortage_and_the_stock_issue(stack: DemoStack):
    chain = _picking(stack)
    assert chain.complete, chain_line(chain)
    numbers = chain.numbers
    assert re.fullmatch(r"LL\d{8}", numbers["picking_list"])
    assert re.fullmatch(r"PK\d{8}", numbers["pick_task"])
    assert re.fullmatch(r"CK\d{8}", numbers["stock_issue"]) and numbers["task"].isdigit()
    line = chain_line(chain)
    for number in (numbers["picking_list"], numbers["pick_task"], numbers["stock_issue"],
                   f"task #{numbers['task']}"):
        assert number in line, (number, line)
    [task] = rows(stack.hub_url, "SELECT type, entity, business_key, summary FROM task WHERE "
                  "id = %s", (int(numbers["task"]),))
    assert (task["type"], task["business_key"]) == ("flow_task", numbers["pick_task"])
    assert numbers["picking_list"] in task["summary"]
    lines = rows(stack.erp_url, "SELECT l.required_qty, l.issued_qty, l.short_qty, p.status FROM "
                 "picking_list_line l JOIN picking_list p ON p.id = l.picking_list_id WHERE "
                 "p.pick_list_no = %s ORDER BY l.line_no", (numbers["picking_list"],))
    assert [(r["required_qty"], r["issued_qty"], r["short_qty"]) for r in lines] == [
        (Decimal("20"), Decimal("20"), Decimal("0")), (Decimal("50"), Decimal("30"),
                                                       Decimal("20"))]
    assert {r["status"] for r in lines} == {"short"}
    issued = rows(stack.erp_url, "SELECT l.batch_no, l.quantity FROM stock_issue_line l JOIN "
                  "stock_issue s ON s.id = l.stock_issue_id WHERE s.doc_no = %s ORDER BY "
                  "l.line_no", (numbers["stock_issue"],))
    # FIFO: the older batch of the first component in full (15), then 5 of the newer
    assert [r["quantity"] for r in issued] == [Decimal("15"), Decimal("5"), Decimal("12"),
                                               Decimal("18")]
    assert "45→25" in chain.steps[2].what and "30→0" in chain.steps[2].what, chain.steps[2]


def test_the_picking_journey_runs_again_the_same(stack: DemoStack):
    first, again = _picking(stack), _picking(stack)
    assert first.complete and again.complete, (chain_line(first), chain_line(again))
    assert again.numbers["picking_list"] != first.numbers["picking_list"]

    def plain(chain: Chain) -> list[str]:  # the steps without their numbers
        return [re.sub(r"(LL|PK|CK)\d{8}|#\d+|B\d{8}-\d+", "…", s.what) for s in chain.steps]

    assert plain(again) == plain(first)


def test_the_sales_journey_ships_the_order_and_posts_the_receivable(stack: DemoStack):
    chain = sales_outbound(stack.erp_url, stack.erp_api_url, stack.wms_url, stack.pg.url("wms"))
    assert chain.complete, chain_line(chain)
    numbers = chain.numbers
    assert re.fullmatch(r"SO\d{8}", numbers["sales_order"])
    assert re.fullmatch(r"OB\d{8}", numbers["outbound"])
    assert re.fullmatch(r"FH\d{8}", numbers["shipment"])
    assert re.fullmatch(r"AR\d{8}", numbers["receivable"])
    assert "priority 1" in chain.steps[0].what and numbers["tracking"] in chain_line(chain)
    [order] = rows(stack.erp_url, "SELECT status, tracking_no FROM sales_order WHERE so_no = %s",
                   (numbers["sales_order"],))
    assert (order["status"], order["tracking_no"]) == ("shipped", numbers["tracking"])
    [ar] = rows(stack.erp_url, "SELECT amount FROM ar_entry WHERE ar_no = %s",
                (numbers["receivable"],))
    assert ar["amount"] == Decimal("1155.48")  # 3 × 368.50 + round(2.5 × 19.99, 2)
    assert "¥1155.48" in chain.steps[2].what
    [wms] = rows(stack.pg.url("wms"), "SELECT erp_status, erp_doc_no FROM wms_outbound_order "
                 "WHERE outbound_no = %s", (numbers["outbound"],))
    assert (wms["erp_status"], wms["erp_doc_no"]) == ("已发货", numbers["shipment"])


def test_the_stock_journey_reaches_the_erp_by_the_queue(stack: DemoStack):
    chain = stock_level(stack.pg.url("wms"), stack.erp_url, stack.hub_url)
    assert chain.complete, chain_line(chain)
    key = chain.numbers["stock_level"]
    material, warehouse = key.split("@")
    [level] = rows(stack.pg.url("wms"), "SELECT on_hand FROM wms_stock WHERE stock_key = %s",
                   (key,))
    [erp] = rows(stack.erp_url, "SELECT on_hand, message_id FROM erp_stock WHERE material_code = "
                 "%s AND warehouse = %s", (material, warehouse))
    assert erp["on_hand"] == level["on_hand"]
    [sent] = rows(stack.hub_url, "SELECT idempotency_key FROM delivery WHERE target = 'erp_mq' "
                  "AND business_key = %s AND status = 'acked' ORDER BY version DESC LIMIT 1",
                  (key,))
    assert erp["message_id"] == sent["idempotency_key"]
    assert f"= {level['on_hand'].normalize():f}" in chain.steps[-1].what


def test_the_probe_finds_the_machines_rabbitmq(stack: DemoStack):
    assert DEFAULT_MQ_URL == AMQP_URL  # the broker the tests use is the demo's default
    assert broker_answers(DEFAULT_MQ_URL)
