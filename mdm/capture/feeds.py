"""Feed kinds → what the hub runs to read them (cdc/*.yaml with a `kind:`, mdm/config/feeds.py).

A feed appends to the same inbox as Debezium, with the same guarantees: a batch is durable
(one inbox transaction: mdm/capture/inbox.py append_batch) before the feed acknowledges it to
its system (an HTTP 2xx, a queue ack, a cursor moved on); the inbox's key (source, position,
table, row key) absorbs what the system sends again; a document that cannot be read is kept
`failed` with its reason (mdm/capture/documents.py builds both).

`run(project, spec, hub_url, stop)` reads the feed until `stop` is set, in a thread of the
capture process (`mdm run capture`); None for a kind wholly received by the API. Webhooks are
received by the API (mdm/api/webhooks.py) and their runner fetches the documents back. A new kind
is its schema in FEED_SPECS (mdm/config/feeds.py), its module here and one entry in FEED_KINDS.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mdm.capture import poll
from mdm.capture import queue_amqp, queue_nats
from mdm.capture import webhook_stream
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project
from mdm.errors import ConfigError

FeedRunner = Callable[[Project, FeedSpec, str, threading.Event], None]


@dataclass(frozen=True)
class FeedKind:
    run: FeedRunner | None  # None: the API alone receives it


FEED_KINDS: Mapping[str, FeedKind] = {
    # the API receives HTTP callbacks; this fetches back (and reads 钉钉 Stream mode)
    "webhook": FeedKind(run=webhook_stream.run),
    "poll": FeedKind(run=poll.run),
    "amqp": FeedKind(run=queue_amqp.run),
    "nats": FeedKind(run=queue_nats.run),
}


def feed_kind(spec: FeedSpec, kinds: Mapping[str, FeedKind] | None = None) -> FeedKind:
    """How to read `spec`; a kind without a registration is a ConfigError naming the file."""
    kinds = FEED_KINDS if kinds is None else kinds
    try:
        return kinds[spec.kind]
    except KeyError:
        raise ConfigError(f"cdc/{spec.name}.yaml", [
            f"kind: nothing reads feeds of kind {spec.kind!r} yet (registered: "
            f"{', '.join(sorted(kinds)) or 'none'}); add it to FEED_KINDS in "
            f"mdm/capture/feeds.py"]) from None


def running_feeds(project: Project) -> list[str]:
    """The feeds the capture process reads: those some entity takes as its system of record
    and whose kind has a runner."""
    return [name for name, spec in project.feeds.items()
            if project.entities_of_record(name) and feed_kind(spec).run is not None]
