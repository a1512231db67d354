"""Change events from documents a feed received (a webhook's callback, an API page, a queue
message): the same ChangeEvent the Debezium paths make, so the inbox and everything after it
cannot tell them apart.

`position` must identify the change within the source (the inbox absorbs an event whose
(source, position, table, row key) it holds): the platform's event id, the cursor (modified
time + id), the message id. A position that sorts in the record's change order lets the golden
stage refuse a stale event; one that does not (a callback's id) must start with
CONTENT_POSITION_PREFIX ("h/"): such events apply in inbox order.

A document whose entity has child lists (`lines: [...]` inside the JSON) is split as a CDC
source delivers it (`document_with_children`, mdm/config/feed_children.py): its own row, one
row per item in the child table keyed `<parent key>|<item key>`, all at the document's
position and in one transaction (`tx_id`, with its END: document_rows.py), so processing
makes one version of the document with its lists. Items the list no longer holds become
deletes of their rows there, as a CDC source's DELETE of a line would.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mdm.capture.models import OPS, ChangeEvent, PoisonRecord
from mdm.capture.storable import Unstorable, check_text, dumps_lenient, storable_text
from mdm.config.feed_children import ChildSplit, Splits


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



# -- documents with child lists -----------------------------------------------------------------
@dataclass(frozen=True)
class Carried:
    """A child list a document carries whole: the child rows under `parent_key` it holds.
    Rows the hub holds there and the list no longer has are deleted (document_rows.py)."""

    split: ChildSplit
    parent_key: str
    keys: frozenset[str]


@dataclass
class Document:
    """One document as a CDC source would deliver it: its own row and one row per item of its
    child lists, in one source transaction (`tx_id`) so processing makes one version of it."""

    source: str
    position: str
    tx_id: int
    commit_ts: datetime | None
    events: list[ChangeEvent] = field(default_factory=list)
    carried: list[Carried] = field(default_factory=list)

    def child_event(self, split: ChildSplit, row_key: str, row: dict[str, Any] | None) -> None:
        """A row of `split`'s table (None: its delete), at the document's position."""
        op = "u" if row is not None else "d"
        raw = dumps_lenient({"position": self.position, "table": split.table,
                             "row_key": row_key, "op": op, "row": row})
        self.events.append(ChangeEvent(
            source=self.source, table=split.table, op=op, row_key=row_key,
            position=self.position, before=None, after=row, tx_id=self.tx_id, lsn=None,
            commit_ts=self.commit_ts, is_snapshot=False, raw=raw))


class Unsplittable(ValueError):
    """Why a document's child list cannot be read into rows."""


def document_with_children(splits: Splits, source: str, table: str, row_key: Any,
                           row: dict[str, Any] | None, position: str, *, op: str = "u",
                           commit_ts: datetime | None = None,
                           raw: str | None = None) -> Document | ChangeEvent | PoisonRecord:
    """`document_event` for a document whose table has child lists (`splits`): the document
    split into its own row and its items' rows; for a delete, every child list carried empty.
    A table without child lists gives the plain event. Never raises."""
    lists = splits.get(table, ())
    header = dict(row) if isinstance(row, dict) and lists else row
    if isinstance(header, dict):
        for split in lists:
            if "." not in split.field:
                header.pop(split.field, None)  # its items are rows of their own
    event = document_event(source, table, row_key, header, position, op=op,
                           commit_ts=commit_ts, raw=raw)
    if not lists or not isinstance(event, ChangeEvent):
        return event
    doc = Document(source, position, transaction_of(source, table, event.row_key, position),
                   commit_ts)
    doc.events.append(replace(event, tx_id=doc.tx_id))
    try:
        for split in lists:
            _split_list(doc, split, event.row_key, row if op != "d" else None)
    except (Unsplittable, Unstorable) as exc:
        return PoisonRecord(source, storable_text(table)[:200], event.raw or "",
                            f"unreadable document: {storable_text(str(exc))}",
                            row_key=event.row_key)
    return doc


def transaction_of(source: str, table: str, row_key: str, position: str) -> int:
    """The document's transaction id: 60 bits of a hash of what identifies it (the same
    document sent again has the same one)."""
    text = f"{source}\n{table}\n{row_key}\n{position}".encode()
    return int(hashlib.sha256(text).hexdigest()[:15], 16)


def _split_list(doc: Document, split: ChildSplit, parent_key: str,
                parent: dict[str, Any] | None) -> None:
    """The rows of `split`'s items under `parent` (None: the parent is deleted, every list
    is carried empty); a parent without the list field leaves the list as it is."""
    if parent is None:
        doc.carried.append(Carried(split, parent_key, frozenset()))
        return
    found, items = _at(parent, split.field)
    if not found:
        return
    if not isinstance(items, list):
        raise Unsplittable(f"{split.field} is not a list (a child list of {split.table})")
    parent_values = _parent_values(split, parent_key, parent)
    keys: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Unsplittable(f"{split.field}[{i}] is not a JSON object")
        row_key = f"{parent_key}|{_item_key(split, item, i)}"
        if row_key in keys:
            raise Unsplittable(f"{split.field}[{i}]: two items have the key "
                               f"{row_key.removeprefix(parent_key + '|')!r} ({', '.join(split.key)})")
        keys.add(check_text(row_key, "a child row key", max_bytes=1024))
        child = {k: v for k, v in item.items()
                 if not any(n.field == k for n in split.nested)}
        child.update(zip(split.parent_columns, parent_values))
        doc.child_event(split, row_key, child)
        for nested in split.nested:
            _split_list(doc, nested, row_key, item)
    doc.carried.append(Carried(split, parent_key, frozenset(keys)))


def _at(row: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _item_key(split: ChildSplit, item: dict[str, Any], index: int) -> str:
    values = [item.get(k) for k in split.key]
    missing = [k for k, v in zip(split.key, values) if v is None or v == ""]
    if missing:
        raise Unsplittable(f"{split.field}[{index}] has no {', '.join(missing)} (the key of an "
                           f"item of {split.table})")
    return "|".join(_key_text(v, f"{split.field}[{index}]") for v in values)


def _key_text(value: Any, where: str) -> str:
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise Unsplittable(f"{where}: expected a key, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parent_values(split: ChildSplit, parent_key: str, parent: dict[str, Any]) -> list[str]:
    """What the child row's parent column(s) hold: the parent's key (a composite parent key's
    columns each get their value, as the parent's own key has them)."""
    if len(split.parent_columns) == 1:
        return [parent_key]
    values = [parent.get(c) for c in split.parent_key_columns]
    if len(values) == len(split.parent_columns) and all(v not in (None, "") for v in values):
        return [_key_text(v, "the parent key") for v in values]
    parts = parent_key.split("|")
    if len(parts) != len(split.parent_columns):
        raise Unsplittable(f"the parent key {parent_key!r} does not give the "
                           f"{len(split.parent_columns)} columns {', '.join(split.parent_columns)}")
    return parts
