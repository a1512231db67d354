"""Use cases raise the error tree and the API answers it in one place (mdm/api/errors.py): a
NotFound is a 404, a Conflict a 409, an InvalidRequest a 400, each with the API's error body
`{"detail": message}`; the CLI prints the same refusal as one `Error: …` line."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py


def test_a_not_found_from_a_use_case_is_a_404_with_the_api_error_body(stack):
    admin = stack.client("errors.admin", "admin")
    expected = {
        ("GET", "/api/v1/tasks/999999"): "no task 999999",
        ("POST", "/api/v1/tasks/999999/resolve"): "no task 999999",
        ("GET", "/api/v1/deliveries/999999"): "no delivery 999999",
        ("POST", "/api/v1/deliveries/999999/retry"): "no delivery 999999",
        ("GET", "/api/v1/users/nobody.here/tokens"): "no user 'nobody.here'",
        ("POST", "/api/v1/users/nobody.here/unlock"): "no user 'nobody.here'",
        ("POST", "/api/v1/users/errors.admin/tokens/999999/revoke"):
            "no token 999999 of user 'errors.admin'",
    }
    bodies = {"/api/v1/tasks/999999/resolve": {"action": "waive", "reason": "not there"}}
    for (method, path), detail in expected.items():
        answer = admin.request(method, path, json=bodies.get(path))
        assert (answer.status_code, answer.json()) == (404, {"detail": detail}), (method, path)
    record = admin.get("/api/v1/records/supplier/NOPE")
    assert record.status_code == 404
    assert record.json()["detail"].startswith("no supplier with business key")
    replay = admin.post("/api/v1/deliveries/replay", json={"entity": "supplier", "target": "crm"})
    assert replay.status_code == 404
    assert replay.json()["detail"].startswith("supplier is not propagated to target 'crm'; its targets:")


def test_creating_a_user_that_exists_is_a_409_conflict(stack):
    admin = stack.client("errors.admin", "admin")
    first = admin.post("/api/v1/users", json={"username": "twice.added", "role": "auditor"})
    assert first.status_code == 201, first.text
    again = admin.post("/api/v1/users", json={"username": "twice.added", "role": "steward"})
    assert (again.status_code, again.json()) == (409, {"detail": "user 'twice.added' already exists"})
    assert admin.post("/api/v1/users/twice.added/disable").status_code == 200
    twice = admin.post("/api/v1/users/twice.added/disable")
    assert (twice.status_code, twice.json()) == (409, {"detail": "user 'twice.added' is already disabled"})
    disabled = admin.post("/api/v1/users/twice.added/tokens")
    assert (disabled.status_code, disabled.json()) == (409, {"detail": "user 'twice.added' is disabled"})


def test_an_invalid_request_is_a_400_and_an_invalid_parameter_a_422(stack):
    admin = stack.client("errors.admin", "admin")
    yourself = admin.post("/api/v1/users/errors.admin/disable")
    assert (yourself.status_code, yourself.json()) == (400, {"detail": "you cannot disable yourself"})
    naive = admin.post("/api/v1/deliveries/replay", json={
        "entity": "supplier", "target": "oa", "since": "2026-11-01T08:00:00"})
    assert naive.status_code == 422
    assert naive.json() == {"detail": "since needs a UTC offset, e.g. 2026-11-01T08:00+08:00"}


def test_the_cli_prints_a_use_case_refusal_as_one_error_line(stack):
    stack.ensure_user("cli.twice", "auditor")
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "add", "cli.twice",
                           "--role", "auditor", "--no-password"],
                          env=stack.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Error: user 'cli.twice' already exists" in done.stderr
    assert "Traceback" not in done.stderr
