"""OpenLineage: the hub's jobs chain ERP tables → capture → inbox → golden store → golden
records → propagation → targets; events reach an HTTP endpoint (a real server on loopback)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mdm.config.loader import load_project
from mdm.lineage.openlineage import jobs_of, start_emitter
from mdm.runtime.settings import REPO_ROOT

ENV = {"MDM_ERP_URL": "postgresql://capture:s3cret@erp.example:5433/erp",
       "MDM_OA_URL": "https://oa.example", "MDM_WMS_URL": "http://wms.example:8080",
       "MDM_ERP_API_URL": "https://erp-api.example",
       "MDM_OA_DB_URL": "postgresql://observer:pw@oa-db.example/oa",
       "MDM_WMS_DB_URL": "postgresql://observer:pw@wms-db.example/wms"}
HUB = "postgresql://mdm:hubpw@hub.example:5432/mdm"


@pytest.fixture()
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_jobs_chain_erp_tables_to_golden_records_to_targets(demo_env):
    project = load_project(REPO_ROOT)
    capture = {j.name: j for j in jobs_of("capture", project, HUB)}
    assert ("postgres://erp.example:5433", "erp.public.supplier") in capture["capture.erp"].inputs
    assert capture["capture.erp"].outputs == [("postgres://hub.example:5432", "mdm.public.inbox")]
    [golden] = jobs_of("process", project, HUB)
    assert golden.inputs == capture["capture.erp"].outputs
    assert ("postgres://hub.example:5432", "mdm.golden_record.supplier") in golden.outputs
    propagate = {j.name: j for j in jobs_of("propagate", project, HUB)}
    assert set(propagate["propagate.oa"].inputs) <= set(golden.outputs)
    assert ("https://oa.example", "/api/vendors") in propagate["propagate.oa"].outputs
    assert propagate["propagate.oa_db"].outputs == [("postgres://oa-db.example", "oa.oa_hr_employee")]
    everything = json.dumps([j.__dict__ for j in [*capture.values(), golden, *propagate.values()]])
    assert "s3cret" not in everything and "hubpw" not in everything and "pw@" not in everything


class _Collector(BaseHTTPRequestHandler):
    events: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 — the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.events.append({"path": self.path, **json.loads(body)})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.events = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_run_events_reach_an_http_endpoint(demo_env, collector, monkeypatch):
    monkeypatch.setenv("MDM_OPENLINEAGE_URL", collector)
    monkeypatch.setenv("MDM_OPENLINEAGE_NAMESPACE", "acme-mdm")
    monkeypatch.setenv("MDM_OPENLINEAGE_INTERVAL_S", "0.2")
    finish = start_emitter("process", load_project(REPO_ROOT), HUB)
    assert finish is not None
    deadline = threading.Event()
    deadline.wait(0.7)
    finish(0)
    states = [e["eventType"] for e in _Collector.events]
    assert states[0] == "START" and states[-1] == "COMPLETE" and "RUNNING" in states
    assert {e["path"] for e in _Collector.events} == {"/api/v1/lineage"}
    start = _Collector.events[0]
    assert start["job"] == {"namespace": "acme-mdm", "name": "golden_store", **{
        k: v for k, v in start["job"].items() if k not in ("namespace", "name")}}
    assert start["outputs"][0]["namespace"] == "postgres://hub.example:5432"
    assert len({e["run"]["runId"] for e in _Collector.events}) == 1  # one run per process


def test_no_configuration_means_no_events(demo_env, monkeypatch):
    monkeypatch.delenv("MDM_OPENLINEAGE_URL", raising=False)
    monkeypatch.delenv("MDM_OPENLINEAGE_FILE", raising=False)
    assert start_emitter("process", load_project(REPO_ROOT), HUB) is None
