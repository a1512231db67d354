"""The error tree decides retries (mdm/propagate/base.py `failed`): a TerminalError is dead at
once, a TransientError and anything no kind translated are retried; and the REST kind's
statuses land in the right class (a 400 refused, a 503 or 429 for later). No I/O: the REST
answers come from httpx.MockTransport; the kinds against real servers are in
tests/integration/test_failure_classes.py."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from mdm.config.loader import load_project
from mdm.config.targets import Backoff, RestBatch
from mdm.errors import (
    MappingError,
    TargetRefused,
    TargetUnavailable,
    TerminalError,
    TransientError,
    UnrecordableAnswer,
    WriteBackError,
)
from mdm.golden.write_back import _owned_values
from mdm.model.golden import GoldenState
from mdm.model.deliveries import Delivery, Outcome
from mdm.propagate.base import failed
from mdm.propagate.outbox import _failure_params
from mdm.propagate.rest import RestPropagator, status_error
from mdm.propagate.storable import storable, unrecordable
from mdm.runtime.settings import REPO_ROOT

D = Delivery(7, 3, 4, "supplier", "S0001", "wms", "upsert", {"supplier_no": "S0001"},
             "mdm-g3-v4-wms", 0)
BACKOFF = Backoff(initial_ms=100, max_ms=1000, multiplier=2.0)


def _status(outcome: Outcome) -> str:
    return _failure_params(outcome, 8, BACKOFF).status


def test_a_terminal_error_is_dead_at_once_with_its_reason_and_status():
    outcome = failed(D, TargetRefused("wms", "HTTP 422: name is required", 422))
    assert outcome.terminal and not outcome.acked
    assert outcome.status_code == 422 and outcome.error == "HTTP 422: name is required"
    assert _status(outcome) == "dead"


def test_a_transient_error_is_retried_with_its_reason_and_status():
    outcome = failed(D, TargetUnavailable("wms", "HTTP 503: busy", 503))
    assert not outcome.terminal and outcome.status_code == 503 and outcome.error == "HTTP 503: busy"
    assert _status(outcome) == "failed"


@pytest.mark.parametrize("error", [TransientError("lock timeout"), TerminalError("no"),
                                   MappingError("supplier", "7", "no code"),
                                   UnrecordableAnswer("wms", "a NUL")],
                         ids=lambda e: type(e).__name__)
def test_the_class_alone_decides_whatever_the_message_says(error):
    assert failed(D, error).terminal is isinstance(error, TerminalError)
    assert failed(D, error).error == str(error)


def test_an_exception_no_kind_translated_is_retried_and_recorded_by_its_repr():
    outcome = failed(D, KeyError("supplier_no"))
    assert not outcome.terminal and outcome.status_code is None
    assert outcome.error == "propagator error: KeyError('supplier_no')"
    assert _status(outcome) == "failed"


@pytest.mark.parametrize(("code", "cls"), [
    (400, TargetRefused), (404, TargetRefused), (409, TargetRefused), (422, TargetRefused),
    (408, TargetUnavailable), (425, TargetUnavailable), (429, TargetUnavailable),
    (500, TargetUnavailable), (503, TargetUnavailable), (302, TargetUnavailable),
    (0, TargetUnavailable)])
def test_each_http_status_is_refused_or_for_later(code, cls):
    error = status_error("wms", code, "detail")
    assert type(error) is cls
    assert (error.target, error.status_code, error.reason) == ("wms", code, f"HTTP {code}: detail")


def _deliver_to_wms(monkeypatch: pytest.MonkeyPatch, status: int, batch: bool) -> Outcome:
    monkeypatch.setenv("MDM_WMS_URL", "http://wms.test")
    project = load_project(REPO_ROOT)
    target = project.targets["wms"]
    if batch:
        target = target.model_copy(update={"batch": RestBatch(max_size=5)})

    def answer(request: httpx.Request) -> httpx.Response:
        if batch:
            return httpx.Response(200, json={"results": [{"status": status, "detail": "no"}]})
        return httpx.Response(status, json={"detail": "no"})

    async def run() -> Outcome:
        propagator = RestPropagator(target, project, httpx.MockTransport(answer))
        try:
            [outcome] = await propagator.deliver_many([D])
        finally:
            await propagator.aclose()
        return outcome

    return asyncio.run(run())


@pytest.mark.parametrize("batch", [False, True], ids=["one_by_one", "in_batch"])
@pytest.mark.parametrize(("status", "outcome"), [(400, "dead"), (503, "failed"), (429, "failed")])
def test_rest_400_is_dead_and_503_or_429_retried(monkeypatch, status, outcome, batch):
    result = _deliver_to_wms(monkeypatch, status, batch)
    assert not result.acked and result.status_code == status
    assert result.error is not None and result.error.startswith(f"HTTP {status}")
    assert _status(result) == outcome


def test_an_answer_the_hub_cannot_keep_is_terminal_whatever_the_target_said():
    kept = storable(Outcome(D, acked=True, status_code=200, target_id="7",
                            write_back={"wms_status": "a\x00b"}))
    assert kept.terminal and _status(kept) == "dead" and kept.status_code == 200
    refused = unrecordable(Outcome(D, acked=False, status_code=503, error="HTTP 503: busy"),
                           ValueError("bad"))
    assert refused.terminal and refused.status_code is None
    assert "HTTP 503: busy" in (refused.error or "")


def test_a_write_back_value_that_does_not_fit_names_the_record_and_the_attribute():
    state = GoldenState(entity="material", source_key="5", golden_id=12, version=3,
                        business_key="M-1005")
    with pytest.raises(WriteBackError) as raised:
        _owned_values(load_project(REPO_ROOT), "wms", state, {"wms_status": {"nested": 1}})
    error = raised.value
    assert (error.target, error.entity, error.business_key, error.golden_id, error.attribute) \
        == ("wms", "material", "M-1005", 12, "wms_status")
    assert str(error) == ("write-back from wms: material M-1005 (golden id 12), attribute "
                          "wms_status: expected text, got dict")
    assert failed(D, error).terminal
