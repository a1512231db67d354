"""The sql, amqp and nats targets receive the demo's changes correctly: OA's HR table written
directly, RabbitMQ (publisher confirms) and NATS JetStream (acked publishes), real brokers."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.receivers import (
    bind_queue,
    delivery_figures,
    drain_queue,
    latest_by_record,
    read_stream,
)
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.brokers import AMQP_URL, NATS_URL, require_brokers
from tests.conftest import running_stack
from tests.helpers import convergence_problems, execute, golden, rows, target_databases

RUN = uuid.uuid4().hex[:8]
EXCHANGE, QUEUE, STREAM = f"mdm.test.{RUN}", f"mdm.test.{RUN}", f"MDMTEST{RUN.upper()}"


def _project(root: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    for name in ("events", "stream"):
        text = (REPO_ROOT / f"examples/brokers/targets/{name}.yaml").read_text(encoding="utf-8")
        text = (text.replace("exchange: mdm.golden", f"exchange: {EXCHANGE}")
                .replace("stream: MDM", f"stream: {STREAM}")
                .replace("subject_prefix: mdm", f"subject_prefix: mdmtest{RUN}"))
        (root / f"targets/{name}.yaml").write_text(text, encoding="utf-8")
    with (root / "targets/wms.yaml").open("a", encoding="utf-8") as f:
        f.write("batch: {max_size: 20}\n")  # WMS's API takes up to 20 records per call
    with (root / "targets/oa.yaml").open("a", encoding="utf-8") as f:
        f.write("rate_limit_per_s: 500\n")
    return root


@pytest.fixture(scope="module")
def brokered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    require_brokers()
    bind_queue(AMQP_URL, EXCHANGE, QUEUE)
    lineage = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    os.environ.update(MDM_AMQP_URL=AMQP_URL, MDM_NATS_URL=NATS_URL,
                      MDM_OPENLINEAGE_FILE=str(lineage), MDM_OPENLINEAGE_INTERVAL_S="1")
    project = _project(tmp_path_factory.mktemp("project"))
    try:
        with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project) as s:
            yield s
    finally:
        for name in ("MDM_OPENLINEAGE_FILE", "MDM_OPENLINEAGE_INTERVAL_S"):
            os.environ.pop(name, None)
        drain_queue(AMQP_URL, QUEUE, delete=True)
        read_stream(NATS_URL, STREAM, delete=True)


EDITS = (
    "UPDATE supplier SET name = name || '（更名）' WHERE id IN (1, 2, 3)",
    "UPDATE material SET standard_price = standard_price + 1 WHERE id <= 10",
    "UPDATE material SET standard_price = standard_price + 1 WHERE id <= 5",
    "UPDATE employee SET active = false WHERE id = 4",
    "UPDATE employee SET name = '王五改' WHERE id = 5",
    "INSERT INTO department (code, name) VALUES ('DKIND', '消息测试部')",
)


def test_sql_amqp_and_nats_targets_receive_the_demo_changes(brokered):
    for statement in EDITS:
        execute(brokered.erp_url, statement)
    wait_idle(brokered.erp_url, brokered.hub_url, timeout=180)
    project = load_project(brokered.project_dir)

    # sql: OA's HR table holds every employee's basics, retirements as on_job = false;
    # rest: WMS received everything in batches, OA under its rate limit
    assert convergence_problems(project, brokered.erp_url, brokered.hub_url,
                                target_databases(brokered)) == []
    wms = httpx.get(f"{brokered.wms_url}/_stats").json()
    assert wms["batches"] > 0 and wms["puts"] > 2 * wms["batches"]  # several records per call

    for name, received in (("events", drain_queue(AMQP_URL, QUEUE)),
                           ("stream", read_stream(NATS_URL, STREAM))):
        figures = delivery_figures(received)
        assert figures["out_of_order"] == 0, name
        # at least once: a message id arrives twice only when a publish whose confirm did not
        # come in time (a loaded machine) was retried, and each retry is a recorded attempt
        assert figures["duplicates"] <= _retries(brokered, name), (name, figures)
        latest = latest_by_record(received)
        for entity in project.targets[name].entities:  # what the target's file maps
            for record in golden(brokered.hub_url, entity).values():
                message = latest.get((entity, record["business_key"]))
                assert message is not None, f"{name}: nothing for {entity} {record['business_key']}"
                assert message["version"] == record["version"], (name, entity, record["business_key"])
                assert message["data"] == record["attributes"], (name, entity)
                assert message["status"] == record["status"]
                assert message["idempotency_key"] == message["message_id"]
        assert latest[("department", "DKIND")]["data"]["name"] == "消息测试部"
        retired = [m for m in latest.values() if m["entity"] == "employee" and m["status"] == "retired"]
        assert retired, f"{name}: the retired employee was published as a retirement"


def _retries(stack: DemoStack, target: str) -> int:
    """Attempts beyond the first made by `target`'s deliveries."""
    done = rows(stack.hub_url, "SELECT coalesce(sum(greatest(attempts - 1, 0)), 0) AS n "
                f"FROM delivery WHERE target = '{target}'")
    return int(done[0]["n"])


def _mdm(stack: DemoStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI against the running hub, as an admin (MDM_TOKEN, MDM_API_URL)."""
    env = {**stack.env(), "MDM_API_URL": stack.api_url, "MDM_TOKEN": stack.token(), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_replay_resends_the_current_version_with_a_new_idempotency_key(brokered):
    drain_queue(AMQP_URL, QUEUE)
    supplier = rows(brokered.hub_url, "SELECT business_key, version FROM golden_record "
                    "WHERE entity = 'supplier' AND status = 'active' ORDER BY id LIMIT 1")[0]
    done = _mdm(brokered, "replay", "supplier", supplier["business_key"], "--target", "events")
    assert done.returncode == 0, done.stderr
    assert "queued 1 deliveries to events" in done.stdout
    wait_idle(brokered.erp_url, brokered.hub_url)
    again = [m for m in drain_queue(AMQP_URL, QUEUE) if m["entity"] == "supplier"]
    assert [(m["key"], m["version"]) for m in again] == [(supplier["business_key"], supplier["version"])]
    assert "-replay-" in again[0]["message_id"]

    # every department changed since an instant in the future: none
    done = _mdm(brokered, "replay", "department", "--target", "events", "--since", "2999-01-01T00:00+08:00")
    assert done.returncode == 0 and "queued 0 deliveries" in done.stdout
    for bad, message in ((["supplier", "--target", "nowhere"], "not propagated to target 'nowhere'"),
                         (["suppliers", "--target", "oa"], "unknown entity 'suppliers'"),
                         (["supplier", "--target", "oa", "--since", "yesterday"], "not an ISO 8601 instant"),
                         (["supplier", "NOPE", "--target", "oa"], "no golden record supplier 'NOPE'")):
        done = _mdm(brokered, "replay", *bad)
        assert done.returncode == 1 and message in done.stderr, (bad, done.stderr)
        assert "Traceback" not in done.stderr


def test_openlineage_events_written_to_a_file_name_every_job(brokered):
    path = Path(os.environ["MDM_OPENLINEAGE_FILE"])
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    started = {e["job"]["name"] for e in events if e["eventType"] == "START"}
    assert started >= {"capture.erp", "golden_store", "propagate.oa", "propagate.wms",
                       "propagate.oa_db", "propagate.events", "propagate.stream"}
    assert any(e["eventType"] == "RUNNING" for e in events)
    events_job = next(e for e in events if e["job"]["name"] == "propagate.events")
    assert {"namespace": "amqp://127.0.0.1:5672", "name": f"{EXCHANGE}/supplier"} in [
        {k: o[k] for k in ("namespace", "name")} for o in events_job["outputs"]]
