"""钉钉 Stream mode on a real hub: approval events pushed over the connection the hub opens
become golden versions, acknowledged only once durable, redeliveries absorbed, nothing lost
while the hub is down or the connection drops.

钉钉's gateway cannot be reached from here: tests/dingtalk_gateway.py stands in for it on
loopback, speaking the protocol of the official SDK the hub uses (dingtalk-stream).
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.dingtalk_gateway import StreamGateway
from tests.helpers import eventually, rows

CLIENT_ID, CLIENT_SECRET = "dingstreamkey", "stream-secret"
FEED = """\
name: ding_stream
kind: webhook
format: dingtalk
description: 钉钉 approvals over Stream mode (no public URL)
table: stream_oa.approval_instance
stream:
  client_id: ${DING_CLIENT_ID}
  client_secret: ${DING_CLIENT_SECRET}
  gateway_url: ${DING_GATEWAY}
  reconnect_max_s: 2
"""
ENTITY = """\
entity: stream_approval
source: ding_stream
table: stream_oa.approval_instance
primary_key: instance_id
business_key: instance_id
attributes:
  instance_id: {type: string, required: true}
  title: {type: string}
  type: {type: string}
  result: {type: string}
  staff_id: {type: string}
ignore_columns: [event_type, process_code, create_time, finish_time]
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[StreamGateway]:
    g = StreamGateway(CLIENT_ID, CLIENT_SECRET, retry_s=0.5)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def hub(gateway: StreamGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    root = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    (root / "cdc/ding_stream.yaml").write_text(FEED, encoding="utf-8")
    (root / "golden_records/stream_approval.yaml").write_text(ENTITY, encoding="utf-8")
    env = {"DING_CLIENT_ID": CLIENT_ID, "DING_CLIENT_SECRET": CLIENT_SECRET,
           "DING_GATEWAY": gateway.url}
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=root, extra_env=env) as s:
        assert eventually(lambda: gateway.connection is not None, timeout=120), \
            "the hub never connected to the Stream gateway"
        yield s


def approval(instance: str, result: str = "agree", kind: str = "finish") -> dict[str, Any]:
    return {"processInstanceId": instance, "processCode": "PROC-PR", "corpId": "dingcorp",
            "type": kind, "result": result, "title": "采购申请 办公用品", "staffId": "zhang",
            "createTime": 1764756000000, "finishTime": 1764757000000}


def inbox(hub: DemoStack, key: str | None = None) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT row_key, position, status, error FROM inbox WHERE source = "
                             "'ding_stream' AND (%s::text IS NULL OR row_key = %s) ORDER BY id",
                (key, key))


def versions(hub: DemoStack, key: str) -> list[dict[str, Any]]:
    return rows(hub.hub_url, "SELECT v.version, v.attributes FROM golden_version v JOIN "
                             "golden_record g ON g.id = v.golden_id WHERE g.entity = "
                             "'stream_approval' AND g.source_key = %s ORDER BY v.version", (key,))


def test_an_event_pushed_over_the_stream_becomes_a_version_acked_only_once_stored(
        hub: DemoStack, gateway: StreamGateway) -> None:
    stored_at_ack: list[bool] = []
    gateway.on_ack = lambda frame, ack: stored_at_ack.append(bool(
        inbox(hub, "S-1")))  # what the inbox held when the ack arrived
    message = gateway.push("bpms_instance_change", approval("S-1"))
    assert eventually(lambda: gateway.acked(message), timeout=120), gateway.acks[-5:]
    assert stored_at_ack == [True]
    assert [a["code"] for a in gateway.acked(message)] == [200]
    assert eventually(lambda: versions(hub, "S-1"), timeout=120), inbox(hub)
    [v] = versions(hub, "S-1")
    assert v["attributes"]["result"] == "agree" and v["attributes"]["title"] == "采购申请 办公用品"
    [row] = inbox(hub, "S-1")
    assert row["position"].startswith("h/") and row["status"] != "failed"
    gateway.on_ack = None


def test_an_event_sent_again_with_the_same_event_id_is_absorbed(
        hub: DemoStack, gateway: StreamGateway) -> None:
    first = gateway.push("bpms_instance_change", approval("S-2"), event_id="evt-S-2")
    again = gateway.push("bpms_instance_change", approval("S-2"), event_id="evt-S-2")
    assert eventually(lambda: gateway.acked(first) and gateway.acked(again), timeout=120)
    assert eventually(lambda: versions(hub, "S-2"), timeout=120)
    assert [r["position"] for r in inbox(hub, "S-2")] == ["h/evt-S-2"]
    assert len(versions(hub, "S-2")) == 1


def test_an_event_type_the_feed_does_not_keep_is_acked_and_not_stored(
        hub: DemoStack, gateway: StreamGateway) -> None:
    message = gateway.push("user_add_org", {"userId": ["u1"], "processInstanceId": "S-U"})
    assert eventually(lambda: gateway.acked(message), timeout=120)
    assert gateway.acked(message)[0]["code"] == 200
    assert inbox(hub, "S-U") == []


def test_a_dropped_connection_is_reopened_and_the_next_event_arrives(
        hub: DemoStack, gateway: StreamGateway) -> None:
    opens = gateway.opens
    gateway.drop()
    assert eventually(lambda: gateway.opens > opens and gateway.connection is not None,
                      timeout=120), "the hub did not reconnect"
    message = gateway.push("bpms_instance_change", approval("S-3", result="refuse"))
    assert eventually(lambda: gateway.acked(message), timeout=120)
    assert eventually(lambda: versions(hub, "S-3"), timeout=120)
    assert versions(hub, "S-3")[0]["attributes"]["result"] == "refuse"


def test_events_pushed_while_the_hub_is_down_arrive_once_when_it_is_back(
        hub: DemoStack, gateway: StreamGateway) -> None:
    hub.kill_hub()  # kill -9: no goodbye to the gateway
    assert eventually(lambda: gateway.connection is None, timeout=120)
    messages = [gateway.push("bpms_instance_change", approval(f"S-D{i}")) for i in range(3)]
    hub.start_hub()
    assert eventually(lambda: all(gateway.acked(m) for m in messages), timeout=180), \
        gateway.acks[-5:]
    for i in range(3):
        assert eventually(lambda: versions(hub, f"S-D{i}"), timeout=120), inbox(hub)
        assert len(inbox(hub, f"S-D{i}")) == 1 and len(versions(hub, f"S-D{i}")) == 1
    assert gateway.refused_opens == 0
