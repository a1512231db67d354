"""The audit log is append-only and tamper-evident: every decision is an entry chained to the
one before; UPDATE/DELETE/TRUNCATE are refused; a row altered or deleted behind the product's
back (triggers switched off) makes `mdm audit verify` fail naming that entry. (The keyed seals
and the head recorded outside the database: test_audit_keyed.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mdm.runtime.postgres import EmbeddedPostgres
from mdm.steward.audit import verify
from mdm.store.database import upgrade_database
from tests.helpers import running_postgres


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with running_postgres(tmp_path_factory.mktemp("audit")) as server:
        yield server


@pytest.fixture()
def hub(pg: EmbeddedPostgres) -> str:
    name = f"audit_{uuid.uuid4().hex[:12]}"  # a fresh hub database per test
    pg.create_database(name)
    url = pg.url(name)
    upgrade_database(url)
    with psycopg.connect(url, autocommit=True) as conn:  # five decisions on two tasks
        for task, actor, action, reason in ((1, "steward.wang", "approve", None),
                                            (2, "steward.li", "waive", "a unit we accept"),
                                            (3, "system", "superseded", "version 4 passes"),
                                            (4, "steward.wang", "approve_edited", "typo"),
                                            (5, "ops.zhao", "retry", "WMS fixed")):
            conn.execute("INSERT INTO decision (task_id, actor, action, reason, before, after, "
                         "golden_id, version) VALUES (%s, %s, %s, %s, %s, %s, 7, %s)",
                         (task, actor, action, reason, '{"tax_id": "9131"}', '{"tax_id": "9132"}', task))
    return url


def _verify_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", "audit", "verify", *args],
                          env={**os.environ, "MDM_DATABASE_URL": url, "COLUMNS": "300"},
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent)


def _tamper(url: str, statement: str) -> None:
    """What only a database superuser could do: switch the triggers off and change a row."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement)


def test_every_decision_is_an_entry_chained_to_the_one_before(hub):
    with psycopg.connect(hub) as conn:
        entries = conn.execute("SELECT seq, actor, action, reason, prev_hash, hash FROM audit_log "
                               "ORDER BY seq").fetchall()
        result = verify(conn)
    assert [(e[1], e[2]) for e in entries] == [
        ("steward.wang", "approve"), ("steward.li", "waive"), ("system", "superseded"),
        ("steward.wang", "approve_edited"), ("ops.zhao", "retry")]
    assert entries[0][4] == "0" * 64
    assert all(b[4] == a[5] for a, b in zip(entries, entries[1:]))  # each names the one before
    assert result.ok and result.entries == 5 and result.head == entries[-1][5]
    shown = _verify_cli(hub)
    assert shown.returncode == 0 and "5 entries, chain intact" in shown.stdout, shown.stderr


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
    "TRUNCATE audit_log",
])
def test_the_product_cannot_edit_or_delete_entries(hub, statement):
    with psycopg.connect(hub) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute(statement)
    with psycopg.connect(hub) as conn:
        assert verify(conn).entries == 5


def test_an_altered_entry_is_named(hub):
    _tamper(hub, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2")
    with psycopg.connect(hub) as conn:
        result = verify(conn)
    assert not result.ok and result.seq == 2 and "entry 2 was altered" in (result.problem or "")
    shown = _verify_cli(hub)
    assert shown.returncode == 1 and "entry 2 was altered" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_deleted_entry_is_named(hub):
    _tamper(hub, "DELETE FROM audit_log WHERE seq = 3")
    with psycopg.connect(hub) as conn:
        result = verify(conn)
    assert result.seq == 3 and "entry 3 is missing" in (result.problem or "")
    assert _verify_cli(hub).returncode == 1


def test_a_rehashed_entry_breaks_the_link_to_the_next(hub):
    """Altering entry 2 and recomputing its own hash still shows: entry 3 no longer follows."""
    from mdm.steward.audit import ENTRIES_SQL, entry_hash

    _tamper(hub, "UPDATE audit_log SET actor = 'someone.else' WHERE seq = 2")
    with psycopg.connect(hub) as conn:
        row = [r for r in conn.execute(ENTRIES_SQL).fetchall() if r[0] == 2][0]
    _tamper(hub, f"UPDATE audit_log SET hash = '{entry_hash(row[:12])}' WHERE seq = 2")
    with psycopg.connect(hub) as conn:
        result = verify(conn)
    assert result.seq == 3 and "entry 3 does not follow entry 2" in (result.problem or "")


def test_a_recorded_head_catches_a_chain_rewritten_consistently(hub):
    from mdm.steward.audit import ENTRIES_SQL, GENESIS, entry_hash

    with psycopg.connect(hub) as conn:
        head = verify(conn).head
    with psycopg.connect(hub, autocommit=True) as conn:  # the log grows: the head stays in it
        conn.execute("INSERT INTO decision (task_id, actor, action) VALUES (9, 'admin', 'waive')")
    assert _verify_cli(hub, "--expect-head", head).returncode == 0
    # someone rewrites entry 2 and re-hashes everything after it: consistent in itself …
    _tamper(hub, "UPDATE audit_log SET reason = 'rewritten' WHERE seq = 2")
    prev = GENESIS
    with psycopg.connect(hub) as conn:
        rows = conn.execute(ENTRIES_SQL).fetchall()
    for row in rows:
        fixed = entry_hash((*row[:11], prev))
        _tamper(hub, f"UPDATE audit_log SET prev_hash = '{prev}', hash = '{fixed}' WHERE seq = {row[0]}")
        prev = fixed
    with psycopg.connect(hub) as conn:  # (only the decision row, unchanged, still tells)
        assert "decision 2 disagrees with entry 2" in (verify(conn).problem or "")
    # … but it no longer passes through the head recorded before
    shown = _verify_cli(hub, "--expect-head", head)
    assert shown.returncode == 1 and f"no entry has the recorded hash {head}" in shown.stderr
