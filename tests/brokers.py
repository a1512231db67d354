"""The message brokers the amqp and nats targets are tested against: RabbitMQ and NATS
JetStream on loopback, as on this machine. Started if they are installed but down; otherwise
the tests fail with what to do (they are never skipped)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NATS_URL = "nats://127.0.0.1:4222"
SERVICES = {"RabbitMQ": (5672, "rabbitmq-server"), "NATS": (4222, "nats-server")}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def require_brokers() -> None:
    for name, (port, service) in SERVICES.items():
        if _listening(port):
            continue
        if shutil.which("service"):
            subprocess.run(["service", service, "start"], capture_output=True, timeout=120)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _listening(port):
                time.sleep(1)
        if not _listening(port):
            pytest.fail(f"{name} is not listening on 127.0.0.1:{port} and could not be started "
                        f"('service {service} start'). Install and start it (Debian: apt-get "
                        f"install {service}); the amqp/nats target tests need the real broker.")
