"""The message brokers the amqp and nats targets are tested against: RabbitMQ and NATS
JetStream on loopback, as on this machine. Started if they are installed but down; otherwise
the tests fail with what to do (they are never skipped)."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from mdm.bench.fault_bench import listening
from mdm.bench.fault_figures import AMQP_URL, NATS_URL

__all__ = ["AMQP_URL", "NATS_URL", "require_brokers"]

SERVICES = {"RabbitMQ": (5672, "rabbitmq-server"), "NATS": (4222, "nats-server")}


def require_brokers() -> None:
    for name, (port, service) in SERVICES.items():
        if listening(port):
            continue
        if shutil.which("service"):
            subprocess.run(["service", service, "start"], capture_output=True, timeout=120)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not listening(port):
                time.sleep(1)
        if not listening(port):
            pytest.fail(f"{name} is not listening on 127.0.0.1:{port} and could not be started "
                        f"('service {service} start'). Install and start it (Debian: apt-get "
                        f"install {service}); the amqp/nats target tests need the real broker.")
