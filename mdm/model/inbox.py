"""The inbox: change events as processing reads them, and the names sources and targets share."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

INBOX_CHANNEL = "mdm_inbox"  # NOTIFY channel: new inbox rows (capture, a target's answer)
CONTENT_POSITION_PREFIX = "h/"  # a position that is a content hash: no stream order
# A target's answer carrying values of attributes it owns: an inbox event of source
# 'target:<name>' (a captured source may bear the target's name), op 'w'; the delivery id as
# position makes a recorded-twice ack one event.
WRITE_BACK_SOURCE = "target:"


@dataclass(frozen=True)
class InboxRow:
    """One pending change event, as processing claims it."""

    id: int
    source: str
    table: str
    row_key: str
    op: str
    position: str
    tx_id: int | None
    lsn: int | None
    commit_ts: datetime | None
    after: dict[str, Any] | None  # (`before` is not read: a delete's row is in the mirror)
