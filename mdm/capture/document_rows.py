"""Appending feeds' documents with child lists (mdm/capture/documents.py `Document`): the
deletes of the child rows a document's lists no longer hold, each document's transaction END,
and the inbox append, in one transaction.

Which rows a list held before is read from the hub: the rows the mirror holds alive under the
document, and those still pending in the inbox (a version not processed yet), plus what the
batch itself brought before. The transaction first locks each document, so two versions of
one document appended at once (two webhook calls) each see the other's rows. A row deleted
this way is deleted with the rows nested under it, as ON DELETE CASCADE would.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from mdm.capture.documents import Carried, Document
from mdm.capture.inbox import Appended, append_batch
from mdm.capture.models import Batch, ChangeEvent, PoisonRecord, TransactionEnd
from mdm.config.feed_children import ChildSplit
from mdm.store.repositories import document_rows

Item = Document | ChangeEvent | PoisonRecord
Held = dict[tuple[str, str], set[str]]  # (child table, parent key) → row keys alive


def append_documents(conn: psycopg.Connection, source: str, items: Iterable[Item]) -> Appended:
    """Append the items in one transaction (a savepoint when the caller holds one), their
    documents completed with the deletes of removed child rows and their ENDs."""
    items = list(items)
    with conn.transaction():
        batch = complete(conn, source, items)
        return append_batch(conn, source, batch)


def complete(conn: psycopg.Connection, source: str, items: Sequence[Item]) -> Batch:
    """The batch the items make, in their order."""
    docs = [i for i in items if isinstance(i, Document)]
    if docs:
        document_rows.lock_documents(conn, [f"{source}\n{d.events[0].table}\n{d.events[0].row_key}"
                                            for d in docs])
    held: Held = {}
    _load(conn, source, held, [c for d in docs for c in d.carried])
    batch = Batch()
    for item in items:
        if not isinstance(item, Document):
            batch.add(item)
            continue
        for carried in item.carried:
            _replace_list(conn, item, carried.split, carried.parent_key, carried.keys, held)
        for event in item.events:
            batch.add(event)
        batch.add(TransactionEnd(source, item.tx_id, len(item.events)))
    return batch


def _replace_list(conn: psycopg.Connection, doc: Document, split: ChildSplit, parent_key: str,
                  keys: frozenset[str], held: Held) -> None:
    """Delete the rows under `parent_key` that the list no longer holds, and what they hold."""
    alive = held.setdefault((split.table, parent_key), set())
    gone = sorted(alive - keys)
    for row_key in gone:
        doc.child_event(split, row_key, None)
    alive.clear()
    alive.update(keys)
    for nested in split.nested:
        _load(conn, doc.source, held, [Carried(nested, k, frozenset()) for k in gone])
        for row_key in gone:
            _replace_list(conn, doc, nested, row_key, frozenset(), held)


def _load(conn: psycopg.Connection, source: str, held: Held, carried: Sequence[Carried]) -> None:
    """Read into `held` the rows alive under each carried list's parent not read yet."""
    wanted: dict[ChildSplit, set[str]] = {}
    for c in carried:
        if (c.split.table, c.parent_key) not in held:
            wanted.setdefault(c.split, set()).add(c.parent_key)
    for split, parents in wanted.items():
        found: Held = {(split.table, p): set() for p in parents}
        for parent, row_key in document_rows.live_rows(conn, source, split.table, sorted(parents)):
            found[(split.table, parent)].add(row_key)
        for row_key, row in document_rows.pending_rows(conn, source, split.table,
                                                       [f"{p}|" for p in sorted(parents)]):
            named = _parent_of(split, row)
            if named is not None and named in parents:
                found[(split.table, named)].add(row_key)
        held.update(found)


def _parent_of(split: ChildSplit, row: dict[str, object] | None) -> str | None:
    """The parent key a pending child row names (as documents.py wrote it)."""
    if not isinstance(row, dict) or any(row.get(c) is None for c in split.parent_columns):
        return None
    return "|".join(str(row[c]) for c in split.parent_columns)
