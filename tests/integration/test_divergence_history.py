"""Divergence on a real hub database: which of the versions the hub sent a target's row change
may echo, when divergence reads their attributes only as it tries them (the newest first, the
others in a second round for the rows that did not match it). The demo project's OA supplier
copy (oa_vendor; vendor_name among its divergence fields) on golden records, versions and
deliveries written directly, compared by DivergenceDetector as processing calls it."""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest

from mdm.config.loader import Project, load_project
from mdm.model.inbox import InboxRow
from mdm.rules.divergence import DivergenceDetector, ObservedOutcome
from mdm.runtime.postgres import EmbeddedPostgres
from mdm.runtime.settings import REPO_ROOT
from mdm.store.database import upgrade_database
from tests.helpers import running_postgres

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TABLE = "public.oa_vendor"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with running_postgres(tmp_path_factory.mktemp("divergence")) as server:
        yield server


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(REPO_ROOT)


@pytest.fixture()
def hub(pg: EmbeddedPostgres) -> Iterator[psycopg.Connection]:
    name = f"divergence_{uuid.uuid4().hex[:12]}"  # a fresh hub database per test
    pg.create_database(name)
    upgrade_database(pg.url(name))
    with psycopg.connect(pg.url(name)) as conn:
        yield conn


def _supplier(conn: psycopg.Connection, key: str, names: list[str]) -> int:
    """A supplier whose versions 1..n carry `names`; the last is current."""
    gid = next(_ids)
    attributes = [{"code": key, "name": n, "contact_person": "王工", "phone": "021-1",
                   "address": "上海", "credit_limit": "1000.00"} for n in names]
    conn.execute("INSERT INTO golden_record (id, entity, source_key, business_key, attributes, "
                 "status, version) VALUES (%s, 'supplier', %s, %s, %s, 'active', %s)",
                 (gid, str(gid), key, orjson.dumps(attributes[-1]).decode(), len(names)))
    for version, attrs in enumerate(attributes, 1):
        conn.execute("INSERT INTO golden_version (golden_id, version, entity, business_key, "
                     "attributes, status, valid_from, cause_kind) VALUES (%s, %s, 'supplier', %s, "
                     "%s, 'active', %s, 'change')",
                     (gid, version, key, orjson.dumps(attrs).decode(), T0))
    return gid


def _delivered(conn: psycopg.Connection, gid: int, key: str, version: int, status: str,
               acked_at: datetime | None = None) -> None:
    conn.execute("INSERT INTO delivery (golden_id, version, entity, business_key, target, "
                 "operation, idempotency_key, status, acked_at) VALUES (%s, %s, 'supplier', %s, "
                 "'oa', 'upsert', %s, %s, %s)",
                 (gid, version, key, f"test-{uuid.uuid4().hex}", status, acked_at))


def _sent(conn: psycopg.Connection, key: str, *deliveries: tuple[str, datetime | None]) -> int:
    """A supplier with one version per (status, acked_at) delivered to oa, in version order."""
    gid = _supplier(conn, key, ["一版", "二版", "三版"][:len(deliveries)])
    for version, (status, acked_at) in enumerate(deliveries, 1):
        _delivered(conn, gid, key, version, status, acked_at)
    return gid


def _row_change(key: str, name: str, committed: datetime) -> InboxRow:
    after: dict[str, Any] = {"id": 1, "vendor_code": key, "vendor_name": name,
                             "contact": "王工", "phone": "021-1", "address": "上海",
                             "credit_limit": "1000.00"}
    n = next(_ids)
    return InboxRow(n, "oa", TABLE, f'{{"id": {n}}}', "u", str(n), n, n, committed, after)


def _compare(conn: psycopg.Connection, project: Project, *events: InboxRow) -> ObservedOutcome:
    return DivergenceDetector(project).apply(conn, "oa", events)


def _divergences(conn: psycopg.Connection, key: str) -> list[dict[str, Any]]:
    return [r[0] for r in conn.execute(
        "SELECT detail FROM task WHERE type = 'divergence' AND status = 'open' "
        "AND business_key = %s", (key,))]


def test_an_echo_of_an_older_version_in_flight_is_an_echo_when_the_newest_does_not_match(
        hub, project):
    _sent(hub, "S9001", ("acked", T0), ("pending", None), ("pending", None))
    outcome = _compare(hub, project, _row_change("S9001", "二版", T0 + timedelta(minutes=1)))
    assert (outcome.compared, outcome.echoes, outcome.diverged) == (1, 1, 0)
    assert outcome.converged == []  # version 2 echoed, version 3 still to come
    assert _divergences(hub, "S9001") == []


def test_an_echo_of_the_newest_acknowledged_version_behind_versions_in_flight_is_an_echo(
        hub, project):
    _sent(hub, "S9002", ("acked", T0), ("failed", None), ("pending", None))
    outcome = _compare(hub, project, _row_change("S9002", "一版", T0 + timedelta(minutes=1)))
    assert (outcome.echoes, outcome.diverged) == (1, 0)
    assert _divergences(hub, "S9002") == []


def test_a_value_none_of_the_echoable_versions_holds_is_one_task_against_the_newest_sent(
        hub, project):
    _sent(hub, "S9003", ("acked", T0), ("acked", T0 + timedelta(seconds=10)), ("pending", None))
    # version 1 was acknowledged before version 2 was, and the row is later: a hand edit
    outcome = _compare(hub, project, _row_change("S9003", "一版", T0 + timedelta(minutes=1)))
    assert (outcome.echoes, outcome.diverged) == (0, 1)
    [task] = _divergences(hub, "S9003")
    assert task["kind"] == "edited"
    [field] = task["fields"]
    assert (field["field"], field["golden"], field["target"]) == ("vendor_name", "三版", "一版")


def test_a_row_committed_before_the_newer_ack_still_echoes_the_older_version(hub, project):
    _sent(hub, "S9004", ("acked", T0), ("acked", T0 + timedelta(seconds=10)))
    outcome = _compare(hub, project, _row_change("S9004", "一版", T0 + timedelta(seconds=5)))
    assert (outcome.echoes, outcome.diverged) == (1, 0)


def test_a_record_never_sent_to_the_target_is_compared_with_its_current_version(hub, project):
    _supplier(hub, "S9005", ["一版", "二版"])  # no delivery to oa
    outcome = _compare(hub, project, _row_change("S9005", "手改", T0))
    assert outcome.diverged == 1
    [task] = _divergences(hub, "S9005")
    [field] = task["fields"]
    assert (field["golden"], field["target"]) == ("二版", "手改")


def test_rows_of_one_batch_are_judged_each_against_their_own_versions(hub, project):
    """Both rounds over a batch: one row echoes its newest version, one an older version in
    flight, one is a hand edit; the echo of the newest closes that record's open task."""
    newest = _supplier(hub, "S9006", ["甲一", "甲二"])
    older = _supplier(hub, "S9007", ["乙一", "乙二"])
    edited = _supplier(hub, "S9008", ["丙一", "丙二"])
    for gid, key in ((newest, "S9006"), (older, "S9007"), (edited, "S9008")):
        _delivered(hub, gid, key, 1, "pending")
        _delivered(hub, gid, key, 2, "pending")
    later = T0 + timedelta(minutes=1)
    _compare(hub, project, _row_change("S9006", "手改", T0))
    assert len(_divergences(hub, "S9006")) == 1
    outcome = _compare(hub, project, _row_change("S9006", "甲二", later),
                       _row_change("S9007", "乙一", later), _row_change("S9008", "手改", later))
    assert (outcome.compared, outcome.echoes, outcome.diverged) == (3, 2, 1)
    assert outcome.converged == [("S9006", 2)]
    assert _divergences(hub, "S9006") == []  # closed: converged
    assert _divergences(hub, "S9007") == []
    [task] = _divergences(hub, "S9008")
    assert task["fields"][0]["golden"] == "丙二"
