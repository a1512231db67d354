"""Delivery survives faults, for every kind of target: REST (demo OA's API), SQL (OA's HR
table), AMQP (RabbitMQ) and NATS JetStream, each behind a fault proxy on loopback. Each
scenario reports attempted / delivered / duplicates at the target / lost / out of order per
kind; lost and out of order must be 0 everywhere."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from mdm.bench.fault_figures import KINDS, Figures
from mdm.bench.faults import FaultLab
from tests.brokers import require_brokers
from tests.helpers import eventually, rows

SEED = {"suppliers": 10, "materials": 20, "employees": 30, "customers": 10}
CHANGES, RATE = 300, 60.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    require_brokers()
    lab = FaultLab(tmp_path_factory.mktemp("faults"), SEED, outage_s=6.0)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def _no_loss_no_disorder(scenario: str, figures: dict[str, Figures]) -> None:
    report = "\n".join(f"{scenario} {kind}: {f.as_dict()}" for kind, f in figures.items())
    print(report)
    for kind, f in figures.items():
        assert f.lost == 0, f"{kind} lost deliveries\n{report}"
        assert f.out_of_order == 0, f"{kind} saw versions out of order\n{report}"
        assert f.received > 0 and f.delivered > 0, f"{kind} received nothing\n{report}"


def test_target_down_for_a_while_then_back(lab):
    figures = lab.run("target_down", CHANGES, RATE)
    _no_loss_no_disorder("target_down", figures)
    for kind, f in figures.items():
        assert f.attempted > f.delivered, f"{kind}: the outage should have failed some attempts"
    # a dead target slows only itself: WMS, reached directly, kept receiving meanwhile, and
    # capture and processing kept making golden versions
    assert lab.extra["bystander_acked_during_outage"] > 0
    assert lab.extra["golden_versions_during_outage"] > 0


def test_intermittent_500s_resets_and_timeouts(lab):
    figures = lab.run("flaky", CHANGES, RATE)
    _no_loss_no_disorder("flaky", figures)
    assert figures["rest"].attempted > figures["rest"].delivered  # the 500s were retried
    assert lab.extra["connections_cut"] > 0


def test_one_record_rejected_is_dead_with_a_task_and_the_rest_flow_on(lab):
    figures = lab.run("rejected", CHANGES, RATE)
    _no_loss_no_disorder("rejected", figures)
    key = lab.extra["rejected_key"]
    for kind in ("rest", "sql"):
        assert figures[kind].dead >= 1, kind
        tasks = rows(lab.stack.hub_url, "SELECT * FROM task WHERE type = 'dead_delivery' AND "
                     "status = 'open' AND business_key = %s AND system = %s", (key, KINDS[kind]))
        assert len(tasks) == 1, f"{kind}: one open dead_delivery task for {key}"
    for kind in ("amqp", "nats"):  # brokers take any well-formed message: nothing is dead
        assert figures[kind].dead == 0, kind

    # the cause fixed (the scenario is over), a retry through the API delivers the newest
    # version and closes the task by itself
    dead = rows(lab.stack.hub_url, "SELECT d.id FROM delivery d JOIN golden_record g ON "
                "g.id = d.golden_id AND g.version = d.version WHERE d.target = 'oa' AND "
                "d.status = 'dead' AND g.business_key = %s", (key,))
    assert len(dead) == 1
    response = lab.stack.client().post(f"/api/v1/deliveries/{dead[0]['id']}/retry")
    assert response.status_code == 200, response.text
    again = lab.stack.client().post(f"/api/v1/deliveries/{dead[0]['id']}/retry")
    assert again.status_code == 409  # no longer dead: nothing to retry
    assert eventually(lambda: rows(lab.stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                                    (dead[0]["id"],))[0]["status"] == "acked")
    task = rows(lab.stack.hub_url, "SELECT * FROM task WHERE type = 'dead_delivery' AND "
                "business_key = %s AND system = 'oa' ORDER BY id DESC LIMIT 1", (key,))[0]
    assert (task["status"], task["resolution"], task["resolved_by"]) == ("resolved", "delivered", "system")


def test_kill_9_of_the_propagation_worker_mid_batch(lab):
    figures = lab.run("worker_killed", CHANGES, RATE)
    _no_loss_no_disorder("worker_killed", figures)
    assert lab.extra["kills"] == 3


def test_postgres_restarted_mid_stream(lab):
    figures = lab.run("postgres_restarted", CHANGES, RATE)
    _no_loss_no_disorder("postgres_restarted", figures)
    erp = {r["code"]: r["mobile"] for r in rows(lab.stack.erp_url, "SELECT code, mobile FROM employee")}
    golden = {r["business_key"]: r["attributes"]["mobile"] for r in rows(
        lab.stack.hub_url, "SELECT business_key, attributes FROM golden_record WHERE entity = 'employee'")}
    assert golden == erp

