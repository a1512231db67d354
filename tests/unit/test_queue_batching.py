"""The queue runners' batch loop (mdm/capture/queue.py): a batch holds at most `limit` items
and takes what is waiting; the test hook holds a marked batch before its inbox commit once,
until the runner is stopped, and never without its environment variables."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from mdm.capture.queue import HOLD_DIR_ENV, HOLD_MARKER_ENV, _hold, collect
from mdm.capture.queue_message import Received


def test_a_batch_takes_what_is_waiting_up_to_its_limit() -> None:
    async def scenario() -> tuple[list[object], list[object], list[object]]:
        pending: asyncio.Queue[object] = asyncio.Queue()
        for i in range(7):
            pending.put_nowait(i)
        stop = threading.Event()
        first = await collect(pending, 5, 0, stop)
        second = await collect(pending, 5, 0, stop)
        empty = await collect(pending, 5, 0, stop)
        return first, second, empty

    first, second, empty = asyncio.run(scenario())
    assert (first, second, empty) == ([0, 1, 2, 3, 4], [5, 6], [])


def test_the_hold_hook_is_off_without_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOLD_MARKER_ENV, raising=False)
    monkeypatch.delenv(HOLD_DIR_ENV, raising=False)
    assert asyncio.run(_hold("wms_q", [Received(b'{"x": "HOLD"}')], threading.Event()))


def test_the_hold_hook_holds_a_marked_batch_once_until_stopped(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(HOLD_MARKER_ENV, "HOLD-1")
    monkeypatch.setenv(HOLD_DIR_ENV, str(tmp_path))
    stop = threading.Event()
    plain = [Received(b'{"x": "no marker"}')]
    marked = [Received(b'{"x": "HOLD-1"}')]
    assert asyncio.run(_hold("wms_q", plain, stop))  # no marker: goes on
    assert not (tmp_path / "wms_q.held").exists()

    async def held() -> bool:
        task = asyncio.create_task(_hold("wms_q", marked, stop))
        while not (tmp_path / "wms_q.held").exists():
            await asyncio.sleep(0.01)
        assert not task.done()  # held before its commit
        stop.set()
        return await task

    assert asyncio.run(held()) is False  # stopped while held: nothing to commit, nothing acked
    assert asyncio.run(_hold("wms_q", marked, threading.Event()))  # the next run goes on
