"""Each webhook format: a valid callback is read; a bad signature, a timestamp outside the
window and a malformed body are refused (nothing to store); a verified callback the hub cannot
map is kept failed; the platform gets the answer it expects."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from pydantic import ValidationError

from mdm.capture.models import PoisonRecord
from mdm.capture.webhook import batch_of, verify
from mdm.capture.webhook_crypto import (
    hmac_signature, lark_encrypt, lark_signature, wx_decrypt, wx_encrypt, wx_signature)
from mdm.capture.webhook_formats import Refused, Request
from mdm.config.feed_webhook import WebhookFeed

AES = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
SECRETS = {"WH_TOKEN": "tok", "WH_AES": AES, "WH_OWNER": "dingapp", "WH_KEY": "lark-key",
           "WH_SECRET": "s3cret"}


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)


def spec(fmt: str, **extra: Any) -> WebhookFeed:
    base: dict[str, Any] = {"name": "oa_saas", "kind": "webhook", "format": fmt,
                            "table": "saas.approval"}
    if fmt in ("dingtalk", "wecom"):
        base |= {"token": "${WH_TOKEN}", "aes_key": "${WH_AES}", "owner_key": "${WH_OWNER}"}
    elif fmt == "feishu":
        base |= {"encrypt_key": "${WH_KEY}", "token": "${WH_TOKEN}"}
    else:
        base |= {"secret": "${WH_SECRET}"}
    return WebhookFeed.model_validate(base | extra)


def ding(message: dict[str, Any], *, ts: float | None = None, token: str = "tok") -> Request:
    encrypted = wx_encrypt(AES, json.dumps(message), "dingapp")
    stamp = str(int((time.time() if ts is None else ts) * 1000))
    sig = wx_signature(token, stamp, "n0nce", encrypted)
    return Request("POST", {"msg_signature": sig, "timestamp": stamp, "nonce": "n0nce"}, {},
                   json.dumps({"encrypt": encrypted}).encode())


APPROVED = {"EventType": "bpms_instance_change", "processInstanceId": "PI-1",
            "processCode": "PROC-1", "type": "finish", "result": "agree", "title": "采购申请"}


def refused(s: WebhookFeed, r: Request) -> Refused:
    with pytest.raises(Refused) as caught:
        verify(s, r)
    return caught.value


def test_dingtalk_reads_the_approval_and_answers_an_encrypted_success() -> None:
    read = verify(spec("dingtalk"), ding(APPROVED))
    [item] = read.items
    assert item.key == "PI-1" and item.fields["result"] == "agree" and item.fields["type"] == "finish"
    a = read.answer
    assert a["msg_signature"] == wx_signature("tok", a["timeStamp"], a["nonce"], a["encrypt"])
    assert wx_decrypt(AES, a["encrypt"], "dingapp") == "success"
    assert verify(spec("dingtalk"), ding(APPROVED)).items[0].event_id == item.event_id  # resent


def test_dingtalk_refuses_a_bad_signature_an_old_or_future_timestamp_and_a_bad_body() -> None:
    s = spec("dingtalk")
    assert refused(s, ding(APPROVED, token="wrong")).reason == "signature"
    old = refused(s, ding(APPROVED, ts=time.time() - 301))
    assert (old.status, old.reason) == (401, "timestamp") and "old" in old.detail
    assert "future" in refused(s, ding(APPROVED, ts=time.time() + 400)).detail
    assert refused(s, Request("POST", {}, {}, b"not json")).status == 400
    assert refused(s, Request("POST", {}, {}, b'{"x": 1}')).reason == "malformed"
    assert verify(spec("dingtalk", max_age_s=600), ding(APPROVED, ts=time.time() - 500)).items


def test_dingtalk_check_url_and_other_events_are_answered_not_stored() -> None:
    read = verify(spec("dingtalk"), ding({"EventType": "check_url"}))
    assert read.items == [] and read.answer["encrypt"]
    assert verify(spec("dingtalk"), ding({"EventType": "user_add_org"})).ignored == ["user_add_org"]


def test_a_verified_callback_without_an_instance_id_is_kept_failed() -> None:
    s = spec("dingtalk")
    read = verify(s, ding({"EventType": "bpms_instance_change", "type": "start"}))
    batch = batch_of(s, read.items)
    assert batch.events == [] and isinstance(batch.poison[0], PoisonRecord)
    assert "no key" in batch.poison[0].reason


def test_with_fetch_the_callback_waits_in_the_callbacks_table() -> None:
    s = spec("dingtalk", fetch={"app_key": "${WH_OWNER}", "app_secret": "${WH_SECRET}"})
    [event] = batch_of(s, verify(s, ding(APPROVED)).items).events
    assert event.table == "saas.approval.callback" and event.position.startswith("h/")
    [plain] = batch_of(spec("dingtalk"), verify(spec("dingtalk"), ding(APPROVED)).items).events
    assert plain.table == "saas.approval" and plain.after["instance_id"] == "PI-1"


WECOM_MSG = ("<xml><ToUserName>corp</ToUserName><CreateTime>1700000000</CreateTime>"
             "<MsgType>event</MsgType><Event>sys_approval_change</Event><ApprovalInfo>"
             "<SpNo>202312010001</SpNo><SpName>采购</SpName><SpStatus>2</SpStatus>"
             "<Applyer><UserId>zhang</UserId></Applyer></ApprovalInfo></xml>")


def wecom(message: str, *, ts: float | None = None, sig: str | None = None) -> Request:
    encrypted = wx_encrypt(AES, message, "dingapp")
    stamp = str(int(time.time() if ts is None else ts))
    q = {"msg_signature": sig or wx_signature("tok", stamp, "n", encrypted), "timestamp": stamp,
         "nonce": "n"}
    return Request("POST", q, {}, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode())


def test_wecom_reads_sys_approval_change_and_checks_the_url() -> None:
    s = spec("wecom")
    [item] = verify(s, wecom(WECOM_MSG)).items
    assert item.key == "202312010001" and item.fields["sp_status"] == "2"
    assert item.fields["applyer_userid"] == "zhang"
    echo = wx_encrypt(AES, "echo-123", "dingapp")
    stamp = str(int(time.time()))
    q = {"msg_signature": wx_signature("tok", stamp, "n", echo), "timestamp": stamp,
         "nonce": "n", "echostr": echo}
    assert verify(s, Request("GET", q, {}, b"")).answer == "echo-123"


def test_wecom_refuses_what_it_must() -> None:
    s = spec("wecom")
    assert refused(s, wecom(WECOM_MSG, sig="0" * 40)).reason == "signature"
    assert refused(s, wecom(WECOM_MSG, ts=time.time() - 3600)).reason == "timestamp"
    assert refused(s, Request("POST", {}, {}, b"<xml><nothing/></xml>")).status == 400
    assert refused(s, Request("POST", {}, {}, b"<!DOCTYPE x><xml/>")).status == 400


def lark(event: dict[str, Any], *, ts: float | None = None, key: str = "lark-key",
         encrypt: bool = True) -> Request:
    body = json.dumps({"encrypt": lark_encrypt("lark-key", json.dumps(event))} if encrypt
                      else event).encode()
    stamp = str(int(time.time() if ts is None else ts))
    return Request("POST", {}, {"x-lark-request-timestamp": stamp, "x-lark-request-nonce": "nn",
                                "x-lark-signature": lark_signature(stamp, "nn", key, body)}, body)


LARK_V2 = {"schema": "2.0", "header": {"event_id": "ev-1", "event_type": "approval_instance",
                                       "create_time": "1700000000000", "token": "tok"},
           "event": {"instance_code": "INST-1", "status": "APPROVED", "approval_code": "A-1"}}
LARK_V1 = {"uuid": "u-1", "token": "tok", "ts": "1700000000.1", "type": "event_callback",
           "event": {"type": "approval_instance", "instance_code": "INST-2", "status": "REJECTED"}}


def test_feishu_reads_v1_and_v2_events_encrypted_or_not() -> None:
    s = spec("feishu")
    [v2] = verify(s, lark(LARK_V2)).items
    assert (v2.key, v2.event_id, v2.fields["status"]) == ("INST-1", "ev-1", "APPROVED")
    [v1] = verify(s, lark(LARK_V1, encrypt=False)).items
    assert (v1.key, v1.event_id) == ("INST-2", "u-1")


def test_feishu_url_verification_answers_the_challenge() -> None:
    body = json.dumps({"encrypt": lark_encrypt("lark-key", json.dumps(
        {"challenge": "c-1", "token": "tok", "type": "url_verification"}))}).encode()
    assert verify(spec("feishu"), Request("POST", {}, {}, body)).answer == {"challenge": "c-1"}


def test_feishu_refuses_a_wrong_signature_token_or_timestamp_and_an_unsigned_event() -> None:
    s = spec("feishu")
    assert refused(s, lark(LARK_V2, key="other")).reason == "signature"
    assert refused(s, lark(LARK_V2, ts=time.time() - 1000)).reason == "timestamp"
    wrong = {**LARK_V2, "header": {**LARK_V2["header"], "token": "bad"}}
    assert refused(s, lark(wrong)).reason == "signature"
    unsigned = Request("POST", {}, {}, json.dumps(LARK_V2).encode())
    assert refused(s, unsigned).reason == "signature"


def signed(body: bytes, *, ts: float | None = None, secret: str = "s3cret",
           event_id: str | None = None) -> Request:
    stamp = str(int(time.time() if ts is None else ts))
    headers = {"x-timestamp": stamp, "x-signature": "sha256=" + hmac_signature(secret, stamp, body)}
    return Request("POST", {}, headers | ({"x-event-id": event_id} if event_id else {}), body)


def test_hmac_keeps_the_document_and_identifies_it_by_event_id_or_hash() -> None:
    s = spec("hmac", key_field="request_no")
    body = b'{"request_no": "PR-1", "amount": 10}'
    [item] = verify(s, signed(body)).items
    assert item.key == "PR-1" and item.fields["amount"] == 10
    assert item.event_id == hashlib.sha256(body).hexdigest()[:32]
    assert verify(s, signed(body, event_id="e-9")).items[0].event_id == "e-9"
    assert refused(s, signed(body, secret="x")).reason == "signature"
    assert refused(s, signed(body, ts=time.time() - 301)).reason == "timestamp"
    assert refused(s, signed(b"[1, 2]")).status == 400
    custom = spec("hmac", signature_header="X-Hub-Sig", timestamp_header="X-Hub-Ts")
    stamp = str(int(time.time()))
    r = Request("POST", {}, {"x-hub-ts": stamp, "x-hub-sig": hmac_signature("s3cret", stamp, body)},
                body)
    assert verify(custom, r).items


def test_a_literal_secret_or_a_missing_one_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match=r"\$\{VAR\}"):
        spec("hmac", secret="plaintext")
    with pytest.raises(ValidationError, match="needs secret"):
        WebhookFeed.model_validate({"name": "x", "kind": "webhook", "format": "hmac", "table": "t"})
    with pytest.raises(ValidationError, match="nothing to fetch"):
        spec("hmac", fetch={"app_key": "${A}", "app_secret": "${B}"})


def test_an_unset_secret_is_a_503_naming_the_file_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WH_SECRET")
    caught = refused(spec("hmac"), signed(b"{}"))
    assert caught.status == 503 and "cdc/oa_saas.yaml" in caught.detail


def test_mdm_check_names_the_file_and_key_of_a_literal_secret(project) -> None:  # noqa: ANN001
    from mdm.config.loader import load_project
    from mdm.errors import ConfigError
    (project / "cdc/forms.yaml").write_text(
        "name: forms\nkind: webhook\nformat: hmac\ntable: forms.request\nsecret: hunter2\n")
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    message = str(caught.value)
    assert "cdc/forms.yaml" in message and "secret" in message and "${VAR}" in message
    assert "hunter2" not in message
