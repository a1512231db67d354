"""Which list fields of a feed's documents become child rows of which table (a feed's
`children:` with the entities' child lists filled in). Pure: mdm/capture/documents.py splits
a document with these; mdm/config/feed_checks.py reports a `children:` entry no entity has.

A CDC source delivers a purchase request's lines as rows of their own table; a webhook, an API
page or a queue message delivers the request as one JSON with `lines: [...]` inside. Each item
becomes a row of the child table, keyed `<parent key>|<item key>`, its parent column(s)
holding the parent's key, so the golden stage assembles the same record from either.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mdm.config.feed_base import FeedBase
from mdm.config.models import ChildSpec, EntitySpec


@dataclass(frozen=True)
class ChildSplit:
    """One child list read from inside its parent item."""

    table: str  # the child table
    field: str  # dotted path of the list in the parent item
    key: tuple[str, ...]  # item fields identifying an item under its parent
    parent_columns: tuple[str, ...]  # the child row's columns holding the parent's key
    parent_key_columns: tuple[str, ...]  # the parent item's key fields (composite parents)
    nested: tuple[ChildSplit, ...] = ()

    def tables(self) -> list[str]:
        """This list's table and those nested in it."""
        return [self.table, *(t for n in self.nested for t in n.tables())]


# document table → the child lists its documents carry
Splits = Mapping[str, tuple[ChildSplit, ...]]


def child_splits(feed: FeedBase, entities: Iterable[EntitySpec]) -> dict[str, tuple[ChildSplit, ...]]:
    """The child lists of the documents of each main table of the entities `feed` is the
    source of (only tables whose entity has child lists)."""
    found: dict[str, tuple[ChildSplit, ...]] = {}
    for entity in entities:
        if entity.source != feed.name or not entity.children:
            continue
        found[entity.table] = _splits(feed, entity.children, tuple(entity.key_columns))
    return found


def _splits(feed: FeedBase, children: Mapping[str, ChildSpec],
            parent_keys: tuple[str, ...]) -> tuple[ChildSplit, ...]:
    made = []
    for name, child in children.items():
        given = feed.children.get(child.table)
        key = (given.key_fields if given is not None else None) or [child.primary_key]
        made.append(ChildSplit(
            table=child.table, field=(given.field if given and given.field else name),
            key=tuple(key), parent_columns=tuple(child.parent_columns),
            parent_key_columns=parent_keys,
            nested=_splits(feed, child.children, (child.primary_key,))))
    return tuple(made)


def children_problems(feed: FeedBase, entities: Iterable[EntitySpec]) -> list[str]:
    """`children.<table>: …` for each entry that is not a child table of an entity the feed is
    the source of."""
    known = sorted(t for splits in child_splits(feed, entities).values()
                   for s in splits for t in s.tables())
    return [f"children.{table}: expected a child table of an entity whose source is "
            f"{feed.name} (known: {', '.join(known) or 'none'})"
            for table in feed.children if table not in known]
