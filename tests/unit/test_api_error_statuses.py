"""The API's one error handler (mdm/api/errors.py): each class of the error tree answers its
status with the API's error body `{"detail": message}`, and no class of mdm.errors is left
without a status of its own."""
from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import mdm.errors as errors
from mdm.api.errors import install_error_handlers, status_of
from mdm.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidParameter,
    InvalidRequest,
    MappingError,
    MdmError,
    NotFound,
    TerminalError,
    TransientError,
    Unauthorized,
)
from mdm.runtime.settings import ApiLimits

# Every error a request can end in, with the status the API documents for it (app.ERRORS).
EXPECTED: dict[type[MdmError], int] = {
    NotFound: 404, Conflict: 409, AlreadyExists: 409, InvalidRequest: 400, InvalidParameter: 422,
    Unauthorized: 401, Forbidden: 403, errors.RequestError: 400, TransientError: 503,
    TerminalError: 409, MappingError: 409,
    # propagation's (no request raises them today): the status of their base class
    errors.TargetUnavailable: 503, errors.TargetRefused: 409, errors.UnrecordableAnswer: 409,
    errors.WriteBackError: 409}
# Errors of start-up and of project files: no request ends in them (500 if one ever did).
NOT_OF_REQUESTS = {MdmError, errors.ConfigError, errors.RuntimeSetupError}

SAMPLES: list[tuple[MdmError, int, str]] = [
    (NotFound("task", 999999), 404, "no task 999999"),
    (NotFound("user", "nobody"), 404, "no user 'nobody'"),
    (AlreadyExists("user", "zhao.min"), 409, "user 'zhao.min' already exists"),
    (Conflict("task 5 is already resolved", "task", 5), 409, "task 5 is already resolved"),
    (InvalidRequest("waive needs a reason", "reason"), 400, "waive needs a reason"),
    (InvalidParameter("since", "since needs a UTC offset"), 422, "since needs a UTC offset"),
    (Unauthorized("sign in"), 401, "sign in"),
    (Forbidden("li.na is a auditor; this needs admin"), 403, "li.na is a auditor; this needs admin"),
    (TransientError("cannot connect to the hub database"), 503, "cannot connect to the hub database"),
    (MappingError("supplier", "7", "no code"), 409, "cannot map row 7 of table supplier: no code"),
    (MdmError("a bug: nothing maps this"), 500, "a bug: nothing maps this"),
]


def _client(error: MdmError) -> TestClient:
    app = FastAPI()
    install_error_handlers(app, ApiLimits())

    @app.get("/fails")
    def fails() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("error", "status", "detail"), SAMPLES,
                         ids=[type(e).__name__ for e, _, _ in SAMPLES])
def test_an_error_from_a_use_case_answers_its_status_with_the_api_error_body(error, status, detail):
    answer = _client(error).get("/fails")
    assert answer.status_code == status
    assert answer.json() == {"detail": detail}


def test_unauthorized_asks_for_a_bearer_token_and_transient_says_when_to_retry():
    assert _client(Unauthorized("sign in")).get("/fails").headers["www-authenticate"] == "Bearer"
    assert _client(TransientError("busy")).get("/fails").headers["retry-after"] == "1"


def test_every_error_class_of_the_tree_has_the_status_the_api_documents():
    declared = {c for _, c in inspect.getmembers(errors, inspect.isclass)
                if issubclass(c, MdmError) and c.__module__ == errors.__name__}
    unlisted = declared - set(EXPECTED) - NOT_OF_REQUESTS
    assert not unlisted, f"give these a status in EXPECTED: {sorted(c.__name__ for c in unlisted)}"
    wrong = {c.__name__: status_of(_instance(c)) for c, s in EXPECTED.items()
             if status_of(_instance(c)) != s}
    assert not wrong, wrong


def _instance(cls: type[MdmError]) -> MdmError:
    """An instance of `cls` whatever its constructor asks for."""
    if not any("__init__" in vars(c) for c in cls.__mro__ if c.__module__ == errors.__name__):
        return cls("x")  # Exception's own constructor
    arguments = [p for p in inspect.signature(cls).parameters.values()
                 if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    return cls(*("x" for _ in arguments))
