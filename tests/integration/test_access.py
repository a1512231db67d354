"""Who may do what: every API endpoint called with every role and with none. 401 without a
token (or with a disabled user's), 403 for a role that may not, and through for one that may."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.helpers import rows

pytestmark = pytest.mark.shared_stack  # the session's demo stack: tests/conftest.py

READ = {"steward", "auditor", "admin"}
SIGNED = "signed"  # no token: the callback's own signature authenticates it (webhooks)
ACCESS = {  # (method, path) → roles that may call it; None: open to anyone
    ("GET", "/healthz"): None, ("GET", "/readyz"): None, ("GET", "/metrics"): None,
    ("GET", "/api/v1/status"): READ,
    ("GET", "/api/v1/entities"): READ,
    ("GET", "/api/v1/records/{entity}"): READ,
    ("GET", "/api/v1/records/{entity}/{key}"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/deliveries"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/history"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/as-of"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/versions/{number}"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/fields/{attribute}/lineage"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/why"): READ,
    ("GET", "/api/v1/records/{entity}/{key}/lineage"): READ,
    ("GET", "/records/{entity}/{key}/lineage"): READ,
    ("GET", "/api/v1/trace/{entity}/{key}"): READ,
    ("GET", "/api/v1/reconcile/{name}"): READ,
    ("GET", "/api/v1/reconcile/{name}/{key}"): READ,
    ("GET", "/api/v1/transactions/{source}/{tx_id}"): READ,
    ("GET", "/api/v1/decisions"): READ,
    ("GET", "/api/v1/audit"): READ,
    ("GET", "/api/v1/deliveries"): READ,
    ("GET", "/api/v1/deliveries/{delivery_id}"): READ,
    ("POST", "/api/v1/deliveries/{delivery_id}/retry"): {"admin"},
    ("POST", "/api/v1/deliveries/replay"): {"admin"},
    ("GET", "/api/v1/tasks"): READ,
    ("GET", "/api/v1/tasks/{task_id}"): READ,
    ("POST", "/api/v1/tasks/{task_id}/resolve"): {"steward", "admin"},
    ("GET", "/api/v1/change-requests"): READ,
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users/{username}/disable"): {"admin"},
    ("POST", "/api/v1/users/{username}/tokens"): {"admin"},
    ("GET", "/api/v1/users/{username}/tokens"): {"admin"},
    ("POST", "/api/v1/users/{username}/tokens/{token_id}/revoke"): {"admin"},
    ("POST", "/api/v1/users/{username}/unlock"): {"admin"},
    ("GET", "/api/v1/change-requests.csv"): READ,
    ("POST", "/api/v1/ingest/debezium"): {"service"},
    ("GET", "/api/v1/config"): {"admin"},
    ("POST", "/api/v1/webhooks/{source}"): SIGNED,
    ("GET", "/api/v1/webhooks/{source}"): SIGNED,
}
PARAMS = {"entity": "supplier", "key": "S0001", "name": "purchase_order", "number": "1", "attribute": "name", "source": "erp",
          "tx_id": "1", "task_id": "999999", "delivery_id": "1", "username": "nobody.here",
          "token_id": "999999"}
QUERY = {"/api/v1/records/{entity}/{key}/as-of": {"t": "2026-01-01T00:00+08:00"},
         "/api/v1/records/{entity}/{key}/why": {"target": "oa", "field": "vendor_name"},
         "/api/v1/decisions": {"since": "2026-01-01T00:00+08:00", "until": "2027-01-01T00:00+08:00"},
         "/api/v1/ingest/debezium": {"source": "erp"}}
BODY = {"/api/v1/tasks/{task_id}/resolve": {"action": "waive", "reason": "access test"},
        "/api/v1/deliveries/replay": {"entity": "supplier", "key": "S0001", "target": "oa"},
        "/api/v1/users": {"username": "made.by.access.test", "role": "auditor"},
        "/api/v1/ingest/debezium": {"ts_ms": 0}}  # a heartbeat: no change
ROLES = ("steward", "auditor", "admin", "service")


def _call(stack, method: str, path: str, token: str | None) -> httpx.Response:
    url = path.format(**PARAMS)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{stack.api_url}{url}", params=QUERY.get(path),
                         json=BODY.get(path) if method == "POST" else None, headers=headers, timeout=30)


def test_every_endpoint_is_in_the_access_table(stack):
    spec = httpx.get(f"{stack.api_url}/openapi.json").json()
    served = {(m.upper(), p) for p, methods in spec["paths"].items() for m in methods}
    assert served == set(ACCESS)  # a new endpoint must say who may call it


@pytest.mark.parametrize("route", sorted(ACCESS), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_endpoint_with_every_role_and_none(stack, route):
    method, path = route
    allowed = ACCESS[route]
    tokens = {role: stack.token(f"access.{role}", role) for role in ROLES}
    anonymous = _call(stack, method, path, None)
    forged = _call(stack, method, path, "mdm_not-a-real-token")
    if allowed is None:
        assert anonymous.status_code == 200, anonymous.text
        return
    if allowed == SIGNED:  # the route itself answers: 'erp' is no webhook source
        for response in (anonymous, forged):
            assert response.status_code == 404 and "www-authenticate" not in response.headers
            assert response.json()["reason"] == "unknown_source"
        return
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert forged.status_code == 401
    for role, token in tokens.items():
        response = _call(stack, method, path, token)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.status_code, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            assert role in response.json()["detail"]


def test_a_disabled_users_token_stops_working_at_once(stack):
    token = stack.token("leaving.soon", "steward")
    ok = httpx.get(f"{stack.api_url}/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "disable", "leaving.soon"],
                          env=stack.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    refused = httpx.get(f"{stack.api_url}/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    audit = rows(stack.hub_url, "SELECT actor, action, subject FROM audit_log WHERE subject = 'user leaving.soon' "
                                "ORDER BY seq")
    assert [a["action"] for a in audit] == ["user_added", "token_issued", "user_disabled"]


def test_users_cli_adds_lists_and_issues_tokens(stack):
    added = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "add", "wang.fang", "--role",
                            "steward", "--display-name", "王芳", "--password-stdin"],
                           input="correct horse battery\n", env=stack.env(), capture_output=True,
                           text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    token = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "token", "wang.fang"],
                           env=stack.env(), capture_output=True, text=True, timeout=60)
    line = token.stdout.strip()
    assert token.returncode == 0 and line.startswith("export MDM_TOKEN=mdm_")
    me = httpx.get(f"{stack.api_url}/api/v1/tasks", headers={"Authorization": f"Bearer {line.split('=', 1)[1]}"})
    assert me.status_code == 200
    listed = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "list"], env={**stack.env(), "COLUMNS": "200"},
                            capture_output=True, text=True, timeout=60)
    assert "wang.fang" in listed.stdout and "王芳" in listed.stdout and "steward" in listed.stdout
    for bad, message in ((["add", "wang.fang", "--role", "steward", "--no-password"], "already exists"),
                         (["add", "x.y", "--role", "boss", "--no-password"], "unknown role 'boss'"),
                         (["add", "short", "--role", "steward", "--password-stdin"], "at least 10 characters")):
        done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", *bad], input="short\n",
                              env=stack.env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and message in done.stderr, (bad, done.stderr)
    stored = rows(stack.hub_url, "SELECT password_hash FROM app_user WHERE username = 'wang.fang'")[0]
    assert stored["password_hash"].startswith("$argon2id$")


@pytest.mark.parametrize("page", ["/", "/tasks/1", "/audit", "/admin/users"])
def test_workbench_pages_send_strangers_to_sign_in(stack, page):
    response = httpx.get(f"{stack.api_url}{page}")
    assert response.status_code == 303 and response.headers["location"] == f"/login?next={page}"
    service = stack.token("access.service", "service")
    as_service = httpx.get(f"{stack.api_url}{page}", headers={"Authorization": f"Bearer {service}"})
    assert as_service.status_code == 303  # a service account has no workbench


def test_an_admin_manages_users_through_the_api(stack):
    admin = stack.client("admin.api", "admin")
    made = admin.post("/api/v1/users", json={"username": "zhao.min", "role": "steward",
                                             "display_name": "赵敏", "password": "long enough 123"})
    assert made.status_code == 201, made.text
    assert admin.post("/api/v1/users", json={"username": "zhao.min", "role": "steward"}).status_code == 409
    assert admin.post("/api/v1/users", json={"username": "x.y", "role": "boss"}).status_code == 422
    token = admin.post("/api/v1/users/zhao.min/tokens", params={"name": "laptop"}).json()["token"]
    as_zhao = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{stack.api_url}/api/v1/tasks", headers=as_zhao).status_code == 200
    assert admin.post("/api/v1/users/admin.api/disable").status_code == 400  # not yourself
    assert admin.post("/api/v1/users/zhao.min/disable").status_code == 200
    assert httpx.get(f"{stack.api_url}/api/v1/tasks", headers=as_zhao).status_code == 401
    listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    assert listed["zhao.min"]["disabled"] is True and listed["zhao.min"]["display_name"] == "赵敏"
    audit = rows(stack.hub_url, "SELECT actor, action FROM audit_log WHERE subject = 'user zhao.min' ORDER BY seq")
    assert audit == [{"actor": "admin.api", "action": "user_added"}, {"actor": "admin.api", "action": "token_issued"},
                     {"actor": "admin.api", "action": "user_disabled"}]
