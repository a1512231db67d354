"""`kind: poll`: the hub pages an API's records modified since a durable cursor."""
from __future__ import annotations

from typing import Literal

from mdm.config.feed_base import FeedBase


class PollFeed(FeedBase):
    kind: Literal["poll"]
