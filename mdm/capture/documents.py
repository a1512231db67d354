"""Change events from documents a feed received (a webhook's callback, an API page, a queue
message): the same ChangeEvent the Debezium paths make, so the inbox and everything after it
cannot tell them apart.

`position` must identify the change within the source (the inbox absorbs an event whose
(source, position, table, row key) it holds): the platform's event id, the cursor (modified
time + id), the message id. A position that sorts in the record's change order lets the golden
stage refuse a stale event; one that does not (a callback's id) must start with
CONTENT_POSITION_PREFIX ("h/"): such events apply in inbox order.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mdm.capture.models import OPS, ChangeEvent, PoisonRecord
from mdm.capture.storable import Unstorable, check_text, dumps_lenient, storable_text


def document_event(source: str, table: str, row_key: Any, row: dict[str, Any] | None,
                   position: str, *, op: str = "u", commit_ts: datetime | None = None,
                   raw: str | None = None) -> ChangeEvent | PoisonRecord:
    """One document (`row`: its fields as the entity's columns; None for a delete) as the
    change event the inbox stores, or — when the key, table or position cannot be stored —
    the failed record keeping it with the reason. Never raises."""
    text = raw if raw is not None else dumps_lenient(
        {"table": table, "row_key": row_key, "op": op, "row": row})
    try:
        if op not in OPS:
            raise ValueError(f"op {op!r} is not one of {sorted(OPS)}")
        if op != "d" and not isinstance(row, dict):
            raise ValueError("the document is not a JSON object")
        if row_key is None or row_key == "":
            raise ValueError("the document has no key")
        return ChangeEvent(
            source=source, table=check_text(table, "the table", max_bytes=256),
            op=op, row_key=check_text(str(row_key), "the row key", max_bytes=1024),
            position=check_text(position, "the position", max_bytes=512),
            before=None, after=row if op != "d" else None, tx_id=None, lsn=None,
            commit_ts=commit_ts, is_snapshot=op == "r", raw=text)
    except (Unstorable, ValueError) as exc:
        return PoisonRecord(source, storable_text(str(table))[:200], storable_text(text),
                            f"unreadable document: {storable_text(str(exc))}",
                            row_key=None if row_key is None else storable_text(str(row_key)))

