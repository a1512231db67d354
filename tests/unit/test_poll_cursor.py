"""A poll's cursor logic (mdm/capture/poll_cursor.py) against the demo API's own paging
(mdm/demo/poll_api.py, in memory, no HTTP): equal times across page boundaries, records
modified while the hub pages, runs of one time longer than a page, unsettled records, and
positions that sort in each record's change order."""
from __future__ import annotations

from typing import Any

import pytest

from mdm.capture.poll_cursor import (Cursor, Item, Page, PollContractError, format_time,
                                     parse_time, position, read_from)
from mdm.demo.poll_api import PollApi
from mdm.golden.changes import _is_older

T0 = 1_790_000_000_000_000  # µs: 2026-09-21


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _api() -> tuple[PollApi, Clock]:
    clock = Clock()
    return PollApi(resolution_ms=1000, clock=clock), clock


def _fetch(api: PollApi, after_id: bool = False):  # type: ignore[no-untyped-def]
    def fetch(cursor: Cursor, size: int, token: str | None) -> Page:
        since = cursor.micros if cursor.micros >= 0 else None
        rows = api.page("m", since, cursor.id if after_id and since is not None else None, size)
        return Page([Item(parse_time(r["modified_at"], "iso", "UTC"), r["id"], r) for r in rows])
    return fetch


class Sink:
    """What `store` received: (items, cursor) per page."""

    def __init__(self) -> None:
        self.pages: list[tuple[list[Item], Cursor]] = []

    def __call__(self, items: list[Item], cursor: Cursor) -> None:
        self.pages.append((list(items), cursor))

    @property
    def stored(self) -> list[tuple[Any, str]]:
        return [(i.id, i.record["name"]) for items, _ in self.pages for i in items]


def _read(api: PollApi, sink: Sink, cursor: Cursor = Cursor(), after_id: bool = False,
          page_size: int = 5, max_page_size: int = 100, settled_until: int | None = None):  # type: ignore[no-untyped-def]
    return read_from(_fetch(api, after_id), sink, cursor, page_size=page_size,
                     max_page_size=max_page_size, settled_until=settled_until, uses_token=False)


def _groups(api: PollApi, clock: Clock, sizes: list[int]) -> None:
    """Records 1.. in groups sharing one modified time each."""
    next_id = 1
    for size in sizes:
        for _ in range(size):
            api.upsert("m", next_id, {"name": f"v1-{next_id}"})
            next_id += 1
        clock.now += 1_000_000


@pytest.mark.parametrize("after_id", [False, True])
def test_equal_times_across_page_boundaries_are_neither_lost_nor_repeated(after_id: bool) -> None:
    api, clock = _api()
    _groups(api, clock, [7, 3, 9, 1])  # boundaries of 5-record pages fall inside the groups
    sink = Sink()
    result = _read(api, sink, after_id=after_id)
    assert [i for i, _ in sink.stored] == list(range(1, 21))
    assert result.cursor == Cursor(T0 + 3_000_000, 20)
    # every page's cursor is its last record: a crash after any page resumes right after it
    for items, cursor in sink.pages:
        assert (cursor.micros, cursor.id) == (items[-1].micros, items[-1].id)
    again = Sink()  # read again from the end: nothing new, nothing repeated
    assert _read(api, again, cursor=result.cursor, after_id=after_id).stored == 0
    assert again.pages == []


def test_a_run_of_one_time_longer_than_a_page_grows_the_page() -> None:
    api, clock = _api()
    _groups(api, clock, [23, 2])
    sink = Sink()
    result = _read(api, sink, page_size=4, max_page_size=64)
    assert [i for i, _ in sink.stored] == list(range(1, 26))
    assert result.cursor.id == 25


def test_more_records_of_one_time_than_max_page_size_names_the_way_out() -> None:
    api, clock = _api()
    _groups(api, clock, [20])
    with pytest.raises(PollContractError, match="max_page_size.*after_id"):
        _read(api, Sink(), page_size=4, max_page_size=8)


def test_a_record_modified_during_paging_moves_behind_the_cursor_and_is_read_there() -> None:
    api, clock = _api()
    _groups(api, clock, [4, 4, 4])

    def edit(api: PollApi, pages: int) -> None:
        if pages == 1:  # after the first page: one record read already, one not read yet
            clock.now += 5_000_000
            api.upsert("m", 2, {"name": "v2-2"})
            api.upsert("m", 11, {"name": "v2-11"})
            api.delete("m", 9)

    api.between_pages = edit
    sink = Sink()
    result = _read(api, sink, page_size=3)
    ids = [i for i, _ in sink.stored]
    assert sorted(set(ids)) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert ("2", "v1-2") in [(str(i), n) for i, n in sink.stored]  # the state read before
    assert (2, "v2-2") in sink.stored and (11, "v2-11") in sink.stored
    assert (11, "v1-11") not in sink.stored  # it moved before the hub got there
    assert len(ids) == len(set(ids)) + 1  # only record 2 twice: its two states
    # what the hub holds last per record is the API's final state
    last = {i: n for i, n in sink.stored}
    assert last == {i: r["name"] for i, r in api.state("m").items()}
    assert result.cursor.id == 11


def test_stored_records_come_in_cursor_order_and_each_page_moves_the_cursor_forward() -> None:
    api, clock = _api()
    _groups(api, clock, [3, 6, 2, 8])
    sink = Sink()
    _read(api, sink, page_size=4)
    keys = [(i.micros, i.id) for items, _ in sink.pages for i in items]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    cursors = [c.key() for _, c in sink.pages]
    assert cursors == sorted(cursors) and len(cursors) == len(set(cursors))


def test_records_not_settled_wait_for_the_next_poll() -> None:
    api, clock = _api()
    _groups(api, clock, [3, 3])  # at T0 and T0 + 1 s
    sink = Sink()
    first = _read(api, sink, settled_until=T0 + 500_000)
    assert [i for i, _ in sink.stored] == [1, 2, 3] and first.unsettled == 1
    later = Sink()
    _read(api, later, cursor=first.cursor, settled_until=T0 + 5_000_000)
    assert [i for i, _ in later.stored] == [4, 5, 6]


def test_positions_sort_in_a_records_change_order_and_a_delete_comes_last() -> None:
    older, newer = position(T0, 7), position(T0 + 1, 7)
    assert older < newer and _is_older(older, newer) and not _is_older(newer, older)
    assert position(T0 + 1, 7) < position(T0 + 1, 7, deleted=True)
    assert position(10, 7) < position(T0, 7)  # zero-padded: text order is time order
    assert not _is_older(newer, newer)  # a page read twice: the same position, no refusal


def test_times_parse_and_format_as_the_api_writes_them() -> None:
    micros = parse_time("2026-12-03T08:00:00", "iso", "Asia/Shanghai")  # 金蝶: local, no offset
    assert micros == parse_time("2026-12-03T00:00:00+00:00", "iso", "UTC")
    assert format_time(micros, "iso", "Asia/Shanghai") == "2026-12-03T08:00:00"
    assert format_time(micros, "iso", "UTC") == "2026-12-03T00:00:00+00:00"
    assert parse_time(1_764_720_000_123, "epoch_ms", "UTC") == 1_764_720_000_123_000
    assert format_time(1_764_720_000_123_000, "epoch_ms", "UTC") == "1764720000123"
    with pytest.raises(ValueError):
        parse_time(None, "iso", "UTC")


def test_a_full_page_of_unreadable_records_is_kept_failed_and_paged_past() -> None:
    good = [Item(T0 + n, n, {"name": f"v1-{n}"}) for n in range(1, 4)]
    bad = [Item(None, None, {"name": f"bad-{n}"}, "no id") for n in range(3)]
    everything = bad + good

    def fetch(cursor: Cursor, size: int, token: str | None) -> Page:
        start = [i for i in everything if i.micros is None or not cursor.passed(i.micros, i.id)]
        return Page(start[:size])

    sink = Sink()
    result = read_from(fetch, sink, Cursor(), page_size=3, max_page_size=12,
                       settled_until=None, uses_token=False)
    assert [i.record["name"] for i in result.failed][:3] == ["bad-0", "bad-1", "bad-2"]
    assert [i for i, _ in sink.stored if i is not None] == [1, 2, 3]
    assert result.cursor == Cursor(T0 + 3, 3)
