"""Cross-file checks of feeds (cdc/*.yaml with a `kind:`) against the entities that take them
as source: a queue feed's messages must each get a table (mdm/capture/queue_message.py reads
them), and a `children:` entry must be a child table of one of those entities.

Problems are (file, `key: what was expected`) pairs, collected for the loader's one report.
"""
from __future__ import annotations

from collections.abc import Mapping

from mdm.config.feed_children import children_problems
from mdm.config.feed_queue import QueueFeed
from mdm.config.feeds import FeedSpec
from mdm.config.models import EntitySpec


def check_feeds(feeds: Mapping[str, FeedSpec], entities: Mapping[str, EntitySpec],
                files: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every problem of every feed; `files`: feed name → its file."""
    problems: list[tuple[str, str]] = []
    for name, feed in feeds.items():
        fed = [e for e in entities.values() if e.source == name]
        where = files.get(name, f"cdc/{name}.yaml")
        found = children_problems(feed, fed)
        if isinstance(feed, QueueFeed):
            found += queue_table_problems(feed, fed)
        problems += [(where, p) for p in found]
    return problems


def queue_table_problems(feed: QueueFeed, fed: list[EntitySpec]) -> list[str]:
    """What keeps a message of `feed` from getting a table: no `message.table` nor
    `table_by` while not exactly one entity takes the feed as source, or a table named there
    that none of those entities maps (its messages would all be kept failed)."""
    spec = feed.message
    tables = sorted({e.table for e in fed})
    listed = ", ".join(tables) or "none"
    if spec.table is None and spec.table_by is None:
        if len(tables) == 1:
            return []
        return [f"message.table: expected the table of each message (schema.table, or "
                f"message.table_by: to pick it per message); it can only be left out when one "
                f"entity takes this feed as source, and {len(tables)} do ({listed})"]
    if not fed:
        return []  # no entity reads this feed: it is not run
    named = ([("message.table", spec.table)] if spec.table is not None else
             [(f"message.table_by.tables.{value}", table)
              for value, table in (spec.table_by.tables.items() if spec.table_by else ())])
    return [f"{key}: '{table}' is not the table of an entity whose source is {feed.name} "
            f"(expected one of: {listed})" for key, table in named if table not in tables]
