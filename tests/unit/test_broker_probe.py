"""The demo's probe for flow 7's broker (mdm.demo.stock.broker_answers): a closed port or a
listener that never speaks AMQP is "not available" within its bound, never a hang; and the
demo, without a broker, prints the one line saying what flow 7 needs."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mdm.cli.demo import _stock_scenario, _stock_howto
from mdm.cli.main import console
from mdm.demo.stack import DemoStack
from mdm.demo.stock import broker_answers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(15)
def test_a_closed_port_is_not_available():
    assert broker_answers(f"amqp://guest:guest@127.0.0.1:{_closed_port()}/") is False


@pytest.mark.timeout(15)
def test_a_listener_that_never_answers_the_handshake_is_not_available():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert broker_answers(f"amqp://guest:guest@127.0.0.1:{port}/", timeout_s=0.5) is False


def test_without_a_broker_the_demo_says_what_flow_7_needs(tmp_path: Path):
    stack = DemoStack(tmp_path)  # not started: erp_mq_url unset, as when no broker answered
    with console.capture() as captured:
        _stock_scenario(stack)
    printed = captured.get()
    assert printed.count("\n") == 1
    assert "flow 7 (WMS stock → ERP over RabbitMQ) needs a broker: mdm demo --mq amqp://" in printed
    assert "--mq" in _stock_howto(stack)
    stack.erp_mq_url = "amqp://guest:guest@127.0.0.1:5672/"
    assert "erp_stock" in _stock_howto(stack)
