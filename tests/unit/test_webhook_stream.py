"""`stream:` of a dingtalk webhook feed (钉钉 Stream mode): what the project file must say, and
what the reader does with an event it cannot store."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from dingtalk_stream import AckMessage
from dingtalk_stream.frames import EventMessage

from mdm.capture.webhook import verify
from mdm.capture.webhook_formats import Refused, Request
from mdm.capture.webhook_stream import _Store
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.loader import load_project
from mdm.errors import ConfigError

STREAM = """\
name: ding_stream
kind: webhook
format: {format}
table: stream_oa.approval_instance
stream:
  client_id: {client_id}
  client_secret: ${{DING_SECRET}}
"""
ENTITY = """\
entity: stream_approval
source: ding_stream
table: stream_oa.approval_instance
primary_key: instance_id
business_key: instance_id
attributes:
  instance_id: {type: string, required: true}
  result: {type: string}
"""


def _write(project: Path, format: str = "dingtalk", client_id: str = "${DING_KEY}") -> None:
    (project / "cdc/ding_stream.yaml").write_text(
        STREAM.format(format=format, client_id=client_id), encoding="utf-8")
    (project / "golden_records/stream_approval.yaml").write_text(ENTITY, encoding="utf-8")


def test_a_stream_feed_needs_no_callback_token_or_aes_key(project: Path) -> None:
    _write(project)
    spec = load_project(project).feeds["ding_stream"]
    assert isinstance(spec, WebhookFeed) and spec.stream is not None
    assert spec.token is None and spec.aes_key is None
    assert spec.stream.gateway_url == "https://api.dingtalk.com"


def test_stream_mode_is_refused_for_another_platform_naming_the_file(project: Path) -> None:
    _write(project, format="feishu")
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    message = str(caught.value)
    assert "cdc/ding_stream.yaml" in message and "stream:" in message
    assert "format dingtalk" in message


def test_a_literal_client_id_is_refused_without_showing_it(project: Path) -> None:
    _write(project, client_id="dingabcdefgh")
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    message = str(caught.value)
    assert "stream.client_id" in message and "${VAR}" in message
    assert "dingabcdefgh" not in message


def test_an_http_callback_for_a_stream_feed_is_refused(project: Path) -> None:
    _write(project)
    spec = load_project(project).feeds["ding_stream"]
    assert isinstance(spec, WebhookFeed)
    with pytest.raises(Refused) as caught:
        verify(spec, Request("POST", {}, {}, b'{"encrypt": "x"}'))
    assert caught.value.status == 409 and "Stream mode" in caught.value.detail


def test_an_event_the_hub_cannot_store_is_answered_with_an_error_so_it_comes_again(
        project: Path) -> None:
    _write(project)
    spec = load_project(project).feeds["ding_stream"]
    assert isinstance(spec, WebhookFeed)
    store = _Store(spec, "postgresql://mdm@127.0.0.1:1/nowhere")  # nothing listens on port 1
    event = EventMessage.from_dict({
        "specVersion": "1.0", "type": "EVENT",
        "headers": {"messageId": "m-1", "eventType": "bpms_instance_change", "eventId": "e-1"},
        "data": json.dumps({"processInstanceId": "PI-1", "result": "agree"})})
    code, _ = asyncio.run(store.process(event))
    assert code == AckMessage.STATUS_SYSTEM_EXCEPTION
    assert store.conn is None


def test_an_event_type_the_feed_does_not_keep_is_acknowledged_without_a_database(
        project: Path) -> None:
    _write(project)
    spec = load_project(project).feeds["ding_stream"]
    assert isinstance(spec, WebhookFeed)
    store = _Store(spec, "postgresql://mdm@127.0.0.1:1/nowhere")
    event = EventMessage.from_dict({
        "type": "EVENT", "headers": {"messageId": "m-2", "eventType": "user_add_org",
                                     "eventId": "e-2"}, "data": "{}"})
    code, _ = asyncio.run(store.process(event))
    assert code == AckMessage.STATUS_OK
