"""`kind: webhook`: a system calls the hub back (POST /api/v1/webhooks/{source})."""
from __future__ import annotations

from typing import Literal

from mdm.config.feed_base import FeedBase


class WebhookFeed(FeedBase):
    kind: Literal["webhook"]
