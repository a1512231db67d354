"""`kind: amqp | nats`: the hub consumes a queue (RabbitMQ) or a JetStream consumer (NATS)."""
from __future__ import annotations

from typing import Literal

from mdm.config.feed_base import FeedBase


class QueueFeed(FeedBase):
    kind: Literal["amqp", "nats"]
