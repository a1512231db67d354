"""The SaaS OAs' APIs as the platforms document them, served from the test's process (the real
cloud cannot be reached from here): 钉钉 gettoken + topapi/processinstance/get, 企业微信 gettoken
+ oa/getapprovaldetail, 飞书 tenant_access_token + approval/v4/instances, and a "modified since"
list of documents (/api/requests) for a poll feed."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

APP_KEY, APP_SECRET = "dingappkey", "app-secret"


class StandIn:
    """The OA's API as the platforms document it; `fail_next` 503s, `calls` per instance."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.listed: dict[int, dict[str, Any]] = {}  # /api/requests: id → record
        self.fail_next = 0
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(*stand_in.answer("GET", self.path, self.headers, b""))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(*stand_in.answer("POST", self.path, self.headers, body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _instance(self, key: str) -> tuple[int, Any] | dict[str, Any]:
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            if self.fail_next:
                self.fail_next -= 1
                return (503, {"errmsg": "busy"})
            return self.instances.get(key, {})

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        url = urlparse(path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        doc = json.loads(body) if body else {}
        if url.path == "/api/requests":  # a "modified since" list, keyset over (time, id)
            return 200, {"data": self._listed(q)}
        if url.path == "/gettoken":  # 钉钉
            ok = (q.get("appkey"), q.get("appsecret")) == (APP_KEY, APP_SECRET)
            return 200, ({"errcode": 0, "access_token": "ding-at", "expires_in": 7200} if ok
                         else {"errcode": 40089, "errmsg": "invalid appkey or appsecret"})
        if url.path == "/topapi/processinstance/get" and q.get("access_token") == "ding-at":
            found = self._instance(doc["process_instance_id"])
            if isinstance(found, tuple):
                return found
            return 200, ({"errcode": 0, "process_instance": found} if found
                         else {"errcode": 88, "errmsg": "instance not found"})
        if url.path == "/cgi-bin/gettoken":  # 企业微信
            return 200, {"errcode": 0, "access_token": "wx-at", "expires_in": 7200}
        if url.path == "/cgi-bin/oa/getapprovaldetail" and q.get("access_token") == "wx-at":
            found = self._instance(doc["sp_no"])
            return (found if isinstance(found, tuple)
                    else (200, {"errcode": 0, "errmsg": "ok", "info": found}))
        if url.path == "/open-apis/auth/v3/tenant_access_token/internal":  # 飞书
            return 200, {"code": 0, "tenant_access_token": "t-lark", "expire": 7200}
        if url.path.startswith("/open-apis/approval/v4/instances/") and \
                headers.get("Authorization") == "Bearer t-lark":
            found = self._instance(url.path.rsplit("/", 1)[1])
            return (found if isinstance(found, tuple)
                    else (200, {"code": 0, "msg": "success", "data": found}))
        return 404, {"errcode": 404, "errmsg": f"no {method} {url.path}"}

    def _listed(self, q: dict[str, str]) -> list[dict[str, Any]]:
        since, after = int(q.get("modified_since", -1)), q.get("after_id")
        with self.lock:
            found = sorted(self.listed.values(), key=lambda r: (r["modified_at"], r["id"]))
        found = [r for r in found if ((r["modified_at"], r["id"]) > (since, int(after))
                                      if after is not None else r["modified_at"] >= since)]
        return found[:int(q.get("limit", 100))]

    def stop(self) -> None:
        self.server.shutdown()
