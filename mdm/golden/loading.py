"""What one source's change events touch, read from the mirror before they are applied: the
events' own rows, the parent rows through which a nested child row finds its record, and each
touched record's main row with its child rows at every depth. Runs inside the processing
transaction (golden/changes.py applies the events to what this loads)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg

from mdm.config.loader import Project
from mdm.golden import mirror
from mdm.golden.mapper import RowImage, TableMapping
from mdm.golden.mirror import Rows
from mdm.golden.references import ReferenceValueError
from mdm.model.inbox import InboxRow

Records = set[tuple[str, str]]  # (entity, source key of the main row)


def load_touched(conn: psycopg.Connection, project: Project,
                 mappings: Mapping[str, TableMapping], source: str,
                 events: Sequence[InboxRow]) -> tuple[Rows, Records]:
    """The mirrored rows the events need and the records they touch. A child row that moves
    to another parent touches both the parent it leaves and the one it joins."""
    touched = {(e.table, e.row_key) for e in events if e.table in mappings}
    rows = mirror.load_rows(conn, source, touched)
    records: Records = set()
    parents: set[tuple[str, str]] = set()  # (child table, key of its parent row)
    for event in events:
        mapping = mappings.get(event.table)
        if mapping is None:
            continue
        if mapping.parent_table is None:
            records.add((mapping.entity.entity, event.row_key))
            continue
        image = rows.get((event.table, event.row_key))
        for parent in (_new_parent(mapping, event, image), image.parent_key if image else None):
            if parent is not None:
                parents.add((event.table, parent))
    records |= _records_of(conn, source, mappings, parents, rows)
    _load_records(conn, project, source, records, rows, touched)
    return rows, records


def _new_parent(mapping: TableMapping, event: InboxRow, image: RowImage | None) -> str | None:
    """The key of the parent row a child row hangs under after the event."""
    if event.op == "d" or event.after is None:
        # With the default REPLICA IDENTITY a delete's `before` holds only the key; Debezium
        # fills the other NOT NULL columns with type defaults (0, ''), so trust the mirror.
        return image.parent_key if image else None
    try:
        parent = mapping.parent_key_of(event.after)
    except ReferenceValueError:  # the mapper keeps the row failed, saying why
        parent = None
    return parent if parent is not None else (image.parent_key if image else None)


def _records_of(conn: psycopg.Connection, source: str, mappings: Mapping[str, TableMapping],
                parents: set[tuple[str, str]], rows: Rows) -> Records:
    """The records that child rows hanging under `parents` belong to: one level up per round
    (a price's variant, then the variant's template), each round's parent rows read at once.
    A parent row the hub has not mirrored yet leads nowhere: its record is assembled when it
    arrives."""
    found: Records = set()
    while parents:
        missing = {(mappings[t].parent_table or "", k) for t, k in parents
                   if mappings[t].is_nested} - rows.keys()
        rows.update(mirror.load_rows(conn, source, missing))
        above: set[tuple[str, str]] = set()
        for table, key in parents:
            mapping = mappings[table]
            if not mapping.is_nested:
                found.add((mapping.entity.entity, key))
                continue
            parent_table = mapping.parent_table or ""
            image = rows.get((parent_table, key))
            if image is not None and image.parent_key is not None:
                above.add((parent_table, image.parent_key))
        parents = above
    return found


def _load_records(conn: psycopg.Connection, project: Project, source: str, records: Records,
                  rows: Rows, touched: set[tuple[str, str]]) -> None:
    """Each record's main row and child rows at every depth (what the batch already holds
    stays: it is newer). The rows nested under a child row are read for the mirrored child
    rows and for those the events bring (a variant the hub has not mirrored yet may hang
    under a touched record, and its prices arrived in an earlier batch)."""
    main_keys = {(project.entities[e].table, key) for e, key in records}
    rows.update(mirror.load_rows(conn, source, main_keys - rows.keys()))
    for entity in {e for e, _ in records}:
        spec = project.entities[entity]
        owners = {spec.table: sorted(key for e, key in records if e == entity)}
        for child in spec.child_tables:  # parents first: a list's rows own the next list's
            table = child.spec.table
            for key, image in mirror.load_children(
                    conn, source, table, owners.get(child.parent_table, [])).items():
                rows.setdefault(key, image)
            if child.spec.children:
                owners[table] = sorted({r for t, r in rows.keys() | touched if t == table})
