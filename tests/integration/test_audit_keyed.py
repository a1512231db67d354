"""The audit log proves itself against the hub's own database owner: entries are sealed with an
HMAC whose key the database never holds, the head is recorded in a file outside it, and
`mdm audit verify` catches deleted newest entries, an entry re-hashed with the unkeyed sha256,
and a decision row that disagrees with the log — each done here as the database owner would."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mdm.runtime.postgres import EmbeddedPostgres
from mdm.runtime.settings import REPO_ROOT, Settings
from mdm.steward.audit import ENTRIES_SQL, GENESIS, append, entry_hash, verify
from mdm.steward.audit_key import KeyRing, load_ring, read_head
from mdm.steward.audit_seal import AuditChainBroken, seal
from mdm.store.database import upgrade_database
from tests.helpers import eventually, running_postgres

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

DECISIONS = ((1, "steward.wang", "approve", None), (2, "steward.li", "waive", "a unit we accept"),
             (3, "system", "superseded", "version 4 passes"), (4, "steward.wang", "approve_edited", "typo"),
             (5, "ops.zhao", "retry", "WMS fixed"))


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with running_postgres(tmp_path_factory.mktemp("audit_keyed")) as server:
        yield server


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(project_dir=REPO_ROOT, state_dir=tmp_path / "state", database_url=None)


@pytest.fixture()
def hub(pg: EmbeddedPostgres, settings: Settings) -> str:
    """A fresh hub database with five decisions, sealed by the key in the state dir."""
    name = f"keyed_{uuid.uuid4().hex[:12]}"
    pg.create_database(name)
    url = pg.url(name)
    upgrade_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        _decide(conn)
        seal(conn, _ring(settings), settings.audit_head_path)
    return url


def _ring(settings: Settings) -> KeyRing:
    ring = load_ring(settings, create=True)
    assert ring is not None
    return ring


def _decide(conn: psycopg.Connection) -> None:
    for task, actor, action, reason in DECISIONS:
        conn.execute("INSERT INTO decision (task_id, actor, action, reason, before, after, "
                     "golden_id, version) VALUES (%s, %s, %s, %s, %s, %s, 7, %s)",
                     (task, actor, action, reason, '{"tax_id": "9131"}', '{"tax_id": "9132"}', task))


def _as_owner(url: str, *statements: str) -> None:
    """What the hub's database login can do: switch the append-only triggers off, change rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute("ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_append_only")
        for statement in statements:
            conn.execute(statement)
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        conn.execute("ALTER TABLE audit_seal ENABLE TRIGGER audit_seal_append_only")


def _verify_cli(url: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_AUDIT")}
    env.update(MDM_DATABASE_URL=url, COLUMNS="300", MDM_AUDIT_KEY_FILE=str(settings.audit_key_path),
               MDM_AUDIT_HEAD_FILE=str(settings.audit_head_path))
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent)


def _check(url: str, settings: Settings):  # noqa: ANN202 — a Verification
    with psycopg.connect(url) as conn:
        return verify(conn, ring=load_ring(settings), head_path=settings.audit_head_path)


def test_each_entry_is_sealed_with_a_key_outside_the_database_and_the_head_recorded(hub, settings):
    key_file = settings.audit_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    with psycopg.connect(hub) as conn:
        seals = conn.execute("SELECT seq, mac FROM audit_seal ORDER BY seq").fetchall()
        dump = conn.execute("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM audit_log) t").fetchone()
    assert [s[0] for s in seals] == [1, 2, 3, 4, 5]
    assert key not in (dump[0] or "")
    head = json.loads(settings.audit_head_path.read_text())
    assert head["seq"] == 5 and head["mac"] == seals[-1][1]
    result = _check(hub, settings)
    assert result.ok and result.sealed == 5 and result.recorded is not None
    shown = _verify_cli(hub, settings)
    assert shown.returncode == 0, shown.stderr
    assert "5 entries, chain intact; 5 sealed" in shown.stdout
    assert f"head entry 5 as recorded in {settings.audit_head_path}" in shown.stdout


def test_deleting_the_newest_entries_as_the_database_owner_is_caught(hub, settings):
    _as_owner(hub, "DELETE FROM audit_log WHERE seq > 3", "DELETE FROM audit_seal WHERE seq > 3",
              "DELETE FROM decision WHERE id > 3")
    result = _check(hub, settings)
    assert not result.ok and result.seq == 4
    assert "the log ends at entry 3" in (result.problem or "")
    assert "entries 4–5 were deleted" in (result.problem or "")
    shown = _verify_cli(hub, settings)
    assert shown.returncode == 1 and "entries 4–5 were deleted" in shown.stderr
    # the next entry takes number 4; the hub will not seal over the gap the head file shows
    with psycopg.connect(hub, autocommit=True) as conn:
        append(conn, "admin", "user_added", "user someone")
        with pytest.raises(AuditChainBroken, match="newer entries were removed"):
            seal(conn, _ring(settings), settings.audit_head_path)
    assert read_head(settings.audit_head_path).seq == 5  # type: ignore[union-attr]
    assert "entry 5 was deleted" in (_check(hub, settings).problem or "")


def test_an_entry_rewritten_with_the_unkeyed_sha256_is_caught(hub, settings):
    """Entry 2 and its decision changed together, the sha256 chain recomputed from 2 on: the
    unkeyed chain is consistent again, the HMAC is not."""
    _as_owner(hub, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
              "UPDATE decision SET reason = 'nothing to see' WHERE id = 2")
    prev = GENESIS
    with psycopg.connect(hub) as conn:
        rows = conn.execute(ENTRIES_SQL).fetchall()
    for row in rows:
        rehashed = entry_hash((*row[:11], prev))
        _as_owner(hub, f"UPDATE audit_log SET prev_hash = '{prev}', hash = '{rehashed}' WHERE seq = {row[0]}")
        prev = rehashed
    result = _check(hub, settings)
    assert not result.ok and result.seq == 2
    assert "entry 2 was altered: its HMAC does not match" in (result.problem or "")
    shown = _verify_cli(hub, settings)
    assert shown.returncode == 1 and "entry 2 was altered: its HMAC does not match" in shown.stderr


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE decision SET reason = 'approved by phone' WHERE id = 2",
     "decision 2 disagrees with entry 2 that recorded it: reason 'a unit we accept' in the log, "
     "'approved by phone' in the decision table"),
    ("UPDATE decision SET actor = 'steward.wang' WHERE id = 5",
     "decision 5 disagrees with entry 5 that recorded it: actor 'ops.zhao' in the log"),
    ("DELETE FROM decision WHERE id = 3",
     "entry 3 records a decision that is no longer in the decision table"),
])
def test_a_decision_row_that_disagrees_with_the_log_is_caught(hub, settings, statement, message):
    _as_owner(hub, statement)
    result = _check(hub, settings)
    assert not result.ok and message in (result.problem or "")
    shown = _verify_cli(hub, settings)
    assert shown.returncode == 1 and message in shown.stderr


def test_a_decision_written_with_the_audit_trigger_off_is_caught(hub, settings):
    with psycopg.connect(hub, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no trigger fires
        decision_id = conn.execute("INSERT INTO decision (task_id, actor, action) VALUES "
                                   "(9, 'admin', 'waive') RETURNING id").fetchone()[0]
    result = _check(hub, settings)
    assert f"decision {decision_id} has no audit entry" in (result.problem or "")


def test_concurrent_appends_from_two_connections_make_one_chain_that_verifies(hub, settings):
    ring = _ring(settings)
    failures: list[BaseException] = []

    def appender(name: str) -> None:
        try:
            with psycopg.connect(hub, autocommit=True) as conn:
                for i in range(40):
                    with conn.transaction():
                        append(conn, name, "token_issued", f"user {name}", after={"n": i})
        except BaseException as exc:  # noqa: BLE001 — reported below
            failures.append(exc)

    def sealer() -> None:
        try:
            with psycopg.connect(hub, autocommit=True) as conn:
                while any(t.is_alive() for t in writers):
                    seal(conn, ring, settings.audit_head_path)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    writers = [threading.Thread(target=appender, args=(n,)) for n in ("svc.a", "svc.b")]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in (*writers, *sealers):
        t.start()
    for t in (*writers, *sealers):
        t.join(120)
    assert not failures, failures
    with psycopg.connect(hub, autocommit=True) as conn:
        seal(conn, ring, settings.audit_head_path)
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
        links = conn.execute("SELECT count(*) FROM audit_seal").fetchone()[0]
    assert seqs == list(range(1, 86)) and links == 85
    assert read_head(settings.audit_head_path).seq == 85  # type: ignore[union-attr]
    result = _check(hub, settings)
    assert result.ok and result.sealed == 85, result.problem


def test_verify_without_the_key_or_the_head_file_says_what_to_set(hub, settings, tmp_path):
    elsewhere = Settings(project_dir=REPO_ROOT, state_dir=tmp_path / "elsewhere", database_url=None)
    with psycopg.connect(hub) as conn:
        no_key = verify(conn, ring=None, head_path=settings.audit_head_path)
        no_head = verify(conn, ring=_ring(settings), head_path=elsewhere.audit_head_path)
    assert "no key was found: set MDM_AUDIT_KEY" in (no_key.problem or "")
    assert f"no audit head is recorded at {elsewhere.audit_head_path}" in (no_head.problem or "")


def test_entries_from_before_the_keyed_chain_are_named_and_sealed(pg, settings):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from mdm.store.database import ALEMBIC_INI, sqlalchemy_url

    name = f"legacy_{uuid.uuid4().hex[:12]}"
    pg.create_database(name)
    url = pg.url(name)
    cfg = Config(str(ALEMBIC_INI))
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
    engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        _decide(conn)  # five entries written by the unkeyed chain of 0004
    upgrade_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        append(conn, "admin", "user_added", "user new.one")
        seal(conn, _ring(settings), settings.audit_head_path)
        linked = conn.execute("SELECT count(*) FROM audit_log WHERE decision_id IS NOT NULL").fetchone()[0]
    result = _check(url, settings)
    assert result.ok and result.sealed == 6 and result.legacy_upto == 5 and linked == 5
    assert any("entries 1–5 predate the keyed chain" in n for n in result.notes)
    _as_owner(url, "UPDATE audit_log SET actor = 'someone.else' WHERE seq = 2",
              "UPDATE decision SET actor = 'someone.else' WHERE id = 2")
    assert "entry 2 was altered" in (_check(url, settings).problem or "")


def test_the_running_hub_seals_each_entry_and_records_the_head(stack):
    """The demo's hub generated its key (mode 0600, said where) and seals what is appended."""
    assert stat.S_IMODE(stack.audit_key_file.stat().st_mode) == 0o600
    assert "audit key generated path=" in (stack.state_dir / "hub.log").read_text()
    with stack.client() as client:  # issuing this client's token is an audit entry
        assert client.get("/api/v1/audit").status_code == 200
    with psycopg.connect(stack.hub_url) as conn:
        newest = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]

    def sealed() -> bool:
        head = read_head(stack.audit_head_file)
        return head is not None and head.seq >= newest

    assert eventually(sealed, timeout=60)
    env = {**stack.env(), "COLUMNS": "300"}
    shown = subprocess.run([sys.executable, "-m", "mdm.cli.main", "audit", "verify"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "chain intact" in shown.stdout and "sealed with key" in shown.stdout


def test_a_role_started_without_a_key_says_what_to_set(hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update(MDM_DATABASE_URL=hub, MDM_STATE_DIR=str(tmp_path / "empty"),
               MDM_PROJECT_DIR=str(REPO_ROOT), MDM_ERP_URL=hub, MDM_OA_URL="http://127.0.0.1:9",
               MDM_WMS_URL="http://127.0.0.1:9", MDM_OA_DB_URL=hub, MDM_WMS_DB_URL=hub)
    shown = subprocess.run([sys.executable, "-m", "mdm.cli.main", "run", "process"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode != 0
    assert "no audit key" in shown.stderr and "set MDM_AUDIT_KEY" in shown.stderr, shown.stderr
    assert not (tmp_path / "empty" / "audit.key").exists()
