"""`kind: poll` on a real hub: an entity whose system of record is the demo SaaS API
(mdm/demo/poll_api.py, served from this test's process), read while it changes.

Randomized (seed printed; MDM_POLL_SEED=<seed> replays it): records inserted in bursts (many
share one modified time, page boundaries fall inside them), modified and deleted — also while
the hub pages (the API's between-pages hook) — some deleted with a tombstone, some purged
without one (only the key diff finds those), the API failing with 503s mid-run, and the whole
hub killed -9 mid-run and started again. Ends with golden holding exactly the API's final state:
none lost, none repeated (each record's versions are distinct states the API held, in order,
no two alike in a row), every deleted record retired.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.poll_api import PollApi
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import rows

TOKEN = "poll-test-token"
FEED = """\
name: saas
kind: poll
description: the demo SaaS API (a 金蝶云星空-like list of materials modified since)
base_url: ${SAAS_URL}
auth: {token: '${SAAS_TOKEN}'}
interval_s: 0.5
settle_s: 1.3
rate_limit_per_s: 50
backoff: {initial_s: 0.2, max_s: 2}
resources:
  saas.material:
    path: /api/materials
    records: data.items
    page_size: 7
    max_page_size: 400
    deletes:
      tombstones: {path: /api/materials/deleted}
      key_diff: {every: 4s}
"""
ENTITY = """\
entity: saas_material
source: saas
table: saas.material
primary_key: id
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
  price: {type: integer}
ignore_columns: [modified_at]
"""


def _project(root: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    (root / "cdc/saas.yaml").write_text(FEED, encoding="utf-8")
    (root / "golden_records/saas_material.yaml").write_text(ENTITY, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[PollApi, str]]:
    server = PollApi(resolution_ms=1000, token=TOKEN)
    url = server.start()
    yield server, url
    server.stop()


@pytest.fixture(scope="module")
def hub(api: tuple[PollApi, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = _project(tmp_path_factory.mktemp("project"))
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project,
                       extra_env={"SAAS_URL": api[1], "SAAS_TOKEN": TOKEN}) as s:
        yield s


class Writer:
    """The API's own users: every state each record takes, in order, and what was deleted."""

    def __init__(self, api: PollApi, rng: random.Random) -> None:
        self.api, self.rng = api, rng
        self.states: dict[int, list[dict[str, Any]]] = {}
        self.next_id = 1
        self.purged: set[int] = set()

    def insert(self) -> None:
        with self.api.lock:
            i, self.next_id = self.next_id, self.next_id + 1
            self._write(i, {"code": f"M{i:05d}", "name": f"物料{i}", "price": self.rng.randint(1, 9)})

    def modify(self) -> None:
        with self.api.lock:
            alive = sorted(self.api.state("materials"))
            if alive:
                i = self.rng.choice(alive)
                self._write(i, {"name": f"物料{i}-{self.rng.randint(0, 10**6)}",
                                "price": self.rng.randint(1, 99)})

    def delete(self, tombstone: bool = True) -> None:
        with self.api.lock:
            alive = sorted(self.api.state("materials"))
            if not alive:
                return
            i = self.rng.choice(alive)
            self.api.delete("materials", i)
            if not tombstone:  # purged: only a key diff can tell
                self.api.tombstones["materials"].pop(i, None)
                self.purged.add(i)

    def _write(self, i: int, fields: dict[str, Any]) -> None:
        row = self.api.upsert("materials", i, fields)
        self.states.setdefault(i, []).append(
            {"code": row["code"], "name": row["name"], "price": row["price"]})

    def step(self) -> None:
        with self.api.lock:
            self._step()

    def _step(self) -> None:
        roll = self.rng.random()
        if roll < 0.45:
            for _ in range(self.rng.randint(1, 12)):  # a burst: one modified time for many
                self.insert()
        elif roll < 0.85:
            self.modify()
        elif roll < 0.95:
            self.delete()
        else:
            self.delete(tombstone=False)

    def during_paging(self, _api: PollApi, pages: int) -> None:
        if self.rng.random() < 0.3:
            self.step()


def _golden(hub_url: str) -> dict[str, dict[str, Any]]:
    return {r["source_key"]: r for r in rows(
        hub_url, "SELECT source_key, attributes, status, version FROM golden_record "
                 "WHERE entity = 'saas_material'")}


def _versions(hub_url: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for r in rows(hub_url, "SELECT g.source_key, v.version, v.attributes, v.status FROM "
                           "golden_version v JOIN golden_record g ON g.id = v.golden_id "
                           "WHERE g.entity = 'saas_material' ORDER BY g.source_key, v.version"):
        found.setdefault(r["source_key"], []).append(r)
    return found


def _matches(golden: dict[str, dict[str, Any]], api: PollApi, writer: Writer) -> list[str]:
    """What golden still gets wrong about the API's current state (empty: none)."""
    wrong = []
    final = api.state("materials")
    for i, row in final.items():
        g = golden.get(str(i))
        want = {"code": row["code"], "name": row["name"], "price": row["price"]}
        if g is None or g["status"] != "active" or g["attributes"] != want:
            wrong.append(f"{i}: golden {g and (g['status'], g['attributes'])} != {want}")
    for i in set(writer.states) - set(final):
        g = golden.get(str(i))
        if g is not None and g["status"] != "retired":
            wrong.append(f"{i}: deleted at the API, golden {g['status']}")
    return wrong


def _wait(what: str, check: Any, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    problems: Any = None
    while time.monotonic() < deadline:
        problems = check()
        if not problems:
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f}s: {problems!r}"[:3000])


def _is_subsequence(versions: list[dict[str, Any]], states: list[dict[str, Any]]) -> bool:
    it = iter(states)
    return all(any(v == s for s in it) for v in versions)


def test_golden_ends_with_exactly_the_apis_state_through_edits_faults_and_a_kill(
        hub: DemoStack, api: tuple[PollApi, str]) -> None:
    server, _url = api
    seed = int(os.environ.get("MDM_POLL_SEED") or random.SystemRandom().randrange(10**9))
    print(f"poll source test seed={seed} (MDM_POLL_SEED={seed} replays it)")
    rng = random.Random(seed)
    writer = Writer(server, rng)
    for _ in range(60):
        writer.insert()
    server.between_pages = writer.during_paging
    steps = 70
    kill_at, fail_at = rng.randrange(15, 40), rng.randrange(40, 60)
    for n in range(steps):
        writer.step()
        if n == fail_at:
            server.fail(rng.randint(3, 8))
        if n == kill_at:
            _wait("the hub has read part of the API", lambda: None if rows(
                hub.hub_url, "SELECT 1 FROM inbox WHERE source = 'saas' LIMIT 1") else "nothing")
            hub.kill_hub()
            writer.step()
            hub.start_hub()
        time.sleep(rng.random() * 0.3)
    server.between_pages = None
    # at least one delete of each kind of a record the hub holds: a tombstone, a purge
    held = sorted(int(k) for k, g in _golden(hub.hub_url).items() if g["status"] == "active"
                  and int(k) in server.state("materials"))
    assert len(held) >= 2
    with server.lock:
        server.delete("materials", held[0])
        server.delete("materials", held[-1])
        server.tombstones["materials"].pop(held[-1])
        writer.purged.add(held[-1])
    _wait("golden holds the API's final state",
          lambda: _matches(_golden(hub.hub_url), server, writer))

    assert server.failed_served >= 3  # the 503s were served, and retried past
    versions = _versions(hub.hub_url)
    for key, history in versions.items():
        states = writer.states[int(key)]
        seen = [v["attributes"] for v in history if v["status"] == "active"]
        assert _is_subsequence(seen, states), (key, seen, states)  # none made up, in order
        pairs = list(zip(history, history[1:]))
        assert not [a for a, b in pairs if (a["attributes"], a["status"]) ==
                    (b["attributes"], b["status"])], (key, history)  # none repeated
    retired = {k for k, g in _golden(hub.hub_url).items() if g["status"] == "retired"}
    gone = {str(i) for i in set(writer.states) - set(server.state("materials"))}
    assert retired <= gone
    assert {str(held[0]), str(held[-1])} <= retired  # the tombstone's and the key diff's work
    assert {str(i) for i in writer.purged} & set(versions) <= retired
    with psycopg.connect(hub.hub_url) as conn:  # the cursor is the last record stored
        cursor = conn.execute("SELECT cursor FROM feed_state WHERE source = 'saas' AND "
                              "table_name = 'saas.material'").fetchone()
    assert cursor is not None and cursor[0]["micros"] > 0


def test_a_refusal_is_kept_as_the_last_error_with_the_apis_message_shown_by_status_and_metrics(
        hub: DemoStack, api: tuple[PollApi, str]) -> None:
    server, _url = api
    query = ("SELECT last_ok_at, last_error FROM feed_state WHERE source = 'saas' "
             "AND table_name = 'saas.material'")
    server.fail(3, 401)
    _wait("the 401 is the feed's last error", lambda: None if "HTTP 401 invalid or missing token"
          in (rows(hub.hub_url, query)[0]["last_error"] or "") else rows(hub.hub_url, query))
    metrics = httpx.get(f"{hub.api_url}/metrics", timeout=30).text
    assert 'mdm_feed_failing{source="saas",table="saas.material"} 1.0' in metrics
    _wait("the next polls succeed and clear it", lambda: rows(hub.hub_url, query)[0]["last_error"])
    metrics = httpx.get(f"{hub.api_url}/metrics", timeout=30).text
    assert 'mdm_feed_failing{source="saas",table="saas.material"} 0.0' in metrics
    assert 'mdm_feed_lag_seconds{source="saas",table="saas.material"}' in metrics
    assert 'mdm_feed_cursor_timestamp_seconds{source="saas",table="saas.material"}' in metrics
    shown = subprocess.run([sys.executable, "-m", "mdm.cli.main", "status", "--project",
                            str(hub.project_dir)], env=hub.env(), capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("feed saas saas.material"))
    assert "last ok 20" in line and "cursor 20" in line and "lag " in line, line


def test_a_crash_between_the_inbox_append_and_the_cursor_move_leaves_neither(
        hub: DemoStack, api: tuple[PollApi, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's events and its cursor commit together: a failure saving the cursor (a crash
    right after the append) rolls the append back, so the page is read again, not lost."""
    from mdm.capture import poll
    from mdm.capture.poll_cursor import Item
    from mdm.config.loader import load_project
    from mdm.store.repositories import feed_state

    spec = load_project(hub.project_dir).feeds["saas"]
    assert isinstance(spec, poll.PollFeed)

    def crash(*_args: Any) -> None:
        raise psycopg.OperationalError("the hub died between the append and the cursor")

    monkeypatch.setattr(feed_state, "save_cursor", crash)
    items = [Item(1_000_000 + n, 900_000 + n, {"id": 900_000 + n, "code": f"X{n}"})
             for n in range(3)]
    row = "saas.material#crash_test"  # a cursor row of its own: the feed's stays as it is
    count = ("SELECT count(*) FROM inbox WHERE source = 'saas' AND table_name = 'saas.material' "
             "AND row_key LIKE '9000%%'")
    with psycopg.connect(hub.hub_url, autocommit=True) as conn:
        poller = poll.Poller(spec, None, conn, threading.Event())  # type: ignore[arg-type]
        with pytest.raises(psycopg.OperationalError):  # records from 1970: months-old times
            poller._store("saas.material", row, items, {"micros": 1_000_002}, deleted=False)
        assert conn.execute(count).fetchone() == (0,)
        assert feed_state.load_cursor(conn, "saas", row) == {}
        monkeypatch.undo()  # no crash: both are there
        poller._store("saas.material", row, items, {"micros": 1_000_002}, deleted=False)
        assert conn.execute(count).fetchone() == (3,)
        assert feed_state.load_cursor(conn, "saas", row) == {"micros": 1_000_002}
        poller._store("saas.material", row, items, {"micros": 1_000_002}, deleted=False)
        assert conn.execute(count).fetchone() == (3,)  # the same page again: absorbed
