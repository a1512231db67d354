"""A poll's cursor and one read of a resource from it (no I/O: the page fetch is passed in).

The cursor is (modified time, id) of the last record stored. An API that only offers
`modified_since >= t`, ordered by (modified, id), is read by keyset paging: every page is asked
from the cursor's time, and what the answer holds at or before the cursor — (t, id) <= (t_c,
id_c) — is skipped. So records sharing the cursor's time across a page boundary are neither
lost (the next page starts at that time again) nor repeated (the ones stored are skipped); a
record modified while the hub pages moves to a later time, ahead of the cursor, and is read
there. When a full page holds nothing new (more records share one time than a page holds) the
page grows. With `after_id` (the API answers `(modified, id) > (t, id)`) or page tokens the
skipping is only a safety net.

A write must never land behind what the API already served: records modified less than
`settle_s` ago (the API's time resolution and clock skew) are left for the next poll.

Positions sort in a record's change order — "p/<UTC microseconds, 20 digits>/<id>", a delete
"…/d" after the last change at the same time — so the golden stage refuses a stale re-read, and
the inbox absorbs a page read twice (same position, table and row key).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PollContractError(Exception):
    """The API's answer cannot be read as configured (no list where `records:` says, a page
    of equal times larger than max_page_size …): recorded as the feed's last error."""


def _id_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (-1, "")
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


@dataclass(frozen=True)
class Cursor:
    micros: int = -1  # modified time of the last record stored, UTC µs since 1970; -1: none
    id: Any = None  # its id (int or text, as the API writes it)

    def key(self) -> tuple[int, tuple[int, Any]]:
        return (self.micros, _id_key(self.id))

    def passed(self, micros: int, record_id: Any) -> bool:
        """Whether (micros, record_id) is at or before the cursor: stored already."""
        return (micros, _id_key(record_id)) <= self.key()

    def as_json(self) -> dict[str, Any]:
        time = None if self.micros < 0 else iso_of(self.micros)
        return {"micros": self.micros, "id": self.id, "time": time}

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Cursor:
        if not data or "micros" not in data:
            return cls()
        return cls(int(data["micros"]), data.get("id"))


def iso_of(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat()


def micros_of(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_time(value: Any, time_format: str, zone: str) -> int:
    """µs since 1970 UTC of an API time; ValueError for one that is not."""
    if value is None or value == "" or isinstance(value, bool):
        raise ValueError(f"no time ({value!r})")
    if time_format in ("epoch_ms", "epoch_s"):
        number = float(value)
        return int(round(number * (1000 if time_format == "epoch_ms" else 1_000_000)))
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    micros = micros_of(moment)
    if micros < 0:
        raise ValueError(f"time {value!r} is before 1970")
    return micros


def format_time(micros: int, time_format: str, zone: str) -> str:
    """The `modified_since` value for a cursor time, as the API writes times."""
    micros = max(micros, 0)
    if time_format == "epoch_ms":
        return str(micros // 1000)
    if time_format == "epoch_s":
        return str(micros // 1_000_000)
    moment = datetime.fromtimestamp(micros // 1_000_000, ZoneInfo(zone)).replace(
        microsecond=micros % 1_000_000)
    # UTC with its offset; a local zone as the API writes it, without one (金蝶云星空)
    return moment.isoformat() if zone == "UTC" else moment.replace(tzinfo=None).isoformat()


def position(micros: int, record_id: Any, deleted: bool = False) -> str:
    return f"p/{max(micros, 0):020d}/{record_id}" + ("/d" if deleted else "")


@dataclass(frozen=True)
class Item:
    """One record of a page: its time and id (None when it lacks them: kept failed)."""

    micros: int | None
    id: Any
    record: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_token: str | None = None
    size_asked: int = 0


Fetch = Callable[[Cursor, int, "str | None"], Page]  # from cursor, page size, token
Store = Callable[[list[Item], Cursor], None]  # durable: the items and the cursor, one txn


@dataclass
class ReadResult:
    cursor: Cursor
    pages: int = 0
    stored: int = 0
    skipped: int = 0  # records at or before the cursor (already stored)
    unsettled: int = 0  # records too recent for this poll
    failed: list[Item] = field(default_factory=list)


def read_from(fetch: Fetch, store: Store, cursor: Cursor, *, page_size: int, max_page_size: int,
              settled_until: int | None, uses_token: bool,
              should_stop: Callable[[], bool] = lambda: False) -> ReadResult:
    """Page from `cursor` to the end of what is settled, storing each page's new records
    with the cursor they move it to (`store`: one transaction). Returns the cursor reached.
    Records without time or id are stored as failed items, never moving the cursor."""
    result = ReadResult(cursor)
    size, token = page_size, None
    while not should_stop():
        page = fetch(result.cursor, size, token)
        result.pages += 1
        fresh, done = _new_items(page.items, result, settled_until)
        if fresh:
            last = [i for i in fresh if i.micros is not None]
            moved = Cursor(last[-1].micros, last[-1].id) if last else result.cursor  # type: ignore[arg-type]
            store(fresh, moved)
            if moved.micros != result.cursor.micros:
                size = page_size  # past the run of one time the page had to grow for
            result.cursor = moved
            result.stored += len(fresh)
        if done:
            return result
        if uses_token:
            if page.next_token is None:
                return result
            token = page.next_token
            continue
        if len(page.items) < size:
            return result  # the end
        if not any(i.micros is not None and not i.problem for i in fresh):
            # a full page of records already stored (or unreadable): a run of one time > a page
            if size >= max_page_size:
                raise PollContractError(
                    f"more than max_page_size ({max_page_size}) records share modified time "
                    f"{iso_of(result.cursor.micros)}: raise max_page_size, or configure "
                    "params.after_id or a page cursor")
            size = min(size * 2, max_page_size)
    return result


def _new_items(items: Sequence[Item], result: ReadResult,
               settled_until: int | None) -> tuple[list[Item], bool]:
    """The page's records after the cursor (and failed ones), up to the first unsettled one;
    and whether an unsettled one ended the read."""
    fresh: list[Item] = []
    for item in items:
        if item.micros is None or item.problem:
            fresh.append(item)
            result.failed.append(item)
            continue
        if result.cursor.passed(item.micros, item.id) or any(
                f.micros is not None and (f.micros, _id_key(f.id)) >= (item.micros, _id_key(item.id))
                for f in fresh[-1:]):
            result.skipped += 1
            continue
        if settled_until is not None and item.micros > settled_until:
            result.unsettled += 1
            return fresh, True
        fresh.append(item)
    return fresh, False
