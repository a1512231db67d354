"""The outbox's decisions without I/O: retry or dead, backoff with jitter, write-back values,
and the fault figures' arithmetic (duplicates, out of order)."""
from __future__ import annotations

import pytest

from mdm.config.targets import Backoff, TargetMapping
from mdm.demo.receivers import count_received
from mdm.model.deliveries import Delivery, Outcome
from mdm.propagate.outbox import _failure_params, next_delay_s, write_back_values


def _delivery(attempts: int) -> Delivery:
    return Delivery(1, 2, 3, "material", "M-1", "wms", "upsert", {"item_code": "M-1"}, "k", attempts)


def test_a_failure_is_retried_until_max_attempts_then_dead():
    backoff = Backoff(initial_ms=100, max_ms=1000, multiplier=2.0)
    status, *_, delay, _, _ = _failure_params(Outcome(_delivery(3), acked=False, error="503"), 8, backoff)
    assert status == "failed" and 0.4 <= delay <= 0.8  # 4th attempt: ceiling 800 ms, half to full
    status, *_, delay, _, _ = _failure_params(Outcome(_delivery(7), acked=False, error="503"), 8, backoff)
    assert status == "dead" and delay == 0.0  # the 8th failure of 8 allowed
    status, *_ = _failure_params(Outcome(_delivery(0), acked=False, terminal=True, error="422"), 8, backoff)
    assert status == "dead"  # a permanent refusal is dead at once


def test_backoff_is_exponential_jittered_and_capped():
    backoff = Backoff(initial_ms=200, max_ms=5000, multiplier=2.0)
    for attempts, ceiling in ((1, 0.2), (2, 0.4), (5, 3.2), (9, 5.0), (30, 5.0)):
        delays = [next_delay_s(backoff, attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
        assert len(set(delays)) > 100  # jitter: retries of many records do not line up


def test_write_back_takes_dotted_paths_and_only_what_is_new():
    mapping = TargetMapping(path="/api/items", active_field="is_active",
                            write_back={"stock_status": "wms_status", "record.bin": "bin"})
    reply = {"id": 9, "stock_status": "在库", "record": {"bin": "A-01"}}
    assert write_back_values(mapping, reply) == {"wms_status": "在库", "bin": "A-01"}
    assert write_back_values(mapping, reply, {"wms_status": "在库", "bin": "A-01"}) is None
    assert write_back_values(mapping, reply, {"wms_status": "待入库", "bin": "A-01"}) == {"wms_status": "在库"}
    assert write_back_values(mapping, {"id": 9}) is None  # the answer holds none of them
    assert write_back_values(mapping, "not json") is None
    assert write_back_values(TargetMapping(path="/x", active_field="a"), reply) is None


@pytest.mark.parametrize(("received", "duplicates", "out_of_order"), [
    ([("A", 1, "a1"), ("A", 2, "a2"), ("B", 1, "b1")], 0, 0),
    ([("A", 1, "a1"), ("A", 1, "a1"), ("A", 2, "a2")], 1, 0),   # a re-sent message
    ([("A", 2, "a2"), ("A", 1, "a1"), ("B", 1, "b1")], 0, 1),   # v1 after v2
    ([("A", 2, "a2"), ("A", 1, "a1"), ("A", 1, "a1")], 1, 2),
])
def test_fault_figures_count_duplicates_and_disorder(received, duplicates, out_of_order):
    counted = count_received(received)
    assert counted[:2] == (duplicates, out_of_order)
    assert counted[2] == {key: {v for k, v, _ in received if k == key} for key, _, _ in received}
