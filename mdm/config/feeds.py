"""Sources that are not a database captured by Debezium: feeds. A cdc/*.yaml file with a
`kind:` is one — `webhook` (a system calls the hub back: 钉钉, 企业微信, 飞书, a signed POST),
`poll` (the hub pages an API's records modified since a durable cursor), `amqp` / `nats` (the
hub consumes a queue or a JetStream consumer). A file without `kind:` is a database captured by
Debezium (mdm/config/sources.py).

A feed is a system of record like a database: an entity names it as its `source:` and its
`table:` is the feed's name for the documents (`oa.purchase_request`), child lists their own
tables. Each kind's schema is its own module (feed_webhook.py, feed_poll.py, feed_queue.py),
registered here in FEED_SPECS; what the hub runs for each kind is registered in
mdm/capture/feeds.py (FEED_KINDS), and tests/unit/test_kind_registry.py fails while a kind
has one registration and not the other.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm.config.feed_poll import PollFeed
from mdm.config.feed_queue import QueueFeed
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.sources import SourceSpec

FeedSpec = WebhookFeed | PollFeed | QueueFeed

FEED_SPECS: Mapping[str, type[FeedSpec]] = {
    "webhook": WebhookFeed,
    "poll": PollFeed,
    "amqp": QueueFeed,
    "nats": QueueFeed,
}


def cdc_model(data: Mapping[str, Any]) -> type[SourceSpec] | type[FeedSpec]:
    """The schema of one cdc/*.yaml file: a feed's by its `kind:`, else a captured database's.
    Raises ValueError naming the expected kinds for an unknown one."""
    kind = data.get("kind")
    if kind is None:
        return SourceSpec
    if isinstance(kind, str) and kind in FEED_SPECS:
        return FEED_SPECS[kind]
    raise ValueError(f"kind: expected one of {', '.join(FEED_SPECS)} (a feed), or no kind: for a "
                     f"database captured by Debezium; got {kind!r}")
