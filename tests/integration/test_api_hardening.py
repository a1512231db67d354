"""The API under load and attack, on a real stack: floods of strangers and of readers, bodies
too large, sign-in guessing, token expiry and revocation, bad query parameters (issue 11,
items 1, 2, 3, 11 and 14)."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from mdm.demo.stack import DemoStack
from tests.conftest import running_stack
from tests.helpers import eventually, execute, rows

POOL = 4 + 2  # MDM_API_POOL_SIZE + MDM_API_SIGNIN_CONCURRENCY: the API's connections at most
MAX_BODY = 64 * 1024
MAX_INGEST = 512 * 1024
LIMITS = {"MDM_API_POOL_SIZE": "4", "MDM_API_SIGNIN_CONCURRENCY": "2", "MDM_API_STATEMENT_TIMEOUT_MS": "3000",
          "MDM_API_MAX_BODY_BYTES": str(MAX_BODY), "MDM_API_MAX_INGEST_BODY_BYTES": str(MAX_INGEST),
          "MDM_API_SIGNIN_FREE_FAILURES": "3", "MDM_API_SIGNIN_FIRST_DELAY_S": "60",
          "MDM_API_SIGNIN_LOCKOUT_FAILURES": "8"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """A demo stack whose API runs with small limits, so the tests reach them cheaply."""
    with running_stack(tmp_path_factory.mktemp("hardening"), extra_env=LIMITS) as s:
        yield s


def _many(requests: list[tuple[str, str, dict[str, Any]]], base: str) -> list[int | str]:
    """Send all the requests at once; each one's status code (or the error it ended with)."""

    async def run() -> list[int | str]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            async def one(method: str, path: str, kwargs: dict[str, Any]) -> int | str:
                try:
                    return (await client.request(method, path, **kwargs)).status_code
                except httpx.HTTPError as exc:
                    return f"{type(exc).__name__}: {exc}"
            return list(await asyncio.gather(*(one(m, p, k) for m, p, k in requests)))

    return asyncio.run(run())


class ApiConnections:
    """The most hub connections the API process held at once while it ran (pg_stat_activity)."""

    def __init__(self, hub_url: str) -> None:
        self.hub_url, self.most, self._stop = hub_url, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with psycopg.connect(self.hub_url, autocommit=True) as conn:
            while not self._stop.is_set():
                n = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = 'mdm api'").fetchone()
                self.most = max(self.most, int(n[0]) if n else 0)
                self._stop.wait(0.05)

    def __enter__(self) -> ApiConnections:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- 1: floods -----------------------------------------------------------------------------------
def test_200_concurrent_anonymous_requests_all_get_401_without_a_connection(stack):
    paths = ["/api/v1/status", "/api/v1/tasks", "/api/v1/records/supplier", "/api/v1/audit"]
    flood = [("GET", paths[i % len(paths)], {}) for i in range(180)]
    flood += [("POST", "/api/v1/users", {"json": {"username": "x", "role": "admin"}})] * 20
    with ApiConnections(stack.hub_url) as seen:
        answers = _many(flood, stack.api_url)
    assert answers == [401] * len(flood), sorted({str(a) for a in answers})
    assert seen.most <= POOL  # strangers take none; the pool is never exceeded


def test_50_concurrent_readers_are_served_while_strangers_flood_and_the_erp_edit_flows(stack):
    token = stack.token("flood.reader", "auditor")
    signed = {"headers": {"Authorization": f"Bearer {token}"}}
    readers = [("GET", p, signed) for p in ("/api/v1/status", "/api/v1/records/supplier",
                                            "/api/v1/tasks", "/api/v1/deliveries",
                                            "/api/v1/records/supplier/S0002/history")] * 10
    strangers = [("GET", "/api/v1/status", {})] * 100
    edited = threading.Thread(target=execute, args=(
        stack.erp_url, "UPDATE supplier SET name = 'Flood-proof Co.' WHERE code = 'S0003'"))
    with ApiConnections(stack.hub_url) as seen:
        edited.start()
        answers = _many(readers + strangers, stack.api_url)
        edited.join()
    assert answers[:len(readers)] == [200] * len(readers), sorted({str(a) for a in answers})
    assert answers[len(readers):] == [401] * len(strangers)
    assert seen.most <= POOL
    assert eventually(lambda: rows(stack.hub_url, "SELECT attributes->>'name' AS n FROM golden_record "
                                   "WHERE entity = 'supplier' AND business_key = 'S0003'")[0]["n"]
                      == "Flood-proof Co.", 60)


def test_a_query_past_the_statement_timeout_answers_503_and_the_api_stays_up(stack):
    reader = stack.client("timeout.reader", "auditor")
    with psycopg.connect(stack.hub_url) as locker:
        locker.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")  # the audit query waits
        slow = reader.get("/api/v1/audit", timeout=120)
        locker.rollback()
    assert slow.status_code == 503 and "MDM_API_STATEMENT_TIMEOUT_MS" in slow.json()["detail"]
    assert slow.headers["retry-after"] == "1"
    assert reader.get("/api/v1/audit").status_code == 200


# -- 3: body size ---------------------------------------------------------------------------------
def _raw_post(stack: DemoStack, path: str, body_head: bytes, headers: dict[str, str]) -> int:
    """POST with the given headers and only the first bytes of the body; the status line."""
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body_head)
        answer = sock.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1])


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_body_declared_too_large_is_refused_at_once_anonymous_or_signed_in(stack):
    token = stack.token("body.admin", "admin")
    declared = {"Content-Type": "application/json", "Content-Length": str(400 * 1024 * 1024)}
    assert _raw_post(stack, "/api/v1/users", b'{"username": ', declared) == 413
    signed = {**declared, "Authorization": f"Bearer {token}"}
    assert _raw_post(stack, "/api/v1/users", b'{"username": ', signed) == 413
    assert _raw_post(stack, "/login", b"username=", {**declared, "Content-Type":
                                                      "application/x-www-form-urlencoded"}) == 413


def test_a_body_streamed_past_the_limit_is_refused_with_413(stack):
    admin = stack.client("body.admin", "admin")
    big = admin.post("/api/v1/users", content=_chunks(MAX_BODY * 4),
                     headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and "MDM_API_MAX_BODY_BYTES" in big.json()["detail"]
    real = b'{"username": "big.body", "role": "auditor", "display_name": "' + b"x" * MAX_BODY + b'"}'
    assert admin.post("/api/v1/users", content=real,
                      headers={"Content-Type": "application/json"}).status_code == 413
    assert not rows(stack.hub_url, "SELECT 1 FROM app_user WHERE username = 'big.body'")
    stranger = httpx.post(f"{stack.api_url}/api/v1/users", content=_chunks(MAX_BODY * 4),
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert stranger.status_code == 401  # refused before any of it is read
    assert admin.get("/api/v1/users").status_code == 200


def test_ingest_takes_a_body_over_the_normal_limit_up_to_its_own(stack):
    service = stack.client("body.service", "service")
    heartbeat = b'{"ts_ms": 0, "padding": "' + b"p" * (MAX_BODY * 2) + b'"}'
    assert len(heartbeat) < MAX_INGEST
    taken = service.post("/api/v1/ingest/debezium", content=heartbeat, params={"source": "erp"})
    assert taken.status_code == 202, taken.text
    refused = service.post("/api/v1/ingest/debezium", content=_chunks(MAX_INGEST * 2),
                           params={"source": "erp"})
    assert refused.status_code == 413 and "MDM_API_MAX_INGEST_BODY_BYTES" in refused.json()["detail"]


# -- 2: sign-in ------------------------------------------------------------------------------------
def _sign_in(stack: DemoStack, username: str, password: str, address: str) -> httpx.Response:
    with httpx.Client(base_url=stack.api_url, timeout=60,
                      headers={"X-Forwarded-For": address}) as browser:
        browser.get("/login")
        return browser.post("/login", data={"username": username, "password": password,
                                            "csrf": browser.cookies["mdm_login_csrf"], "next": "/"})


def _unblock(stack: DemoStack) -> None:
    """Let the current delay pass (instead of waiting a minute for it)."""
    execute(stack.hub_url, "UPDATE signin_failure SET blocked_until = clock_timestamp()")


def test_failed_sign_ins_are_delayed_growing_then_locked_until_an_admin_unlocks(stack):
    stack.ensure_user("guess.me", "steward", "the right password")
    for _ in range(3):  # the free failures
        assert _sign_in(stack, "guess.me", "wrong", "10.1.0.1").headers["location"].startswith("/login?failed=1")
    fourth = _sign_in(stack, "guess.me", "wrong", "10.1.0.2")
    assert fourth.status_code == 303
    refused = _sign_in(stack, "guess.me", "the right password", "10.1.0.3")  # not even checked
    assert refused.status_code == 429 and 55 <= int(refused.headers["retry-after"]) <= 60
    for i in range(4):  # the fifth to the eighth: locked
        _unblock(stack)
        assert _sign_in(stack, "guess.me", "wrong", f"10.1.1.{i}").status_code == 303
    locked = _sign_in(stack, "guess.me", "the right password", "10.1.0.5")
    assert locked.status_code == 423 and "mdm users unlock guess.me" in locked.text
    admin = stack.client("signin.admin", "admin")
    assert next(u for u in admin.get("/api/v1/users").json() if u["username"] == "guess.me")["locked_at"]
    assert admin.post("/api/v1/users/guess.me/unlock").json() == {"username": "guess.me", "was_locked": True}
    welcome = _sign_in(stack, "guess.me", "the right password", "10.1.0.6")
    assert welcome.status_code == 303 and welcome.headers["location"] == "/"
    assert "mdm_session" in welcome.cookies
    audit = [r["action"] for r in rows(stack.hub_url, "SELECT action FROM audit_log WHERE "
                                       "subject = 'user guess.me' ORDER BY seq")]
    assert audit == ["user_added"] + ["signin_failed"] * 8 + ["signin_locked", "user_unlocked"]


def test_delays_double_with_each_further_failure(stack):
    for i in range(4):
        _sign_in(stack, "nobody.at.all", "guess", f"10.2.0.{i}")
    waits = []
    for i in range(3):
        _unblock(stack)
        _sign_in(stack, "nobody.at.all", "guess", f"10.2.1.{i}")
        waits.append(int(_sign_in(stack, "nobody.at.all", "guess", "10.2.2.1").headers["retry-after"]))
    assert [round(w / 60) for w in waits] == [2, 4, 8]  # 120 s, 240 s, 480 s (first delay 60 s)


def test_failures_from_one_address_are_limited_whatever_the_names(stack):
    stack.ensure_user("innocent.user", "steward", "innocent password")
    for i in range(4):
        assert _sign_in(stack, f"made.up.{i}", "guess", "10.3.0.1").status_code == 303
    refused = _sign_in(stack, "innocent.user", "innocent password", "10.3.0.1")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert _sign_in(stack, "innocent.user", "innocent password", "10.3.0.2").status_code == 303


def test_the_cli_unlocks_a_locked_user(stack):
    stack.ensure_user("locked.out", "auditor", "auditor password")
    for i in range(8):
        _unblock(stack)
        _sign_in(stack, "locked.out", "wrong", f"10.4.0.{i}")
    assert _sign_in(stack, "locked.out", "auditor password", "10.4.1.1").status_code == 423
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", "unlock", "locked.out"],
                          env=stack.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "unlocked locked.out" in done.stdout, done.stderr
    assert _sign_in(stack, "locked.out", "auditor password", "10.4.1.2").headers["location"] == "/"


def test_the_password_is_checked_with_no_pooled_connection_held(stack, monkeypatch):
    from fastapi.testclient import TestClient

    import mdm.steward.signin as signin
    from mdm.api.app import create_app
    from mdm.config.loader import load_project
    from mdm.runtime.settings import ApiLimits, Settings

    settings = Settings(stack.project_dir, stack.state_dir, stack.hub_url, api=ApiLimits(pool_size=1))
    app = create_app(settings, load_project(stack.project_dir))
    held: list[int] = []
    checked = signin.password_matches

    def watched(stored: Any, password: str) -> bool:
        held.append(app.state.engine.pool.checkedout())
        return checked(stored, password)

    monkeypatch.setattr(signin, "password_matches", watched)
    stack.ensure_user("pool.watch", "steward", "pool watch password")
    with TestClient(app, base_url="http://testserver") as browser:
        browser.get("/login")
        signed = browser.post("/login", follow_redirects=False, data={
            "username": "pool.watch", "password": "pool watch password",
            "csrf": browser.cookies["mdm_login_csrf"]})
    app.state.engine.dispose()
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert held == [0]


# -- 11: tokens ------------------------------------------------------------------------------------
def _api(stack: DemoStack, token: str, path: str = "/api/v1/tasks") -> int:
    return httpx.get(f"{stack.api_url}{path}", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).status_code


def test_tokens_expire_by_default_after_90_days_and_one_can_be_revoked(stack):
    admin = stack.client("token.admin", "admin")
    stack.ensure_user("two.tokens", "auditor")
    first = admin.post("/api/v1/users/two.tokens/tokens", params={"name": "laptop"}).json()
    second = admin.post("/api/v1/users/two.tokens/tokens", params={"name": "ci", "days": 7}).json()
    expires = datetime.fromisoformat(first["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=89) < expires <= timedelta(days=90)
    assert timedelta(days=6) < datetime.fromisoformat(second["expires_at"]) - datetime.now(UTC) <= timedelta(days=7)
    assert _api(stack, first["token"]) == 200 and _api(stack, second["token"]) == 200
    listed = {t["id"]: t for t in admin.get("/api/v1/users/two.tokens/tokens").json()}
    assert listed[first["id"]]["last_used_at"] and listed[first["id"]]["state"] == "live"
    revoked = admin.post(f"/api/v1/users/two.tokens/tokens/{first['id']}/revoke")
    assert revoked.status_code == 200
    assert _api(stack, first["token"]) == 401 and _api(stack, second["token"]) == 200
    assert admin.post(f"/api/v1/users/two.tokens/tokens/{first['id']}/revoke").status_code == 409
    assert admin.post("/api/v1/users/two.tokens/tokens/999999/revoke").status_code == 404
    execute(stack.hub_url, f"UPDATE api_token SET expires_at = clock_timestamp() - interval '1 s' "
                           f"WHERE id = {second['id']}")  # seven days later
    assert _api(stack, second["token"]) == 401
    states = {t["id"]: t["state"] for t in admin.get("/api/v1/users/two.tokens/tokens").json()}
    assert states == {first["id"]: "revoked", second["id"]: "expired"}
    actions = [r["action"] for r in rows(stack.hub_url, "SELECT action FROM audit_log WHERE "
                                         "subject = 'user two.tokens' ORDER BY seq")]
    assert actions == ["user_added", "token_issued", "token_issued", "token_revoked"]


def test_the_cli_issues_lists_and_revokes_tokens(stack):
    stack.ensure_user("cli.tokens", "steward")

    def mdm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mdm.cli.main", "users", *args],
                              env={**stack.env(), "COLUMNS": "200"}, capture_output=True,
                              text=True, timeout=60)

    issued = mdm("token", "cli.tokens", "--name", "laptop", "--days", "30")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().split("=", 1)[1]
    token_id = int(issued.stderr.split()[1])
    assert _api(stack, token) == 200
    listed = mdm("tokens", "cli.tokens")
    assert "laptop" in listed.stdout and "live" in listed.stdout and token[:10] in listed.stdout
    assert mdm("revoke", "cli.tokens", str(token_id)).returncode == 0
    assert _api(stack, token) == 401
    assert "revoked" in mdm("tokens", "cli.tokens").stdout
    again = mdm("revoke", "cli.tokens", str(token_id))
    assert again.returncode == 1 and "already revoked" in again.stderr


def test_the_admin_page_lists_tokens_and_revokes_one(stack):
    stack.ensure_user("page.admin", "admin", "page admin password")
    victim = stack.token("page.victim", "auditor")
    with httpx.Client(base_url=stack.api_url, timeout=60, headers={"X-Forwarded-For": "10.5.0.1"}) as browser:
        browser.get("/login")
        browser.post("/login", data={"username": "page.admin", "password": "page admin password",
                                     "csrf": browser.cookies["mdm_login_csrf"]})
        page = browser.get("/admin/users")
        assert page.status_code == 200 and 'data-revoke="page.victim"' in page.text
        token_id = next(t["id"] for t in rows(stack.hub_url, "SELECT t.id FROM api_token t JOIN app_user u "
                                              "ON u.id = t.user_id WHERE u.username = 'page.victim'"))
        assert f'data-token-id="{token_id}"' in page.text
        csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        done = browser.post(f"/api/v1/users/page.victim/tokens/{token_id}/revoke",
                            headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
    assert _api(stack, victim) == 401


def test_the_demo_revokes_the_token_it_printed_on_its_previous_start(stack):
    _, first, _ = stack.demo_users()
    assert _api(stack, first) == 200
    _, second, revoked = stack.demo_users()
    assert revoked == 1
    assert _api(stack, first) == 401 and _api(stack, second) == 200


# -- 14: query parameters --------------------------------------------------------------------------
BAD = ["/api/v1/records/supplier?offset=-1", "/api/v1/records/supplier?limit=-1",
       "/api/v1/records/supplier?limit=0", "/api/v1/deliveries?limit=-1",
       "/api/v1/tasks?offset=99999999999999999999", "/api/v1/tasks?status=%00", "/api/v1/audit?after_seq=-1", "/api/v1/audit?after_seq=99999999999999999999",
       "/api/v1/records/supplier?offset=99999999999999999999", "/api/v1/tasks/99999999999999999999",
       "/api/v1/transactions/erp/99999999999999999999", "/api/v1/transactions/erp/-1",
       "/api/v1/records/supplier/S0001/versions/0", "/api/v1/records/supplier/S0001/history?before_version=-5",
       "/api/v1/records/supplier?status=%00", "/api/v1/tasks?entity=a%00b",
       "/api/v1/deliveries?target=%00"]


@pytest.mark.parametrize("path", BAD)
def test_bad_query_parameters_answer_422(stack, path):
    answer = stack.client("params.auditor", "auditor").get(path)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("path", ["/api/v1/records/supplier/²", "/api/v1/records/supplier/²/history",
                                  "/api/v1/records/supplier/١٢/deliveries"])
def test_odd_record_keys_are_not_found_not_a_server_error(stack, path):
    assert stack.client("params.auditor", "auditor").get(path).status_code == 404


@pytest.mark.parametrize("path", ["/?older_than_h=1e308", "/?older_than_h=-1", "/audit?limit=-1",
                                  "/tasks/99999999999999999999"])
def test_bad_page_parameters_answer_422(stack, path):
    stack.ensure_user("params.page", "steward", "params page password")
    with httpx.Client(base_url=stack.api_url, timeout=60, headers={"X-Forwarded-For": "10.6.0.1"}) as browser:
        browser.get("/login")
        browser.post("/login", data={"username": "params.page", "password": "params page password",
                                     "csrf": browser.cookies["mdm_login_csrf"]})
        assert browser.get(path).status_code == 422
