"""`kind: poll`: read each resource of an API from its durable cursor, page by page, into the
inbox (FEED_KINDS["poll"], run by the capture process in its own thread).

Per resource (one entity table) a round is: the records modified since the cursor, keyset-paged
(mdm/capture/poll_cursor.py); each page's new records are appended to the inbox and the cursor
moved in ONE transaction (append_batch's own transaction is a savepoint inside it), so a crash
between the two can neither lose a page nor store it twice. Then the deletions: the tombstone
endpoint from its own cursor, and — every `key_diff.every` — all ids listed and the records the
hub's mirror holds that are gone emitted as deletes. A resource read to its end is marked ok.

Failures: ApiUnavailable (5xx, timeouts …) is retried with exponential backoff; ApiRefused (4xx)
and answers the feed cannot read are logged with the API's message, kept as the resource's last
error and retried at the poll interval. The hub database failing ends the run (the capture
process restarts it from the cursors).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from mdm.capture.document_rows import append_documents
from mdm.capture.documents import Document, document_with_children
from mdm.capture.models import ChangeEvent, PoisonRecord
from mdm.capture.poll_cursor import (Cursor, Fetch, Item, Page, PollContractError, format_time,
                                     micros_of, parse_time, position, read_from)
from mdm.capture.poll_http import ApiRefused, ApiUnavailable, PollClient, at_path
from mdm.capture.storable import dumps_lenient, storable_text
from mdm.config.feed_children import Splits, child_splits
from mdm.config.feed_poll import PollFeed, PollParams, PollResource
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project
from mdm.store.repositories import feed_state

logger = logging.getLogger(__name__)
TOMBSTONES, KEY_DIFF = "#tombstones", "#key_diff"


def run(project: Project, spec: FeedSpec, hub_url: str, stop: threading.Event) -> None:
    """Poll every resource of `spec` until `stop` is set."""
    assert isinstance(spec, PollFeed)
    client = PollClient(spec, stop)
    try:
        with psycopg.connect(hub_url, autocommit=True) as conn:
            Poller(spec, client, conn, stop,
                   child_splits(spec, project.entities.values())).run()
    finally:
        client.close()


class Poller:
    def __init__(self, spec: PollFeed, client: PollClient, conn: psycopg.Connection,
                 stop: threading.Event, splits: Splits | None = None) -> None:
        self.spec, self.client, self.conn, self.stop = spec, client, conn, stop
        self.splits: Splits = splits or {}  # tables whose records carry child lists
        self.delay = spec.backoff.initial_s

    def run(self) -> None:
        while not self.stop.is_set():
            waits = [self.poll_resource(table, resource)
                     for table, resource in self.spec.resources.items()
                     if not self.stop.is_set()]
            self.stop.wait(min(waits, default=self.spec.interval_s))

    def poll_resource(self, table: str, resource: PollResource) -> float:
        """One round of `table`; returns how long to wait before the next."""
        try:
            self.read_records(table, resource)
            if resource.deletes.tombstones is not None:
                self.read_tombstones(table, resource)
            if resource.deletes.key_diff is not None:
                self.key_diff(table, resource)
        except ApiUnavailable as exc:
            delay, self.delay = self.delay, min(self.delay * self.spec.backoff.multiplier,
                                                self.spec.backoff.max_s)
            logger.warning("poll: API unavailable source=%s table=%s, retrying in %.1fs: %s",
                           self.spec.name, table, delay, exc)
            feed_state.mark_error(self.conn, self.spec.name, table, str(exc))
            return delay
        except (ApiRefused, PollContractError) as exc:
            logger.error("poll: API refused source=%s table=%s (retrying in %.0fs): %s",
                         self.spec.name, table, self.spec.interval_s, exc)
            feed_state.mark_error(self.conn, self.spec.name, table, str(exc))
            return self.spec.interval_s
        self.delay = self.spec.backoff.initial_s
        feed_state.mark_ok(self.conn, self.spec.name, table)
        return self.spec.interval_s

    # -- records ------------------------------------------------------------------------------
    def read_records(self, table: str, resource: PollResource) -> None:
        cursor = Cursor.of(feed_state.load_cursor(self.conn, self.spec.name, table))

        def store(items: list[Item], moved: Cursor) -> None:
            self._store(table, table, items, moved.as_json(), deleted=False)

        result = read_from(self._fetcher(resource.path, resource, resource.params,
                                         resource.modified_field),
                           store, cursor, page_size=resource.page_size,
                           max_page_size=resource.max_page_size,
                           settled_until=self._settled_until(),
                           uses_token=resource.params.cursor is not None,
                           should_stop=self.stop.is_set)
        if result.stored:
            logger.info("poll: stored source=%s table=%s records=%d pages=%d cursor=%s",
                        self.spec.name, table, result.stored, result.pages,
                        result.cursor.as_json()["time"])

    def _settled_until(self) -> int | None:
        if not self.spec.settle_s:
            return None
        return micros_of(datetime.now(UTC)) - int(self.spec.settle_s * 1_000_000)

    def _fetcher(self, path: str, resource: PollResource, params: PollParams, time_field: str,
                 id_field: str | None = None, records: str | None = None) -> Fetch:
        id_field = id_field or resource.id_field
        records = records or resource.records
        spec = self.spec

        def fetch(cursor: Cursor, size: int, token: str | None) -> Page:
            query: dict[str, Any] = {params.page_size: size}
            if token is not None and params.cursor:
                query[params.cursor] = token
            elif cursor.micros >= 0:
                query[params.modified_since] = format_time(cursor.micros, spec.time_format,
                                                           spec.timezone)
                if params.after_id and cursor.id is not None:
                    query[params.after_id] = cursor.id
            body = self.client.get(path, query)
            try:
                rows = at_path(body, records)
            except KeyError:
                raise ApiRefused(f"GET {path}: no `{records}` in the answer "
                                 f"({storable_text(str(body))[:120]!r})") from None
            if not isinstance(rows, list):
                raise ApiRefused(f"GET {path}: `{records}` is not a list")
            next_token = None
            if resource.next_cursor:
                try:
                    found = at_path(body, resource.next_cursor)
                    next_token = None if found in (None, "") else str(found)
                except KeyError:
                    next_token = None
            return Page([_item(r, id_field, time_field, spec) for r in rows], next_token, size)

        return fetch

    def _store(self, table: str, state_row: str, items: list[Item], state: dict[str, Any],
               deleted: bool) -> None:
        """The items as inbox events and `state_row`'s new cursor (`state`), in one
        transaction."""
        found: list[Document | ChangeEvent | PoisonRecord] = []
        for item in items:
            if item.problem or item.micros is None:
                raw = dumps_lenient(item.record)
                found.append(PoisonRecord(self.spec.name, table, storable_text(raw),
                                          f"unreadable record: {item.problem}"))
                continue
            commit_ts = datetime.fromtimestamp(item.micros / 1e6, UTC)
            found.append(document_with_children(
                self.splits, self.spec.name, table, item.id, None if deleted else item.record,
                position(item.micros, item.id, deleted), op="d" if deleted else "u",
                commit_ts=commit_ts))
        with self.conn.transaction():
            append_documents(self.conn, self.spec.name, found)
            feed_state.save_cursor(self.conn, self.spec.name, state_row, state)

    # -- deletions ----------------------------------------------------------------------------
    def read_tombstones(self, table: str, resource: PollResource) -> None:
        tomb = resource.deletes.tombstones
        assert tomb is not None
        row = table + TOMBSTONES
        cursor = Cursor.of(feed_state.load_cursor(self.conn, self.spec.name, row))

        def store(items: list[Item], moved: Cursor) -> None:
            self._store(table, row, items, moved.as_json(), deleted=True)

        result = read_from(self._fetcher(tomb.path, resource, tomb.params, tomb.deleted_field,
                                         tomb.id_field, tomb.records),
                           store, cursor, page_size=resource.page_size,
                           max_page_size=resource.max_page_size,
                           settled_until=self._settled_until(), uses_token=False,
                           should_stop=self.stop.is_set)
        if result.stored:
            logger.info("poll: deletes source=%s table=%s tombstones=%d", self.spec.name,
                        table, result.stored)

    def key_diff(self, table: str, resource: PollResource) -> None:
        """Every `key_diff.every`: list all ids (keyset pages from the start: a record that
        exists throughout is listed, at its old or its new time) and retire those the mirror
        held before the listing began and the API no longer has."""
        every = resource.deletes.key_diff
        assert every is not None
        row = table + KEY_DIFF
        last = feed_state.load_cursor(self.conn, self.spec.name, row).get("at", 0)
        if time.time() - float(last) < every.every_s:
            return
        held = feed_state.held_keys(self.conn, self.spec.name, table)  # before the listing
        listed: set[str] = set()

        def collect(items: list[Item], _moved: Cursor) -> None:
            listed.update(str(i.id) for i in items if i.id is not None)

        read_from(self._fetcher(resource.path, resource, resource.params,
                                resource.modified_field),
                  collect, Cursor(), page_size=resource.page_size,
                  max_page_size=resource.max_page_size, settled_until=None,
                  uses_token=resource.params.cursor is not None, should_stop=self.stop.is_set)
        if self.stop.is_set():
            return
        gone = sorted(held - listed)
        # after the last change the hub stored of each (its time <= the records' cursor)
        at = Cursor.of(feed_state.load_cursor(self.conn, self.spec.name, table))
        items = [Item(max(at.micros, 0), key, {}) for key in gone]
        self._store(table, row, items, {"at": time.time()}, deleted=True)
        logger.info("poll: key diff source=%s table=%s held=%d listed=%d deleted=%d",
                    self.spec.name, table, len(held), len(listed), len(gone))


def _item(record: Any, id_field: str, time_field: str, spec: PollFeed) -> Item:
    if not isinstance(record, dict):
        return Item(None, None, {"value": record}, "not a JSON object")
    record_id = record.get(id_field)
    if record_id is None or record_id == "":
        return Item(None, None, record, f"no {id_field}")
    try:
        micros = parse_time(record.get(time_field), spec.time_format, spec.timezone)
    except (ValueError, TypeError, OverflowError) as exc:
        return Item(None, record_id, record, f"{time_field}: {exc}")
    return Item(micros, record_id, record)
