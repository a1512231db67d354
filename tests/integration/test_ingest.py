"""HTTP ingest (`POST /api/v1/ingest/debezium`): what Debezium Server's HTTP sink posts becomes
inbox rows, then versions, with the same lineage as the embedded engine's events; a batch sent
twice changes nothing; an unparseable record is kept with its reason and the rest flow on.

Debezium Server itself is not on this machine (it is a Java distribution, not a package on
PyPI), so the bodies here are built in its format: the JSON converter's envelope with the
`schema`/`payload` wrapper it adds by default, the `source` block of the PostgreSQL connector
(`name` = topic.prefix, `sequence`, `lsn`, `txId`, `ts_us`), and the transaction END record.
The LSN and transaction id are the ERP's own, read from it for each test."""
from __future__ import annotations

import time

import httpx
import orjson
import psycopg
import pytest

from tests.helpers import eventually, rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py


def _erp_position(erp_url: str) -> tuple[int, int]:
    """A fresh transaction id and the current WAL position of the ERP, as integers."""
    with psycopg.connect(erp_url, autocommit=True) as conn:
        row = conn.execute("SELECT txid_current(), pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _supplier_insert(code: str, name: str, row_id: int, tx_id: int, lsn: int) -> dict:
    now_us = int(time.time() * 1_000_000)
    return {
        "before": None,
        "after": {"id": row_id, "code": code, "name": name, "short_name": None, "category": "原材料",
                  "contact_person": "赵敏", "phone": "021-5555-0101", "address": "上海市浦东新区",
                  "credit_limit": "80000.00", "payment_terms_days": 30, "established_on": None,
                  "last_audit_at": None, "remark": None, "active": True},
        "source": {"version": "3.6.3.Final", "connector": "postgresql", "name": "erp",
                   "ts_ms": now_us // 1000, "ts_us": now_us, "snapshot": "false", "db": "erp",
                   "sequence": f'["{lsn}","{lsn}"]', "schema": "public", "table": "supplier",
                   "txId": tx_id, "lsn": lsn, "xmin": None},
        "transaction": {"id": f"{tx_id}:{lsn}", "total_order": 1, "data_collection_order": 1},
        "op": "c", "ts_ms": now_us // 1000,
    }


def _wrapped(payload: dict) -> dict:
    """The JSON converter's default form (`schemas.enable=true`); the schema is abridged."""
    return {"schema": {"type": "struct", "name": "erp.public.supplier.Envelope", "optional": False,
                       "fields": []}, "payload": payload}


def _end(tx_id: int, lsn: int, events: int) -> dict:
    return {"status": "END", "id": f"{tx_id}:{lsn}", "event_count": events,
            "data_collections": [{"data_collection": "public.supplier", "event_count": events}]}


def _post(stack, token: str, body: object, **params: str) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/api/v1/ingest/debezium", params=params, timeout=30,
                      content=body if isinstance(body, bytes) else orjson.dumps(body), headers={"Authorization": f"Bearer {token}",
                                                           "Content-Type": "application/json"})


def _versions(stack, code: str) -> list[dict]:
    reply = stack.client("ingest.reader", "auditor").get(f"/api/v1/records/supplier/{code}/history")
    return reply.json() if reply.status_code == 200 else []


def test_a_posted_change_event_becomes_a_version_that_cites_the_erp_commit(stack):
    token = stack.token("svc.debezium-server", "service")
    tx_id, lsn = _erp_position(stack.erp_url)
    event = _supplier_insert("S-HTTP-01", "经HTTP接入的供应商", 990001, tx_id, lsn)
    reply = _post(stack, token, [_wrapped(event), _end(tx_id, lsn, 1)])
    assert reply.status_code == 202, reply.text
    assert reply.json() | {"received_by": None} == {
        "source": "erp", "records": 2, "events": 1, "new": 1, "kept_unparseable": 0,
        "transactions_ended": 1, "ignored": 0, "received_by": None}
    assert eventually(lambda: len(_versions(stack, "S-HTTP-01")) == 1, timeout=60)
    [version] = _versions(stack, "S-HTTP-01")
    assert version["attributes"]["name"] == "经HTTP接入的供应商"
    assert version["cause"] | {"commit_ts": None} == {
        "kind": "change_event", "source": "erp", "table": "public.supplier", "row_key": "990001",
        "op": "c", "lsn": lsn, "tx_id": tx_id, "commit_ts": None}
    # the sink sends a batch again after a timeout: the inbox absorbs it, no second version
    again = _post(stack, token, [_wrapped(event), _end(tx_id, lsn, 1)])
    assert again.status_code == 202 and again.json()["new"] == 0
    time.sleep(1.0)
    assert len(_versions(stack, "S-HTTP-01")) == 1


def test_an_unparseable_record_is_kept_with_its_reason_and_the_rest_flow_on(stack):
    token = stack.token("svc.debezium-server", "service")
    tx_id, lsn = _erp_position(stack.erp_url)
    broken = _supplier_insert("S-HTTP-02", "缺表名", 990002, tx_id, lsn)
    del broken["source"]["table"]
    good = _supplier_insert("S-HTTP-03", "随后的好记录", 990003, tx_id, lsn + 8)
    good["source"]["sequence"] = f'["{lsn}","{lsn + 8}"]'
    reply = _post(stack, token, [broken, good, _end(tx_id, lsn, 2)])
    assert reply.status_code == 202, reply.text
    assert (reply.json()["events"], reply.json()["kept_unparseable"]) == (1, 1)
    assert eventually(lambda: len(_versions(stack, "S-HTTP-03")) == 1, timeout=60)
    kept = rows(stack.hub_url, "SELECT status, error FROM inbox WHERE source = 'erp' AND status = 'failed' "
                               "AND error LIKE '%%no table%%' AND raw LIKE '%%S-HTTP-02%%'")
    assert len(kept) == 1 and "unparseable Debezium record" in kept[0]["error"]
    assert _versions(stack, "S-HTTP-02") == []


def test_a_body_from_an_unknown_source_is_refused_and_stores_nothing(stack):
    token = stack.token("svc.debezium-server", "service")
    tx_id, lsn = _erp_position(stack.erp_url)
    event = _supplier_insert("S-HTTP-04", "未知来源", 990004, tx_id, lsn)
    event["source"]["name"] = "crm"
    before = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox")[0]["n"]
    reply = _post(stack, token, event)
    assert reply.status_code == 422 and "unknown source 'crm'" in reply.json()["detail"]
    assert "erp" in reply.json()["detail"]  # it names the configured sources
    empty = _post(stack, token, b"")
    assert empty.status_code == 400 and "empty body" in empty.json()["detail"]
    assert rows(stack.hub_url, "SELECT count(*) AS n FROM inbox")[0]["n"] == before


def test_only_the_service_role_may_ingest(stack):
    tx_id, lsn = _erp_position(stack.erp_url)
    event = _supplier_insert("S-HTTP-05", "管理员不能接入", 990005, tx_id, lsn)
    for role in ("steward", "auditor", "admin"):
        reply = _post(stack, stack.token(f"ingest.{role}", role), event)
        assert reply.status_code == 403, (role, reply.text)
    assert _versions(stack, "S-HTTP-05") == []
