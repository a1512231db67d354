"""Map a change event's row onto its entity: which entity and role the table has, whether the
row passes the table's `where:` filter, and the decoded attribute values the hub mirrors for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdm.config.loader import Project
from mdm.config.models import Attribute, EntitySpec, RetiredWhen
from mdm.config.references import ParentReference
from mdm.config.row_filter import RowFilter
from mdm.errors import MappingError
from mdm.golden.references import ReferenceValueError, parent_key, referenced_key
from mdm.config.row_match import RowValueError, matches
from mdm.model.decode import UNAVAILABLE, DecodeError, decode


@dataclass
class RowImage:
    """The hub's mirror of one captured row, in decoded attribute values.

    `deleted`: the row is gone from the source, or its table's `where:` does not keep it:
    either way it is no (longer a) part of the entity, and its attrs are the last it had as one.
    """

    attrs: dict[str, Any]
    retired: bool
    position: str
    parent_key: str | None = None
    deleted: bool = False
    dirty: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class TableMapping:
    """One captured table's place in an entity: the main table or one of its child tables (at
    any depth: a variant's prices hang under the variants, which hang under the template)."""

    entity: EntitySpec
    child: str | None  # child list name (e.g. bank_accounts, prices), None for the main table
    primary_key: str
    attributes: dict[str, Attribute]
    retired_when: RetiredWhen | None
    parent_column: str | None
    row_filter: RowFilter | None = None
    parent_table: str | None = None  # the table whose row parent_column names (None: main)
    parent_reference: ParentReference | None = None  # parent_column holds 'model,id'
    parent_columns: tuple[str, ...] = ()  # parent_column, or a composite parent key's columns

    def parent_key_of(self, row: Mapping[str, Any]) -> str | None:
        """The parent row's key a row's parent_column(s) name (None: none, or not this list's:
        a 'model,id' naming another model). Raises ReferenceValueError for no key."""
        return parent_key(self.parent_reference, [row.get(c) for c in self.parent_columns])

    @property
    def is_nested(self) -> bool:
        """A child of a child: its parent row is itself a child row."""
        return self.parent_table is not None and self.parent_table != self.entity.table


def table_mappings(project: Project, source: str) -> dict[str, TableMapping]:
    mappings: dict[str, TableMapping] = {}
    for spec in project.entities.values():
        if spec.source != source:
            continue
        sourced = {n: a for n, a in spec.attributes.items() if a.owner is None}
        mappings[spec.table] = TableMapping(
            spec, None, "|".join(spec.key_columns), sourced, spec.retired_when, None,
            spec.row_filter)
        for child in spec.child_tables:
            c = child.spec
            mappings[c.table] = TableMapping(
                spec, child.path[-1], c.primary_key, dict(c.attributes), c.retired_when,
                ", ".join(c.parent_columns), c.row_filter, child.parent_table, c.parent,
                tuple(c.parent_columns))
    return mappings


def object_of(mappings: Mapping[str, TableMapping], table: str, row_key: str,
              parent_key: str | None, rows: Mapping[tuple[str, str], RowImage]) -> str | None:
    """The source key of the golden record a row of `table` belongs to: a main row's own key,
    a child row's parent key, and for a nested child row the key found hop by hop through the
    mirrored parent rows (`rows`: a price names its variant, the variant its template). None
    while a parent row on the way is unknown (the record is assembled once it arrives)."""
    mapping = mappings[table]
    while mapping.parent_table is not None:
        if parent_key is None:
            return None
        parent = mappings[mapping.parent_table]
        if parent.parent_table is None:
            return parent_key
        image = rows.get((mapping.parent_table, parent_key))
        if image is None:
            return None
        mapping, parent_key = parent, image.parent_key
    return row_key


def _is_retired(rule: RetiredWhen | None, row: dict[str, Any]) -> bool:
    if rule is None or rule.column not in row:
        return False
    value = row[rule.column]
    if isinstance(rule.equals, bool) or rule.equals is None:
        return value is rule.equals or value == rule.equals
    return str(value).lower() == str(rule.equals).lower()


def map_row(mapping: TableMapping, table: str, row_key: str, row: dict[str, Any],
            previous: RowImage | None, position: str) -> RowImage:
    """Decode the row's mapped columns into a RowImage.

    A row the table's `where:` does not keep is mirrored as deleted, without decoding it (it
    need not fit the entity's types). An unchanged TOAST column (Debezium's placeholder) keeps
    the mirrored value. Raises MappingError naming the column when a value does not fit its
    declared type, a required attribute is empty, a placeholder arrives for a row the hub has
    never seen, or the filter cannot judge the row.
    """
    if mapping.row_filter is not None and not _passes(mapping, table, row_key, row, previous):
        return _excluded(mapping, row, previous, position)
    if mapping.parent_reference is not None and _parent_key(mapping, table, row_key, row) is None:
        return _excluded(mapping, row, previous, position)  # a row of another model's list
    attrs: dict[str, Any] = {}
    for name, attribute in mapping.attributes.items():
        if attribute.references is not None:
            attrs[name] = _reference(table, row_key, name, attribute, row, previous)
            continue
        column = attribute.column or name
        raw = row.get(column)
        if raw == UNAVAILABLE:
            if previous is None or name not in previous.attrs:
                raise MappingError(table, row_key, f"column {column} is an unchanged TOAST value "
                                   "and the hub holds no earlier value (set REPLICA IDENTITY FULL "
                                   "on the table, or re-snapshot)")
            attrs[name] = previous.attrs[name]
            continue
        if column not in row and previous is not None:
            attrs[name] = previous.attrs.get(name)
            continue
        try:
            attrs[name] = decode(attribute.type, raw)
        except DecodeError as exc:
            raise MappingError(table, row_key, f"column {column} ({attribute.type}): {exc}") from exc
        if attribute.required and attrs[name] in (None, ""):
            raise MappingError(table, row_key, f"column {column} is required but empty")
    parent_key = None
    if mapping.parent_column is not None:
        parent_key = _parent_key(mapping, table, row_key, row)
        if parent_key is None:
            raise MappingError(table, row_key, f"parent column {mapping.parent_column} is empty")
    return RowImage(attrs=attrs, retired=_is_retired(mapping.retired_when, row),
                    position=position, parent_key=parent_key)


def _parent_key(mapping: TableMapping, table: str, row_key: str,
                row: dict[str, Any]) -> str | None:
    assert mapping.parent_column is not None
    try:
        return mapping.parent_key_of(row)
    except ReferenceValueError as exc:
        raise MappingError(table, row_key, f"parent column {mapping.parent_column}: {exc}") from exc


def _reference(table: str, row_key: str, name: str, attribute: Attribute, row: dict[str, Any],
               previous: RowImage | None) -> str | None:
    """A reference attribute's value: the referenced record's source key (see
    golden/references.py); an unchanged TOAST value or a column the row image lacks keeps the
    mirrored value."""
    assert attribute.references is not None
    columns = attribute.source_columns(name)
    raws = [row.get(c) for c in columns]
    kept = previous is not None and name in previous.attrs
    if UNAVAILABLE in raws or (kept and any(c not in row for c in columns)):
        if previous is None or not kept:
            missing = columns[raws.index(UNAVAILABLE)]
            raise MappingError(table, row_key, f"column {missing} is an unchanged TOAST value "
                               "and the hub holds no earlier value (set REPLICA IDENTITY FULL "
                               "on the table, or re-snapshot)")
        value: str | None = previous.attrs[name]
    else:
        try:
            value = referenced_key(attribute.references, raws)
        except ReferenceValueError as exc:
            raise MappingError(table, row_key, f"column {', '.join(columns)} (references "
                               f"{attribute.references.entity}): {exc}") from exc
    if attribute.required and value is None:
        raise MappingError(table, row_key, f"column {', '.join(columns)} is required but empty")
    return value


def _passes(mapping: TableMapping, table: str, row_key: str, row: dict[str, Any],
            previous: RowImage | None) -> bool:
    assert mapping.row_filter is not None
    values = {}
    for column in mapping.row_filter.columns:
        raw = row.get(column, UNAVAILABLE)
        if raw == UNAVAILABLE:  # unchanged TOAST value, or a partial row: the mirrored value
            raw = _mirrored(mapping, column, previous)
            if raw == UNAVAILABLE:
                raise MappingError(table, row_key, f"where: column {column} is not in the row "
                                   "image and the hub holds no earlier value (set REPLICA "
                                   "IDENTITY FULL on the table, or re-snapshot)")
        values[column] = raw
    try:
        return matches(mapping.row_filter, values)
    except RowValueError as exc:
        raise MappingError(table, row_key, f"where: {mapping.row_filter.text}: {exc}") from exc


def _mirrored(mapping: TableMapping, column: str, previous: RowImage | None) -> Any:
    """The mirrored value of a mapped column, or UNAVAILABLE."""
    if previous is None or previous.deleted:
        return UNAVAILABLE
    for name, attribute in mapping.attributes.items():
        if attribute.references is not None:  # holds a source key, not the column's value
            continue
        if (attribute.column or name) == column and name in previous.attrs:
            return previous.attrs[name]
    return UNAVAILABLE


def _excluded(mapping: TableMapping, row: dict[str, Any], previous: RowImage | None,
              position: str) -> RowImage:
    """The mirror of a row the filter does not keep: deleted, with the attributes it last had
    as a row of the entity (so a record that stops matching retires with its last values)."""
    try:
        parent = mapping.parent_key_of(row)
    except ReferenceValueError:
        parent = None
    parent_key = parent if parent is not None else previous.parent_key if previous else None
    return RowImage(attrs=dict(previous.attrs) if previous else {}, retired=False,
                    position=position, parent_key=parent_key, deleted=True)
