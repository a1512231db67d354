"""`kind: webhook` on a real hub: a 钉钉 (DingTalk), 企业微信 (WeCom) or 飞书 (Feishu) approval
callback becomes a golden version of an entity whose system of record is the SaaS OA, the
instance fetched back from the OA's API; a purchase request posted whole, its lines inside,
becomes the same golden record as the same request captured from OA's database by Debezium
(a line removed between two versions included). One hub stack for the module.

The real cloud cannot be reached from here: the OA's API is a stand-in served from this test's
process (`StandIn`, tests/integration/webhook_stand_in.py), speaking the platforms' documented JSON (钉钉 gettoken +
topapi/processinstance/get, 企业微信 gettoken + oa/getapprovaldetail, 飞书 tenant_access_token +
approval/v4/instances); the callbacks are built with the platforms' documented algorithm.
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mdm.capture.webhook_api import PlatformApi
from mdm.capture.webhook_crypto import hmac_signature, wx_decrypt, wx_encrypt, wx_signature
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.errors import TerminalError, TransientError
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import eventually, execute, rows
from tests.integration.webhook_callbacks import ENV as CALLBACK_ENV
from tests.integration.webhook_callbacks import (
    lark_approval, lark_callback, signed_document, wecom_callback, wecom_url_check, write_feeds)
from tests.integration.webhook_stand_in import APP_KEY, APP_SECRET, StandIn

AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
TOKEN = "cb-token"
FEED = """\
name: ding_oa
kind: webhook
format: dingtalk
description: 钉钉 approvals (purchase requests)
table: saas_oa.approval_instance
token: ${DING_TOKEN}
aes_key: ${DING_AES}
owner_key: ${DING_APPKEY}
max_age_s: 300
fetch:
  api_base_url: ${DING_API}
  app_key: ${DING_APPKEY}
  app_secret: ${DING_APPSECRET}
  fields: {金额: amount, 事由: reason}
  retries: 5
  backoff_s: 0.2
"""
ENTITY = """\
entity: saas_purchase_request
source: ding_oa
table: saas_oa.approval_instance
primary_key: instance_id
business_key: business_id
attributes:
  business_id: {type: string}
  title: {type: string}
  status: {type: string}
  result: {type: string}
  amount: {type: string}
  reason: {type: string}
ignore_columns: [originator_userid, originator_dept_id, create_time, finish_time]
"""
FORMS = """\
name: forms
kind: webhook
format: hmac
description: a form system that signs its POSTs
table: forms.request
secret: ${FORMS_SECRET}
key_field: request_no
"""
FORMS_ENTITY = """\
entity: form_request
source: forms
table: forms.request
primary_key: request_no
business_key: request_no
attributes:
  request_no: {type: string, required: true}
  amount: {type: string}
"""


def ding_instance(title: str, result: str, amount: str) -> dict[str, Any]:
    return {"title": title, "status": "COMPLETED", "result": result, "business_id": f"B-{title}",
            "originator_userid": "zhang", "create_time": "2026-12-03 10:00:00",
            "form_component_values": [{"name": "金额", "value": amount},
                                      {"name": "事由", "value": "办公用品"},
                                      {"name": "附件", "value": "[]"}]}


@pytest.fixture(scope="module")
def oa() -> Iterator[StandIn]:
    s = StandIn()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hub(oa: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    root = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    (root / "cdc/ding_oa.yaml").write_text(FEED, encoding="utf-8")
    (root / "golden_records/saas_purchase_request.yaml").write_text(ENTITY, encoding="utf-8")
    (root / "cdc/forms.yaml").write_text(FORMS, encoding="utf-8")
    (root / "golden_records/form_request.yaml").write_text(FORMS_ENTITY, encoding="utf-8")
    write_feeds(root)  # 企业微信, 飞书 and a feed of documents with their lines inside
    env = {"DING_TOKEN": TOKEN, "DING_AES": AES, "DING_APPKEY": APP_KEY,
           "DING_APPSECRET": APP_SECRET, "DING_API": oa.url, "FORMS_SECRET": "forms-secret",
           **CALLBACK_ENV}
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=root, extra_env=env) as s:
        yield s


def callback(message: dict[str, Any], *, ts: float | None = None,
             token: str = TOKEN) -> tuple[dict[str, str], bytes]:
    encrypted = wx_encrypt(AES, json.dumps(message, ensure_ascii=False), APP_KEY)
    stamp = str(int((time.time() if ts is None else ts) * 1000))
    query = {"msg_signature": wx_signature(token, stamp, "nonce1", encrypted),
             "timestamp": stamp, "nonce": "nonce1"}
    return query, json.dumps({"encrypt": encrypted}).encode()


def approval(instance: str, kind: str = "finish") -> dict[str, Any]:
    return {"EventType": "bpms_instance_change", "processInstanceId": instance,
            "processCode": "PROC-PR", "corpId": "dingcorp", "type": kind, "result": "agree",
            "title": "采购申请", "staffId": "zhang", "createTime": 1764756000000}


def post(hub: DemoStack, query: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{hub.api_url}/api/v1/webhooks/ding_oa", params=query, content=body,
                      headers={"Content-Type": "application/json"}, timeout=30)


def inbox(hub: DemoStack) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT table_name, row_key, position, status, error FROM inbox "
                             "WHERE source = 'ding_oa' ORDER BY id")


def versions(hub: DemoStack, key: str) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT v.version, v.attributes FROM golden_version v JOIN "
                             "golden_record g ON g.id = v.golden_id WHERE g.entity = "
                             "'saas_purchase_request' AND g.source_key = %s ORDER BY v.version",
                (key,))


def test_a_signed_callback_becomes_a_golden_version_fetched_back_and_answered(hub, oa) -> None:
    oa.instances["PI-1"] = ding_instance("PI-1", "agree", "1200.50")
    response = post(hub, *callback(approval("PI-1")))
    assert response.status_code == 200, response.text
    print(f"webhook answered in {response.elapsed.total_seconds() * 1000:.1f} ms")
    answer = response.json()
    assert wx_decrypt(AES, answer["encrypt"], APP_KEY) == "success"
    assert answer["msg_signature"] == wx_signature(TOKEN, answer["timeStamp"], answer["nonce"],
                                                   answer["encrypt"])
    assert eventually(lambda: versions(hub, "PI-1"), timeout=120), inbox(hub)
    [v] = versions(hub, "PI-1")
    assert v["attributes"]["amount"] == "1200.50" and v["attributes"]["result"] == "agree"
    assert v["attributes"]["reason"] == "办公用品" and v["attributes"]["business_id"] == "B-PI-1"


def test_bad_signature_old_timestamp_and_malformed_body_are_refused_and_nothing_is_stored(hub) -> None:
    before = inbox(hub)
    bad = post(hub, *callback(approval("PI-X"), token="forged"))
    assert (bad.status_code, bad.json()["reason"]) == (401, "signature")
    old = post(hub, *callback(approval("PI-X"), ts=time.time() - 600))
    assert (old.status_code, old.json()["reason"]) == (401, "timestamp")
    future = post(hub, *callback(approval("PI-X"), ts=time.time() + 600))
    assert future.status_code == 401
    query, _ = callback(approval("PI-X"))
    for body in (b"not json", b'{"encrypt": 5}', b"[]"):
        malformed = post(hub, query, body)
        assert (malformed.status_code, malformed.json()["reason"]) == (400, "malformed")
    huge = post(hub, query, b'{"encrypt": "' + b"A" * (2 << 20) + b'"}')
    assert huge.status_code == 413  # the API's body limit (MDM_API_MAX_BODY_BYTES)
    assert inbox(hub) == before


def test_a_replayed_callback_is_absorbed_one_row_one_version(hub, oa) -> None:
    oa.instances["PI-R"] = ding_instance("PI-R", "agree", "9")
    query, body = callback(approval("PI-R"))
    assert post(hub, query, body).status_code == 200
    assert eventually(lambda: versions(hub, "PI-R"), timeout=120)
    assert post(hub, query, body).status_code == 200  # the platform's retry, same message
    again = callback(approval("PI-R"))  # re-encrypted and re-signed, same message
    assert post(hub, *again).status_code == 200
    callbacks = [r for r in inbox(hub) if r["row_key"] == "PI-R"
                 and r["table_name"].endswith(".callback")]
    assert len(callbacks) == 1
    assert len(versions(hub, "PI-R")) == 1


def test_the_fetch_back_failing_with_503_is_retried(hub, oa) -> None:
    oa.instances["PI-F"] = ding_instance("PI-F", "refuse", "77")
    with oa.lock:
        oa.fail_next = 1
    assert post(hub, *callback(approval("PI-F"))).status_code == 200
    assert eventually(lambda: versions(hub, "PI-F"), timeout=120), inbox(hub)
    assert oa.calls["PI-F"] >= 2
    assert versions(hub, "PI-F")[0]["attributes"]["result"] == "refuse"


def test_a_callback_while_the_hub_is_down_is_sent_again_and_becomes_one_version(hub, oa) -> None:
    oa.instances["PI-D"] = ding_instance("PI-D", "agree", "5")
    query, body = callback(approval("PI-D"))
    hub.kill_hub()
    with pytest.raises(httpx.TransportError):
        post(hub, query, body)
    hub.start_hub()
    assert post(hub, query, body).status_code == 200  # the platform's retry
    assert eventually(lambda: versions(hub, "PI-D"), timeout=120), inbox(hub)
    assert len([r for r in inbox(hub) if r["row_key"] == "PI-D"]) == 2  # callback + document
    assert len(versions(hub, "PI-D")) == 1


def test_a_verified_callback_the_hub_cannot_map_is_kept_failed_with_its_reason(hub) -> None:
    response = post(hub, *callback({"EventType": "bpms_instance_change", "type": "start"}))
    assert response.status_code == 200
    failed = [r for r in inbox(hub) if r["status"] == "failed"]
    assert failed and "no key" in failed[-1]["error"]


def test_an_instance_the_oa_does_not_know_is_kept_failed_not_retried_forever(hub, oa) -> None:
    assert post(hub, *callback(approval("PI-GONE"))).status_code == 200
    assert eventually(lambda: [r for r in inbox(hub) if r["row_key"] == "PI-GONE"
                               and r["status"] == "failed"], timeout=120), inbox(hub)
    failed = [r for r in inbox(hub) if r["row_key"] == "PI-GONE" and r["status"] == "failed"]
    assert "gave up" in failed[0]["error"] and "instance not found" in failed[0]["error"]


def test_a_signed_hmac_post_is_the_document_itself(hub) -> None:
    body = json.dumps({"request_no": "FR-1", "amount": "42.00"}).encode()

    def send(secret: str = "forms-secret") -> httpx.Response:
        stamp = str(int(time.time()))
        return httpx.post(f"{hub.api_url}/api/v1/webhooks/forms", content=body, timeout=30,
                          headers={"X-Timestamp": stamp, "X-Event-Id": "evt-1",
                                   "X-Signature": hmac_signature(secret, stamp, body)})

    assert send("wrong").status_code == 401
    assert send().status_code == 200 and send().status_code == 200  # sent twice

    def found() -> list[dict[str, Any]]:
        return rows(hub.hub_url, "SELECT v.attributes FROM golden_version v JOIN golden_record g "
                                 "ON g.id = v.golden_id WHERE g.entity = 'form_request'")
    assert eventually(found, timeout=120)
    assert [r["attributes"]["amount"] for r in found()] == ["42.00"]
    stored = rows(hub.hub_url, "SELECT position FROM inbox WHERE source = 'forms'")
    assert [r["position"] for r in stored] == ["h/evt-1"]


def _api(oa: StandIn, fmt: str, key: str = "corp", secret: str = "secret") -> PlatformApi:
    extra: dict[str, Any] = ({"encrypt_key": "${K}"} if fmt == "feishu" else
                             {"token": "${K}", "aes_key": "${K}", "owner_key": "${K}"})
    spec = WebhookFeed.model_validate({
        "name": "oa", "kind": "webhook", "format": fmt, "table": "t", **extra,
        "fetch": {"app_key": "${K}", "app_secret": "${K}", "fields": {"金额": "amount"}}})
    return PlatformApi(spec, key, secret, oa.url)


def test_the_wecom_and_feishu_clients_read_the_documented_json(oa) -> None:
    oa.instances["202312010001"] = {
        "sp_no": "202312010001", "sp_name": "采购", "sp_status": 2, "template_id": "T1",
        "apply_time": 1700000000, "applyer": {"userid": "li"}, "apply_data": {"contents": [
            {"control": "Money", "title": [{"text": "金额", "lang": "zh_CN"}],
             "value": {"new_money": "88.00"}}]}}
    row = _api(oa, "wecom").document("202312010001")
    assert row["instance_id"] == "202312010001" and row["amount"] == "88.00"
    assert row["sp_status"] == 2 and row["applyer_userid"] == "li"
    oa.instances["INST-9"] = {"approval_code": "A1", "status": "APPROVED", "serial_number": "S9",
                              "form": json.dumps([{"id": "w1", "name": "金额", "type": "amount",
                                                   "value": 12.5}])}
    row = _api(oa, "feishu").document("INST-9")
    assert row["status"] == "APPROVED" and row["amount"] == 12.5
    with oa.lock:
        oa.fail_next = 1
    with pytest.raises(TransientError):
        _api(oa, "feishu").document("INST-9")
    with pytest.raises(TerminalError):
        _api(oa, "dingtalk", APP_KEY, APP_SECRET).document("nope")


def _golden(hub: DemoStack, entity: str, key: str) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT v.version, v.attributes FROM golden_version v JOIN "
                             "golden_record g ON g.id = v.golden_id WHERE g.entity = %s AND "
                             "g.source_key = %s ORDER BY v.version", (entity, key))


def _stored(hub: DemoStack, source: str) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT table_name, row_key, op, status, error FROM inbox "
                             "WHERE source = %s ORDER BY id", (source,))


def _post(hub: DemoStack, source: str, *, params: Any = None, headers: Any = None,
          body: bytes = b"") -> httpx.Response:
    return httpx.post(f"{hub.api_url}/api/v1/webhooks/{source}", params=params, content=body,
                      headers=headers, timeout=30)


def test_a_wecom_callback_becomes_a_version_a_forged_one_is_refused_a_repeat_absorbed(hub, oa) -> None:
    sp_no = "202612040001"
    oa.instances[sp_no] = {
        "sp_no": sp_no, "sp_name": "采购", "sp_status": 2, "template_id": "T1",
        "apply_time": 1764756000, "applyer": {"userid": "li"}, "apply_data": {"contents": [
            {"control": "Money", "title": [{"text": "金额", "lang": "zh_CN"}],
             "value": {"new_money": "3600.00"}}]}}
    url = f"{hub.api_url}/api/v1/webhooks/wx_oa"
    echo = httpx.get(url, params=wecom_url_check("echo-wx-1"), timeout=30)  # the URL check
    assert (echo.status_code, echo.text) == (200, "echo-wx-1")
    forged = _post(hub, "wx_oa", params=wecom_callback(sp_no, token="forged")[0],
                   body=wecom_callback(sp_no)[1])
    assert (forged.status_code, forged.json()["reason"]) == (401, "signature")
    assert _stored(hub, "wx_oa") == []
    query, body = wecom_callback(sp_no)
    assert _post(hub, "wx_oa", params=query, body=body).status_code == 200
    assert eventually(lambda: _golden(hub, "wx_request", sp_no), timeout=120), _stored(hub, "wx_oa")
    [v] = _golden(hub, "wx_request", sp_no)
    assert (v["attributes"]["amount"], v["attributes"]["sp_name"]) == ("3600.00", "采购")
    assert str(v["attributes"]["sp_status"]) == "2"
    assert _post(hub, "wx_oa", params=query, body=body).status_code == 200  # the retry
    again = wecom_callback(sp_no)  # encrypted and signed anew: the same message
    assert _post(hub, "wx_oa", params=again[0], body=again[1]).status_code == 200
    callbacks = [r for r in _stored(hub, "wx_oa") if r["table_name"].endswith(".callback")]
    assert len(callbacks) == 1 and len(_golden(hub, "wx_request", sp_no)) == 1


def test_a_feishu_event_becomes_a_version_a_forged_one_is_refused_a_repeat_absorbed(hub, oa) -> None:
    oa.instances["LARK-INST-1"] = {
        "approval_code": "A-PR", "approval_name": "采购申请", "status": "APPROVED",
        "serial_number": "202612040007", "user_id": "wang", "start_time": "1764756000000",
        "form": json.dumps([{"id": "w1", "name": "金额", "type": "amount", "value": "86.50"}])}
    challenge = _post(hub, "lark_oa", headers={"Content-Type": "application/json"},
                      body=json.dumps({"challenge": "c-9", "token": CALLBACK_ENV["LARK_TOKEN"],
                                       "type": "url_verification"}).encode())
    assert (challenge.status_code, challenge.json()) == (200, {"challenge": "c-9"})
    event = lark_approval("ev-lark-1", "LARK-INST-1")
    headers, body = lark_callback(event, key="not-the-key")
    forged = _post(hub, "lark_oa", headers=headers, body=body)
    assert (forged.status_code, forged.json()["reason"]) == (401, "signature")
    assert _stored(hub, "lark_oa") == []
    headers, body = lark_callback(event)
    answer = _post(hub, "lark_oa", headers=headers, body=body)
    assert (answer.status_code, answer.json()) == (200, {"msg": "success"})
    assert eventually(lambda: _golden(hub, "lark_request", "LARK-INST-1"), timeout=120), \
        _stored(hub, "lark_oa")
    [v] = _golden(hub, "lark_request", "LARK-INST-1")
    assert v["attributes"] == {"serial_number": "202612040007", "status": "APPROVED",
                               "amount": "86.50"}
    assert _post(hub, "lark_oa", headers=headers, body=body).status_code == 200  # resent
    anew = lark_callback(event)  # the same event (event_id), encrypted and signed anew
    assert _post(hub, "lark_oa", headers=anew[0], body=anew[1]).status_code == 200
    callbacks = [r for r in _stored(hub, "lark_oa") if r["table_name"].endswith(".callback")]
    assert len(callbacks) == 1 and len(_golden(hub, "lark_request", "LARK-INST-1")) == 1


def _oa_request(hub: DemoStack, lines: int) -> tuple[int, str]:
    """A purchase request with `lines` lines written into OA's database (captured by CDC)."""
    import psycopg

    with psycopg.connect(hub.pg.url("oa")) as conn:
        row = conn.execute(
            "INSERT INTO oa_purchase_request (title, requester, dept_code, vendor_code) VALUES "
            "('同一张采购申请', 'E0001', 'D01', 'S0001') RETURNING id, request_no").fetchone()
        assert row is not None
        for n in range(1, lines + 1):
            conn.execute("INSERT INTO oa_purchase_request_line (request_id, line_no, "
                         "material_code, quantity, unit_price, needed_by) VALUES "
                         "(%s, %s, %s, %s, %s, '2026-12-20')",
                         (row[0], n, f"M-100{n}", f"{n}.500", f"1{n}.2500"))
    return row[0], row[1]


def _as_document(hub: DemoStack, request_id: int) -> dict[str, Any]:
    """The request as one JSON, as a SaaS OA would post it: the header's columns, its lines
    inside (the values as OA's database writes them)."""
    [header] = rows(hub.pg.url("oa"), "SELECT id, request_no, title, requester, dept_code, "
                    "vendor_code, status, submitted_at::text, approver, approved_at::text, "
                    "approval_comment, po_no, po_status FROM oa_purchase_request WHERE id = %s",
                    (request_id,))
    lines = rows(hub.pg.url("oa"), "SELECT line_no, material_code, quantity::text, "
                 "unit_price::text, needed_by::text FROM oa_purchase_request_line WHERE "
                 "request_id = %s ORDER BY line_no", (request_id,))
    return {**header, "lines": lines}


def _post_document(hub: DemoStack, oa: StandIn, doc: dict[str, Any], version: int) -> None:
    headers, body = signed_document(doc, f"{doc['request_no']}-v{version}")
    assert _post(hub, "pr_docs", headers=headers, body=body).status_code == 200


def _list_document(hub: DemoStack, oa: StandIn, doc: dict[str, Any], version: int) -> None:
    with oa.lock:  # modified now: the poll's next page lists it
        oa.listed[doc["id"]] = {**doc, "modified_at": int(time.time() * 1000) + version}


@pytest.mark.parametrize("source, entity, deliver", [
    ("pr_docs", "doc_purchase_request", _post_document),  # a webhook posts it whole
    ("pr_poll", "polled_purchase_request", _list_document),  # an API poll lists it whole
])
def test_a_document_with_its_lines_inside_is_the_same_golden_record_as_captured_by_cdc(
        hub, oa, source, entity, deliver) -> None:
    request_id, request_no = _oa_request(hub, lines=3)
    cdc = lambda: [r for r in rows(hub.hub_url, "SELECT attributes, version FROM golden_record "  # noqa: E731
                                   "WHERE entity = 'purchase_request' AND business_key = %s",
                                   (request_no,))]
    assert eventually(lambda: cdc() and len(cdc()[0]["attributes"]["lines"]) == 3, timeout=120)
    deliver(hub, oa, _as_document(hub, request_id), 1)
    key = str(request_id)
    assert eventually(lambda: _golden(hub, entity, key), timeout=120), _stored(hub, source)
    [first] = _golden(hub, entity, key)
    assert [ln["line_no"] for ln in first["attributes"]["lines"]] == [1, 2, 3]
    assert first["attributes"] == cdc()[0]["attributes"]
    # line 2 goes: deleted in OA's database, and missing from the document's next version
    execute(hub.pg.url("oa"), f"DELETE FROM oa_purchase_request_line WHERE request_id = "
                              f"{request_id} AND line_no = 2")
    assert eventually(lambda: len(cdc()[0]["attributes"]["lines"]) == 2, timeout=120)
    deliver(hub, oa, _as_document(hub, request_id), 2)
    assert eventually(lambda: len(_golden(hub, entity, key)) == 2, timeout=120), \
        _stored(hub, source)
    second = _golden(hub, entity, key)[-1]
    assert [ln["line_no"] for ln in second["attributes"]["lines"]] == [1, 3]
    assert second["attributes"] == cdc()[0]["attributes"]
    deletes = [r for r in _stored(hub, source) if r["op"] == "d" and r["row_key"].startswith(key)]
    assert [(r["table_name"], r["row_key"]) for r in deletes] == [
        (f"{source.replace('_', '')}.request_line", f"{key}|2")]
    assert [r for r in _stored(hub, source) if r["status"] == "failed"] == []
