"""Each `format:`'s callback: verified, decrypted and read into the events it carries.

What is refused (`Refused`, nothing stored): a bad or missing signature (401, reason
"signature"), a timestamp outside the replay window `max_age_s` either way (401, reason
"timestamp"), a body that is not the platform's shape, cannot be decrypted or is not JSON/XML
(400, reason "malformed"). A verified callback is read into `Item`s; one the hub cannot map
(no instance id, an hmac document without its key) is still an item — the inbox keeps it
failed with the reason (mdm/capture/documents.py), never lost.

Sources: mdm/capture/webhook_crypto.py (schemes); the events' fields: 钉钉 "审批事件"
bpms_instance_change / bpms_task_change (processInstanceId, processCode, type start|finish|
terminate, result agree|refuse, title, staffId, createTime, finishTime); 企业微信 "审批申请状态
变化回调通知" sys_approval_change (ApprovalInfo: SpNo, SpName, SpStatus, TemplateId, ApplyTime,
Applyer/UserId, StatuChangeEvent); 飞书 approval_instance (v1: uuid, event.instance_code,
status, approval_code, operate_time) and the v2 schema (header.event_id, event_type,
create_time, token).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mdm.capture.webhook_crypto import (
    Undecryptable, equal, hmac_signature, lark_decrypt, lark_signature, wx_decrypt,
    wx_encrypt, wx_signature)
from mdm.config.feed_webhook import WebhookFeed

Secrets = Callable[[str | None], str]  # a ${VAR} reference → its value


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class Request:
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Item:
    event_type: str
    event_id: str  # the platform's id, or a hash of the signed message
    key: str | None  # the instance id / the document's key
    fields: dict[str, Any]


@dataclass
class Read:
    items: list[Item] = field(default_factory=list)
    answer: Any = None  # what the platform expects back (dict → JSON, str → text)
    ignored: list[str] = field(default_factory=list)  # event types not for this feed


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:32]


def check_window(timestamp: str | None, max_age_s: int, now: float | None = None) -> None:
    """Refuse a callback outside the replay window (seconds or milliseconds since 1970)."""
    try:
        value = float(timestamp or "")
    except ValueError:
        raise Refused(401, "timestamp", "the callback has no valid timestamp") from None
    value = value / 1000 if value > 1e11 else value
    age = (time.time() if now is None else now) - value
    if abs(age) > max_age_s:
        when = "old" if age > 0 else "in the future"
        raise Refused(401, "timestamp", f"the callback's timestamp is {abs(age):.0f}s {when}; "
                      f"at most {max_age_s}s either way (max_age_s)")


def _json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, "malformed", f"{what} is not JSON") from None


def _decrypted(decrypt: Callable[[], str]) -> str:
    try:
        return decrypt()
    except Undecryptable as exc:
        raise Refused(400, "malformed", f"the body cannot be decrypted: {exc}") from None


def _wx_check(spec: WebhookFeed, secret: Secrets, q: Mapping[str, str], encrypted: str,
              now: float | None) -> None:
    signature = q.get("msg_signature") or q.get("signature") or ""
    timestamp = q.get("timestamp") or q.get("timeStamp") or ""
    expected = wx_signature(secret(spec.token), timestamp, q.get("nonce", ""), encrypted)
    if not signature or not equal(signature, expected):
        raise Refused(401, "signature", "msg_signature does not match the body")
    check_window(timestamp, spec.max_age_s, now)


def read_dingtalk(spec: WebhookFeed, secret: Secrets, r: Request, now: float | None) -> Read:
    body = _json(r.body, "the body")
    encrypted = body.get("encrypt") if isinstance(body, dict) else None
    if not isinstance(encrypted, str):
        raise Refused(400, "malformed", 'expected {"encrypt": "…"}')
    _wx_check(spec, secret, r.query, encrypted, now)
    aes, owner = secret(spec.aes_key), secret(spec.owner_key)
    message = _decrypted(lambda: wx_decrypt(aes, encrypted, owner))
    event = _json(message, "the decrypted message")
    if not isinstance(event, dict):
        raise Refused(400, "malformed", "the decrypted message is not a JSON object")
    read = Read(answer=dingtalk_answer(spec, secret))
    dingtalk_event(spec, read, str(event.get("EventType", "")), _digest(message), event)
    return read


def dingtalk_event(spec: WebhookFeed, read: Read, kind: str, event_id: str,
                   event: Mapping[str, Any]) -> None:
    """One 钉钉 approval event (an HTTP callback's decrypted message, or a Stream mode event's
    data) added to `read` as an item, or as ignored if the feed does not keep its type."""
    if kind not in spec.event_types():
        read.ignored.append(kind)
        return
    key = event.get("processInstanceId")
    read.items.append(Item(kind, event_id, None if key is None else str(key), {
        "instance_id": key, "event_type": kind, "process_code": event.get("processCode"),
        "title": event.get("title"), "type": event.get("type"), "result": event.get("result"),
        "staff_id": event.get("staffId"), "create_time": event.get("createTime"),
        "finish_time": event.get("finishTime")}))


def dingtalk_answer(spec: WebhookFeed, secret: Secrets) -> dict[str, str]:
    """The encrypted "success" DingTalk expects (DingCallbackCrypto.getEncryptedMap)."""
    encrypted = wx_encrypt(secret(spec.aes_key), "success", secret(spec.owner_key))
    stamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(8)
    return {"msg_signature": wx_signature(secret(spec.token), stamp, nonce, encrypted),
            "timeStamp": stamp, "nonce": nonce, "encrypt": encrypted}


def _xml(text: bytes, what: str) -> ET.Element:
    if len(text) > 1_000_000 or b"<!DOCTYPE" in text:
        raise Refused(400, "malformed", f"{what}: no DOCTYPE, at most 1 MB")
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        raise Refused(400, "malformed", f"{what} is not XML") from None


def read_wecom(spec: WebhookFeed, secret: Secrets, r: Request, now: float | None) -> Read:
    aes, owner = secret(spec.aes_key), secret(spec.owner_key)
    if r.method == "GET":  # the URL check: answer the decrypted echostr
        echo = r.query.get("echostr", "")
        _wx_check(spec, secret, r.query, echo, now)
        return Read(answer=_decrypted(lambda: wx_decrypt(aes, echo, owner)))
    encrypted = _xml(r.body, "the body").findtext("Encrypt")
    if not encrypted:
        raise Refused(400, "malformed", "expected <xml><Encrypt>…</Encrypt></xml>")
    _wx_check(spec, secret, r.query, encrypted, now)
    message = _decrypted(lambda: wx_decrypt(aes, encrypted, owner))
    root = _xml(message.encode(), "the decrypted message")
    read = Read(answer="")
    kind = root.findtext("Event") or root.findtext("MsgType") or ""
    if kind not in spec.event_types():
        read.ignored.append(kind)
        return read
    info = root.find("ApprovalInfo")

    def text(tag: str) -> str | None:
        return None if info is None else info.findtext(tag)
    key = text("SpNo")
    read.items.append(Item(kind, _digest(message), key, {
        "instance_id": key, "event_type": kind, "sp_name": text("SpName"),
        "sp_status": text("SpStatus"), "template_id": text("TemplateId"),
        "apply_time": text("ApplyTime"), "applyer_userid": text("Applyer/UserId"),
        "change_event": text("StatuChangeEvent"), "create_time": root.findtext("CreateTime")}))
    return read


def read_feishu(spec: WebhookFeed, secret: Secrets, r: Request, now: float | None) -> Read:
    signature = r.headers.get("x-lark-signature")
    if signature is not None:
        stamp = r.headers.get("x-lark-request-timestamp", "")
        expected = lark_signature(stamp, r.headers.get("x-lark-request-nonce", ""),
                                  secret(spec.encrypt_key), r.body)
        if not equal(signature, expected):
            raise Refused(401, "signature", "X-Lark-Signature does not match the body")
        check_window(stamp, spec.max_age_s, now)
    body = _json(r.body, "the body")
    if isinstance(body, dict) and isinstance(body.get("encrypt"), str):
        key = secret(spec.encrypt_key)
        body = _json(_decrypted(lambda: lark_decrypt(key, body["encrypt"])), "the event")
    if not isinstance(body, dict):
        raise Refused(400, "malformed", "the event is not a JSON object")
    found = body.get("header")
    header: dict[str, Any] = found if isinstance(found, dict) else {}
    token = header.get("token", body.get("token"))
    if spec.token is not None and not equal(str(token or ""), secret(spec.token)):
        raise Refused(401, "signature", "the Verification Token does not match")
    if body.get("type") == "url_verification":
        return Read(answer={"challenge": body.get("challenge")})
    if signature is None:
        raise Refused(401, "signature", "X-Lark-Signature is missing")
    return _feishu_items(spec, body, header)


def _feishu_items(spec: WebhookFeed, body: dict[str, Any], header: dict[str, Any]) -> Read:
    found = body.get("event")
    event: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = str(header.get("event_type") or event.get("type") or "")
    event_id = str(header.get("event_id") or body.get("uuid") or "")
    read = Read(answer={"msg": "success"})
    if kind not in spec.event_types():
        read.ignored.append(kind)
        return read
    key = event.get("instance_code")
    read.items.append(Item(kind, event_id or _digest(json.dumps(body, sort_keys=True)),
                           None if key is None else str(key), {
        "instance_id": key, "event_type": kind, "approval_code": event.get("approval_code"),
        "status": event.get("status"),
        "operate_time": event.get("operate_time") or event.get("instance_operate_time"),
        "create_time": header.get("create_time") or body.get("ts")}))
    return read


def read_hmac(spec: WebhookFeed, secret: Secrets, r: Request, now: float | None) -> Read:
    signature = r.headers.get(spec.signature_header.lower(), "").removeprefix("sha256=")
    stamp = r.headers.get(spec.timestamp_header.lower(), "")
    if not signature or not equal(signature, hmac_signature(secret(spec.secret), stamp, r.body)):
        raise Refused(401, "signature", f"{spec.signature_header} does not match the body")
    check_window(stamp, spec.max_age_s, now)
    doc = _json(r.body, "the body")
    docs = doc if isinstance(doc, list) else [doc]
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise Refused(400, "malformed", "expected a JSON object (or a list of them)")
    given = r.headers.get((spec.event_id_header or "").lower()) if spec.event_id_header else None
    base = given or _digest(r.body)
    read = Read(answer={"status": "accepted"})
    for i, d in enumerate(docs):
        key = d.get(spec.key_field)
        read.items.append(Item("document", base if len(docs) == 1 else f"{base}/{i}",
                               None if key is None or key == "" else str(key), d))
    return read


READERS: dict[str, Callable[[WebhookFeed, Secrets, Request, float | None], Read]] = {
    "dingtalk": read_dingtalk, "wecom": read_wecom, "feishu": read_feishu, "hmac": read_hmac}
