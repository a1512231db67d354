"""A demo stack with flow 7 (WMS stock levels → ERP over RabbitMQ) on an exchange and queue of
this run's own, on the machine's real RabbitMQ; both are deleted after the module."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika
import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.stock import project_with_erp_mq
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.brokers import AMQP_URL, require_brokers
from tests.conftest import SMALL_SEED


@contextmanager
def flow7_stack(tmp: pytest.TempPathFactory, exchange: str, queue: str) -> Iterator[DemoStack]:
    """The demo project with flow 7's target (mdm/demo/flow7/erp_mq.yaml) on `exchange`, the
    ERP's stock consumer on `queue`, the initial snapshot through; stopped afterwards."""
    require_brokers()
    project = project_with_erp_mq(REPO_ROOT, tmp.mktemp("project") / "p", exchange)
    s = DemoStack(tmp.mktemp("stack"), project_dir=project, erp_mq_url=AMQP_URL)
    try:
        s.start_databases(**SMALL_SEED)
        s.start_targets()
        s.start_stock_consumer(exchange=exchange, queue=queue)
        s.start_hub()
        wait_idle(s.erp_url, s.hub_url, timeout=180)
        yield s
    finally:
        s.stop()
        s.pg.remove()
        asyncio.run(_delete(exchange, queue))


async def _delete(exchange: str, queue: str) -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
