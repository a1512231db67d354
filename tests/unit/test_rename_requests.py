"""What a rename sends, without I/O: the REST propagator's calls for `rename: in_place` (PUT on
the old key's resource), for a target that refuses (409) or cannot rename (`rename: recreate`:
the old key retired, the new upserted), and the brokers' `previous_key`."""
from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
import pytest

from mdm.config.loader import load_project
from mdm.propagate.base import envelope
from mdm.model.deliveries import Delivery
from mdm.propagate.rest import RestPropagator
from mdm.runtime.settings import REPO_ROOT

PAYLOAD = {"supplier_no": "S9001", "supplier_name": "新名", "contact": None, "phone": None,
           "address": None, "is_active": True}


def _delivery(previous_key: str | None = "S0001") -> Delivery:
    return Delivery(7, 3, 4, "supplier", "S9001", "wms", "upsert", dict(PAYLOAD),
                    "mdm-g3-v4-wms", 0, previous_key=previous_key)


def _send(d: Delivery, answer: dict[str, list[int]],
          rename: str = "in_place") -> tuple[bool, list[tuple[str, str, dict]]]:
    """Deliver `d` to a WMS answering the calls to `method path` with the statuses listed in
    `answer`, in turn (then 200); the outcome and the calls made."""
    project = load_project(REPO_ROOT)
    spec = project.entities["supplier"]
    mapping = spec.targets["wms"].model_copy(update={"rename": rename})
    entities = {**project.entities,
                "supplier": spec.model_copy(update={"targets": {**spec.targets, "wms": mapping}})}
    project = dataclasses.replace(project, entities=entities)
    calls: list[tuple[str, str, dict]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        calls.append((request.method, request.url.path, body))
        statuses = answer.get(f"{request.method} {request.url.path}") or [200]
        return httpx.Response(statuses.pop(0) if len(statuses) > 1 else statuses[0],
                              json={"id": 11})

    async def run() -> bool:
        propagator = RestPropagator(project.targets["wms"], project, httpx.MockTransport(handle))
        try:
            [outcome] = await propagator.deliver_many([d])
        finally:
            await propagator.aclose()
        return outcome.acked

    return asyncio.run(run()), calls


@pytest.fixture(autouse=True)
def _urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_WMS_URL", "http://wms.test")
    monkeypatch.setenv("MDM_OA_URL", "http://oa.test")


def test_a_rename_is_a_put_on_the_old_resource_carrying_the_new_key():
    acked, calls = _send(_delivery(), {})
    assert acked
    assert calls == [("PUT", "/api/suppliers/S0001", PAYLOAD)]


def test_a_record_without_a_rename_is_a_put_on_its_key():
    acked, calls = _send(_delivery(previous_key=None), {})
    assert acked and calls == [("PUT", "/api/suppliers/S9001", PAYLOAD)]


def test_a_rename_of_a_key_the_target_does_not_hold_upserts_the_new_key():
    acked, calls = _send(_delivery(), {"PUT /api/suppliers/S0001": [404]})
    assert acked and [c[:2] for c in calls] == [("PUT", "/api/suppliers/S0001"),
                                                ("PUT", "/api/suppliers/S9001")]


def test_a_refused_rename_retires_the_old_key_then_upserts_the_new():
    acked, calls = _send(_delivery(), {"PUT /api/suppliers/S0001": [409, 200]})
    assert acked and calls[-1] == ("PUT", "/api/suppliers/S9001", PAYLOAD)
    assert [c[:2] for c in calls] == [("PUT", "/api/suppliers/S0001"),
                                      ("PUT", "/api/suppliers/S0001"),
                                      ("PUT", "/api/suppliers/S9001")]
    retired = calls[1][2]
    assert retired["is_active"] is False and retired["supplier_no"] == "S0001"


def test_a_target_that_cannot_rename_gets_the_old_key_retired_and_the_new_upserted():
    acked, calls = _send(_delivery(), {}, rename="recreate")
    assert acked
    assert [c[:2] for c in calls] == [("PUT", "/api/suppliers/S0001"),
                                      ("PUT", "/api/suppliers/S9001")]
    assert calls[0][2]["is_active"] is False and calls[1][2] == PAYLOAD


def test_a_failed_retirement_of_the_old_key_fails_the_delivery_before_the_upsert():
    acked, calls = _send(_delivery(), {"PUT /api/suppliers/S0001": [503]}, rename="recreate")
    assert not acked and [c[:2] for c in calls] == [("PUT", "/api/suppliers/S0001")]


def test_broker_messages_carry_the_previous_key_of_a_rename():
    assert envelope(_delivery())["previous_key"] == "S0001"
    assert "previous_key" not in envelope(_delivery(previous_key=None))
