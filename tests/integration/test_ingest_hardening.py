"""Capture and ingest hardening on the real stack (issue 11, item 8): a bad record is kept
`failed` with its reason — in the inbox, shown by `mdm status` — and the rest of its batch flows
on; dedupe never takes two different events for one; the same for source rows through the
embedded Debezium handler. Bodies are built as Debezium Server's HTTP sink posts them (see
test_ingest.py); the odd values are the ones an attacker or a broken connector sends."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from itertools import count
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm.capture.debezium import InboxHandler
from mdm.capture.service import primary_keys
from mdm.config.loader import load_project
from tests.helpers import eventually, rows
from tests.integration.test_ingest import _erp_position, _post, _supplier_insert, _versions

# A stack of its own, not the session's shared one (tests/conftest.py): the random envelopes
# carry made-up LSNs far beyond the ERP's WAL, and the hub's capture position for `erp` is the
# greatest LSN it was given, so wait_idle on that stack would return before real changes arrive.


def _inbox(stack, where: str, params: Any = None) -> list[dict]:
    return rows(stack.hub_url, f"SELECT * FROM inbox WHERE {where} ORDER BY id", params)


def test_bad_records_are_kept_failed_with_their_reason_and_the_rest_of_the_batch_flows(stack):
    token = stack.token("svc.debezium-server", "service")
    tx_id, lsn = _erp_position(stack.erp_url)
    good = _supplier_insert("S-HARD-OK", "坏记录旁的好记录", 991000, tx_id, lsn + 64)
    good["source"]["sequence"] = f'["{lsn}","{lsn + 64}"]'
    bad: dict[str, dict] = {}
    for n, (what, change) in enumerate([
        ("sequence", lambda e: e["source"].update(sequence="[1]")),
        ("ts_ms", lambda e: e["source"].update(ts_ms=10**17, ts_us=None)),
        ("txId", lambda e: e["source"].update(txId=2**70)),
        ("lsn", lambda e: e["source"].update(lsn=2**64 + 5, sequence=f'["{lsn}","{2**64 + 5}"]')),
        ("nul", lambda e: e["after"].update(name="NUL\u0000inside")),
    ]):
        event = _supplier_insert(f"S-HARD-{what}", f"坏记录 {what}", 991001 + n, tx_id, lsn + n)
        event["source"]["sequence"] = f'["{lsn}","{lsn + n}"]'
        change(event)
        bad[what] = event
    body = json.dumps([*bad.values(), good]).encode()  # exact big integers, as a sink writes them
    reply = _post(stack, token, body, source="erp")
    assert reply.status_code == 202, reply.text
    assert (reply.json()["events"], reply.json()["kept_unparseable"]) == (1, 5)
    assert eventually(lambda: len(_versions(stack, "S-HARD-OK")) == 1, timeout=60)
    failed = {r["error"]: r for r in _inbox(stack, "status = 'failed' AND raw LIKE '%%S-HARD-%%'")}
    assert len(failed) == 5, list(failed)
    reasons = " | ".join(failed)
    for expected in ("source.sequence '[1]' is not [lastCommitLsn, lsn]",
                     "source.ts_ms 100000000000000000 is not a time",
                     "source.txId 1180591620717411303424 is beyond bigint",
                     "source.lsn 18446744073709551621 is beyond bigint",
                     "NUL byte in after.name (public.supplier row 991005)"):
        assert expected in reasons, (expected, reasons)
    assert all(r["raw"] and "S-HARD-" in r["raw"] for r in failed.values())  # kept for a fix
    for code in ("S-HARD-sequence", "S-HARD-txId", "S-HARD-nul"):
        assert _versions(stack, code) == []
    # the sink sends the batch again (it timed out waiting): nothing new, the good one once
    again = _post(stack, token, body, source="erp")
    assert again.status_code == 202 and again.json()["new"] == 0
    status = subprocess.run([sys.executable, "-m", "mdm.cli.main", "status"], capture_output=True,
                            text=True, timeout=120,
                            env=dict(os.environ, MDM_DATABASE_URL=stack.hub_url, COLUMNS="400"))
    assert status.returncode == 0, status.stderr
    assert "failed change events" in status.stdout
    assert "NUL byte in after.name" in status.stdout and "991005" in status.stdout


def _without_lsn(event: dict) -> dict:
    for name in ("lsn", "sequence", "txId"):
        event["source"].pop(name)
    event.pop("transaction")
    return event


def test_changes_without_an_lsn_are_two_events_not_one_duplicate(stack):
    token = stack.token("svc.debezium-server", "service")
    created = _without_lsn(_supplier_insert("S-NOLSN-1", "无日志位置 一", 991100, 0, 0))
    updated = _without_lsn(_supplier_insert("S-NOLSN-1", "无日志位置 二", 991100, 0, 0))
    updated["op"], updated["before"] = "u", created["after"]
    first = _post(stack, token, created, source="erp")
    assert first.status_code == 202 and first.json()["new"] == 1, first.text
    assert eventually(lambda: len(_versions(stack, "S-NOLSN-1")) == 1, timeout=60)
    second = _post(stack, token, updated, source="erp")
    assert second.status_code == 202 and second.json()["new"] == 1, second.text  # not a duplicate
    assert eventually(lambda: len(_versions(stack, "S-NOLSN-1")) == 2, timeout=60)
    record = rows(stack.hub_url, "SELECT attributes FROM golden_record WHERE entity = 'supplier' "
                                 "AND business_key = 'S-NOLSN-1'")
    assert record[0]["attributes"]["name"] == "无日志位置 二"
    # the same event sent again (a retry of the sink) is absorbed, even with a new emit time
    updated["ts_ms"] += 5000
    assert _post(stack, token, updated, source="erp").json()["new"] == 0


class _JvmRecord:
    """A record as pydbzengine hands it to the handler: key(), value(), destination()."""

    def __init__(self, key: str, value: str, destination: str) -> None:
        self._key, self._value, self._destination = key, value, destination

    def key(self) -> str:
        return self._key

    def value(self) -> str:
        return self._value

    def destination(self) -> str:
        return self._destination


def test_a_source_row_postgresql_cannot_store_is_failed_and_capture_goes_on(stack):
    """The embedded engine's path: a row with a NUL byte (MySQL and SQL Server text may hold
    one) or a number beyond bigint used to raise DataError out of the handler, so Debezium
    stopped and handed the same batch back forever; now the batch is stored."""
    tx_id, lsn = _erp_position(stack.erp_url)
    nul = _supplier_insert("S-EMB-NUL", "嵌入\u0000引擎", 991200, tx_id, lsn)
    big = _supplier_insert("S-EMB-BIG", "超大事务号", 991201, tx_id, lsn + 1)
    big["source"]["sequence"] = f'["{lsn}","{lsn + 1}"]'
    big["source"]["txId"] = 2**63  # an unsigned 64-bit id: beyond the inbox's bigint
    good = _supplier_insert("S-EMB-OK", "嵌入引擎好记录", 991202, tx_id, lsn + 2)
    good["source"]["sequence"] = f'["{lsn}","{lsn + 2}"]'
    records = [_JvmRecord(json.dumps({"id": e["after"]["id"]}), json.dumps(e), "erp.public.supplier")
               for e in (nul, big, good)]
    project = load_project(stack.project_dir)
    handler = InboxHandler("erp", stack.hub_url, primary_keys(project, "erp"))
    handler.handle(records)  # returns: the batch is durable (it used to raise DataError)
    assert eventually(lambda: len(_versions(stack, "S-EMB-OK")) == 1, timeout=60)
    failed = [r["error"] for r in _inbox(stack, "status = 'failed' AND raw LIKE '%%S-EMB-%%'")]
    assert len(failed) == 2, failed
    assert any("NUL byte in after.name (public.supplier row 991200)" in f for f in failed)
    assert any("source.txId 9223372036854775808 is beyond bigint" in f for f in failed)
    assert _versions(stack, "S-EMB-NUL") == [] and _versions(stack, "S-EMB-BIG") == []


# -- property: random Debezium-like envelopes ------------------------------------------------
_ROW_IDS = count(992_000)
_POSTED: list[tuple[str, int]] = []  # (marker, row id) of every record that must be stored
_PRISTINE: list[int] = []  # row ids of records left valid: each must become a golden record

odd_numbers = st.one_of(
    st.integers(), st.integers(min_value=2**63 - 2, max_value=2**70), st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -1, 2**63, 2**64]))
odd_text = st.one_of(
    st.text(max_size=20), st.sampled_from(["", "\u0000", "a\u0000b", "\ud800", "[1]", "[]",
                                           '["1"]', '["a","b"]', '[null,null]', "null", "x" * 3000,
                                           "public", "supplier", "9" * 30]))
odd_values = st.one_of(st.none(), st.booleans(), odd_numbers, odd_text,
                       st.lists(st.one_of(st.none(), odd_numbers, odd_text), max_size=3),
                       st.dictionaries(odd_text, st.one_of(odd_numbers, odd_text), max_size=3))
SOURCE_FIELDS = ["sequence", "lsn", "txId", "ts_ms", "ts_us", "table", "schema", "snapshot"]
ROW_FIELDS = ["name", "short_name", "credit_limit", "payment_terms_days", "established_on",
              "last_audit_at", "remark", "active", "phone"]


@st.composite
def envelopes(draw: st.DrawFn, marker: str) -> tuple[dict, bool]:
    """A supplier change event of its own transaction, and whether it was made odd."""
    row_id = next(_ROW_IDS)
    event = _supplier_insert(f"SP-{row_id}", f"随机 {row_id}", row_id, 10_000 + row_id,
                             (1 << 40) + row_id)
    event["source"]["mdm_probe"] = marker  # found again in a failed record's raw copy
    event["before"] = dict(event["after"]) if draw(st.booleans()) else None
    mutations = draw(st.integers(0, 4))
    for _ in range(mutations):
        where = draw(st.sampled_from(["source", "after", "before", "op", "drop"]))
        if where == "source":
            event["source"][draw(st.sampled_from(SOURCE_FIELDS))] = draw(odd_values)
        elif where in ("after", "before") and isinstance(event.get(where), dict):
            event[where][draw(st.sampled_from(ROW_FIELDS))] = draw(odd_values)
        elif where == "op":
            event["op"] = draw(st.sampled_from(["c", "u", "d", "r", "x", "", None, 1]))
        else:
            event.pop(draw(st.sampled_from(["before", "after", "transaction"])), None)
    return event, mutations > 0


@given(st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def _post_random_batches(stack, token: str, data: st.DataObject) -> None:
    marker = uuid.uuid4().hex
    drawn = data.draw(st.lists(envelopes(marker), min_size=1, max_size=4))
    batch: list[Any] = [event for event, _ in drawn]
    if data.draw(st.booleans()):
        batch.insert(data.draw(st.integers(0, len(batch))),
                     data.draw(st.one_of(odd_values, st.just({"status": "END", "id": "x:1"}))))
    body = json.dumps(batch, allow_nan=True).encode()  # NaN and big integers as written
    reply = _post(stack, token, body, source="erp")
    assert reply.status_code < 500, reply.text
    if reply.status_code != 202:
        assert reply.json().get("detail"), reply.text  # refused, saying why (a pristine record
        # in a refused body is refused with it: the sender keeps it)
        assert not _inbox(stack, "raw LIKE %s", (f"%{marker}%",))
        return
    result = reply.json()
    _PRISTINE.extend(event["after"]["id"] for event, odd in drawn if not odd)
    assert result["records"] == (result["events"] + result["kept_unparseable"]
                                 + result["transactions_ended"] + result.get("ignored", 0)), result
    for event in batch:
        if not isinstance(event, dict) or "mdm_probe" not in event.get("source", {}):
            continue
        if "op" not in event or event["op"] == "m":
            continue  # a heartbeat: nothing to store
        row_id = next((img["id"] for img in (event.get("after"), event.get("before"))
                       if isinstance(img, dict)), None)
        found = _inbox(stack, "raw LIKE %s OR (source = 'erp' AND row_key = %s)",
                       (f"%{marker}%", str(row_id)))
        assert found, f"record vanished: {json.dumps(event, allow_nan=True)[:500]}"
        assert all(r["error"] for r in found if r["status"] == "failed")
        _POSTED.append((marker, row_id))


def test_random_envelopes_are_each_stored_or_refused_and_none_fails_the_batch(stack):
    token = stack.token("svc.debezium-server", "service")
    _post_random_batches(stack, token)
    assert _POSTED

    def settled() -> bool:  # every stored event processed (or failed) by the hub, none stuck
        pending = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE source = 'erp' "
                                      "AND status = 'pending' AND row_key::text ~ '^99[2-9][0-9]{3}$'")
        return pending[0]["n"] == 0

    assert eventually(settled, timeout=120)
    # a valid record beside odd ones is never failed with them: it becomes a golden record
    made = {r["source_key"] for r in rows(
        stack.hub_url, "SELECT source_key FROM golden_record WHERE entity = 'supplier' "
                       "AND source_key = ANY(%s)", ([str(i) for i in _PRISTINE],))}
    missing = sorted({str(i) for i in _PRISTINE} - made)
    assert not missing, _inbox(stack, "row_key = ANY(%s)", (missing,))
    unexplained = rows(stack.hub_url, "SELECT id, status, error FROM inbox WHERE source = 'erp' "
                                      "AND status IN ('failed', 'skipped') AND error IS NULL")
    assert unexplained == []
