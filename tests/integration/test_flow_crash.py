"""Exactly once across a crash: kill -9 of the hub after the ERP committed the purchase order
a hop asked for but before the hub recorded the answer. On restart the hub sends the command
again with its own idempotency key; the ERP finds the order it made under that key and
answers it: one order, its number on the OA request. The ERP holds its answer (a fault armed
after its commit) until the kill, so the kill lands between the two commits however fast or
slow the machine is. Real PostgreSQL, Debezium on the three databases, the demo's APIs."""
from __future__ import annotations

import httpx

from mdm.demo.stack import DemoStack
from tests.helpers import eventually, rows
from tests.integration.test_flow_purchase_approval import (
    FLOW_DEADLINE,
    _act,
    _commands,
    _orders,
    _request,
    _wait_po_number_on_oa,
)

HELD_MS = 600_000  # the ERP holds its answer this long after its commit (the kill comes first)


def test_kill_9_between_the_erps_commit_and_the_hubs_record_makes_one_po(stack: DemoStack):
    number = _request(stack)
    armed = httpx.post(f"{stack.erp_api_url}/_faults", json={
        "fail_next": 1, "status": 503, "delay_ms": HELD_MS, "after_write": True,
        "keys": [number]}, timeout=30)
    assert armed.status_code == 200, armed.text
    _act(stack, number, "approve", approver="王经理")
    assert eventually(lambda: _orders(stack, number), FLOW_DEADLINE)  # the ERP committed
    stack.kill_hub()
    [command] = _commands(stack, number)
    assert command["status"] != "acked"  # the hub never recorded the ERP's answer
    httpx.post(f"{stack.erp_api_url}/_faults", json={"fail_next": 0}, timeout=30)
    stack.start_hub()
    po_no = _wait_po_number_on_oa(stack, number)
    assert [o["po_no"] for o in _orders(stack, number)] == [po_no]
    [command] = _commands(stack, number)
    assert (command["status"], command["target_id"]) == ("acked", po_no)
    replays = rows(stack.hub_url, "SELECT count(*) AS n FROM delivery WHERE hop IS NOT NULL "
                   "AND operation = 'create' AND business_key = %s", (number,))
    assert replays == [{"n": 1}]
