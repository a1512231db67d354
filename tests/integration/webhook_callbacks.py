"""The 企业微信 (WeCom) and 飞书 (Feishu) feeds of tests/integration/test_webhook_source.py's
hub, their callbacks built with the platforms' documented algorithms, and a document feed
and an API poll whose purchase requests carry their lines inside the JSON (compared there
with the same request captured from OA's database by Debezium)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from mdm.capture.webhook_crypto import hmac_signature, lark_encrypt, lark_signature, wx_encrypt, wx_signature
from mdm.runtime.settings import REPO_ROOT

WX_AES, WX_TOKEN, WX_CORP = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx-token", "wwcorp01"
LARK_KEY, LARK_TOKEN = "lark-encrypt-key", "lark-verify-token"
PR_SECRET = "pr-secret"
ENV = {"WX_TOKEN": WX_TOKEN, "WX_AES": WX_AES, "WX_CORP": WX_CORP, "WX_SECRET": "wx-secret",
       "LARK_KEY": LARK_KEY, "LARK_TOKEN": LARK_TOKEN, "LARK_APP": "cli_a1", "LARK_SECRET": "s",
       "PR_SECRET": PR_SECRET}

WX_FEED = """\
name: wx_oa
kind: webhook
format: wecom
description: 企业微信 approvals
table: saas_wx.approval
token: ${WX_TOKEN}
aes_key: ${WX_AES}
owner_key: ${WX_CORP}
fetch:
  api_base_url: ${DING_API}
  app_key: ${WX_CORP}
  app_secret: ${WX_SECRET}
  fields: {金额: amount}
  backoff_s: 0.2
"""
WX_ENTITY = """\
entity: wx_request
source: wx_oa
table: saas_wx.approval
primary_key: instance_id
business_key: instance_id
attributes:
  instance_id: {type: string}
  sp_name: {type: string}
  sp_status: {type: string}
  amount: {type: string}
"""
LARK_FEED = """\
name: lark_oa
kind: webhook
format: feishu
description: 飞书 approvals
table: saas_lark.approval
encrypt_key: ${LARK_KEY}
token: ${LARK_TOKEN}
fetch:
  api_base_url: ${DING_API}
  app_key: ${LARK_APP}
  app_secret: ${LARK_SECRET}
  fields: {金额: amount}
  backoff_s: 0.2
"""
LARK_ENTITY = """\
entity: lark_request
source: lark_oa
table: saas_lark.approval
primary_key: instance_id
business_key: serial_number
attributes:
  serial_number: {type: string}
  status: {type: string}
  amount: {type: string}
"""
# OA's purchase requests as a SaaS OA would post them: one JSON each, its lines inside
PR_FEED = """\
name: pr_docs
kind: webhook
format: hmac
description: purchase requests posted whole, lines inside
table: prdocs.request
secret: ${PR_SECRET}
key_field: id
children:
  prdocs.request_line: {key: line_no}
"""


# the same requests listed by an API's "modified since" list (the stand-in's /api/requests)
PR_POLL = """\
name: pr_poll
kind: poll
description: purchase requests polled whole, lines inside
base_url: ${DING_API}
interval_s: 0.3
time_format: epoch_ms
resources:
  prpoll.request:
    path: /api/requests
    records: data
    modified_field: modified_at
    params: {after_id: after_id}
children:
  prpoll.request_line: {key: line_no}
"""


def pr_entity(entity: str, source: str, schema: str) -> str:
    """golden_records/purchase_request.yaml with a feed as its source (no targets)."""
    spec = yaml.safe_load((REPO_ROOT / "golden_records/purchase_request.yaml").read_text("utf-8"))
    spec.update(entity=entity, source=source, table=f"{schema}.request")
    spec.pop("targets", None)
    spec["children"]["lines"]["table"] = f"{schema}.request_line"
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


def write_feeds(root: Path) -> None:
    for name, text in (("cdc/wx_oa.yaml", WX_FEED), ("golden_records/wx_request.yaml", WX_ENTITY),
                       ("cdc/lark_oa.yaml", LARK_FEED),
                       ("golden_records/lark_request.yaml", LARK_ENTITY),
                       ("cdc/pr_docs.yaml", PR_FEED), ("cdc/pr_poll.yaml", PR_POLL),
                       ("golden_records/doc_purchase_request.yaml",
                        pr_entity("doc_purchase_request", "pr_docs", "prdocs")),
                       ("golden_records/polled_purchase_request.yaml",
                        pr_entity("polled_purchase_request", "pr_poll", "prpoll"))):
        (root / name).write_text(text, encoding="utf-8")


def wecom_callback(sp_no: str, *, token: str = WX_TOKEN,
                   created: int = 1764756000) -> tuple[dict[str, str], bytes]:
    """企业微信's sys_approval_change: XML whose <Encrypt> is the AES-CBC message, signed with
    SHA1 over token, timestamp, nonce and the encrypted text."""
    message = (f"<xml><ToUserName>{WX_CORP}</ToUserName><FromUserName>sys</FromUserName>"
               f"<CreateTime>{created}</CreateTime><MsgType>event</MsgType>"
               "<Event>sys_approval_change</Event><AgentID>3010040</AgentID><ApprovalInfo>"
               f"<SpNo>{sp_no}</SpNo><SpName>采购</SpName><SpStatus>2</SpStatus>"
               "<TemplateId>T1</TemplateId><ApplyTime>1764756000</ApplyTime>"
               "<Applyer><UserId>li</UserId></Applyer><StatuChangeEvent>2</StatuChangeEvent>"
               "</ApprovalInfo></xml>")
    encrypted = wx_encrypt(WX_AES, message, WX_CORP)
    stamp = str(int(time.time()))
    query = {"msg_signature": wx_signature(token, stamp, "n1", encrypted), "timestamp": stamp,
             "nonce": "n1"}
    body = (f"<xml><ToUserName><![CDATA[{WX_CORP}]]></ToUserName><Encrypt><![CDATA["
            f"{encrypted}]]></Encrypt><AgentID><![CDATA[3010040]]></AgentID></xml>")
    return query, body.encode()


def wecom_url_check(echo: str) -> dict[str, str]:
    encrypted = wx_encrypt(WX_AES, echo, WX_CORP)
    stamp = str(int(time.time()))
    return {"msg_signature": wx_signature(WX_TOKEN, stamp, "n2", encrypted), "timestamp": stamp,
            "nonce": "n2", "echostr": encrypted}


def lark_callback(event: dict[str, Any], *, key: str = LARK_KEY) -> tuple[dict[str, str], bytes]:
    """飞书's event subscription: the event encrypted with the Encrypt Key, signed
    (X-Lark-Signature) over timestamp, nonce, key and body."""
    body = json.dumps({"encrypt": lark_encrypt(LARK_KEY, json.dumps(event))}).encode()
    stamp = str(int(time.time()))
    return {"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": "nn",
            "X-Lark-Signature": lark_signature(stamp, "nn", key, body),
            "Content-Type": "application/json"}, body


def lark_approval(event_id: str, instance: str) -> dict[str, Any]:
    return {"schema": "2.0", "header": {"event_id": event_id, "event_type": "approval_instance",
                                        "create_time": str(int(time.time() * 1000)),
                                        "token": LARK_TOKEN, "app_id": "cli_a1"},
            "event": {"instance_code": instance, "status": "APPROVED", "approval_code": "A-PR",
                      "operate_time": str(int(time.time() * 1000))}}


def signed_document(doc: dict[str, Any], event_id: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps(doc, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    return {"X-Timestamp": stamp, "X-Event-Id": event_id, "Content-Type": "application/json",
            "X-Signature": hmac_signature(PR_SECRET, stamp, body)}, body
