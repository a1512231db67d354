"""A SaaS-like API that only offers "modified since" lists, for `kind: poll` feeds: the
system the poll tests read and the demo's SaaS OA (`mdm demo --oa saas`).

In memory, per resource (`materials`, `requests` …): records with an integer `id` and a
`modified_at` the server stamps on every write, with a coarse clock (`resolution_ms`, 1 s by
default, like 金蝶云星空) so many records share one time; deletions are kept as tombstones.

    GET /api/<resource>?modified_since=<iso>&after_id=<id>&limit=<n>
        → {"data": {"items": [...], "count": n}}  ordered by (modified_at, id), modified_at >=
          modified_since (after_id, when given: (modified_at, id) > (modified_since, after_id))
    GET /api/<resource>/deleted?deleted_since=<iso>&after_id=&limit=
        → {"data": [{"id": …, "deleted_at": …}]}  ordered by (deleted_at, id)
    POST /_admin/<resource>/<id>   {fields}  insert or change a record (stamps modified_at)
    DELETE /_admin/<resource>/<id>           delete it (a tombstone)
    POST /_admin/fail {"count": 3, "status": 503}  the next requests to /api fail so

Requests need `Authorization: Bearer <token>` when a token is set. A test drives the same
object directly (`upsert`, `delete`, `fail`, `between_pages`), in the test's own process.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAULT_MESSAGES = {401: "invalid or missing token", 403: "no permission for this list",
                  429: "too many requests"}


def _micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _iso(micros: int) -> str:
    moment = datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
    return moment.isoformat()


def _parse_iso(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _micros(moment)


class PollApi:
    """The records, the clock and the faults; thread-safe."""

    def __init__(self, resolution_ms: int = 1000, token: str | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self.resolution = resolution_ms * 1000
        self.clock = clock  # µs since 1970; default: the machine's clock
        self.token = token
        self.lock = threading.RLock()
        self.records: dict[str, dict[int, dict[str, Any]]] = {}
        self.tombstones: dict[str, dict[int, int]] = {}  # resource → id → deleted µs
        self.last_stamp = 0
        self.failing = 0
        self.fail_status = 503
        self.failed_served = 0
        self.pages_served = 0
        self.between_pages: Callable[[PollApi, int], None] | None = None  # (api, pages so far)
        self.server: ThreadingHTTPServer | None = None

    # -- the system's own writes --------------------------------------------------------------
    def stamp(self) -> int:
        """Now, truncated to the clock's resolution, never before the last stamp."""
        now = self.clock() if self.clock is not None else _micros(datetime.now(UTC))
        with self.lock:
            self.last_stamp = max(self.last_stamp, now - now % self.resolution)
            return self.last_stamp

    def upsert(self, resource: str, record_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows = self.records.setdefault(resource, {})
            row = {**rows.get(record_id, {}), **fields, "id": record_id}
            row["modified_at"] = _iso(self.stamp())
            rows[record_id] = row
            self.tombstones.get(resource, {}).pop(record_id, None)
            return dict(row)

    def delete(self, resource: str, record_id: int) -> bool:
        with self.lock:
            if self.records.get(resource, {}).pop(record_id, None) is None:
                return False
            self.tombstones.setdefault(resource, {})[record_id] = self.stamp()
            return True

    def fail(self, count: int, status: int = 503) -> None:
        with self.lock:
            self.failing, self.fail_status = count, status

    def state(self, resource: str) -> dict[int, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self.records.get(resource, {}).items()}

    # -- what the API answers -----------------------------------------------------------------
    def page(self, resource: str, since: int | None, after_id: int | None,
             limit: int) -> list[dict[str, Any]]:
        with self.lock:
            rows = sorted(((_parse_iso(r["modified_at"]), i, r)
                           for i, r in self.records.get(resource, {}).items()),
                          key=lambda x: (x[0], x[1]))
            chosen = [dict(r) for t, i, r in rows if _after(t, i, since, after_id)][:limit]
            self._served()
            return chosen

    def deleted(self, resource: str, since: int | None, after_id: int | None,
                limit: int) -> list[dict[str, Any]]:
        with self.lock:
            rows = sorted((t, i) for i, t in self.tombstones.get(resource, {}).items())
            chosen = [{"id": i, "deleted_at": _iso(t)} for t, i in rows
                      if _after(t, i, since, after_id)][:limit]
            self._served()
            return chosen

    def _served(self) -> None:
        self.pages_served += 1
        if self.between_pages is not None:
            self.between_pages(self, self.pages_served)

    def take_failure(self) -> int | None:
        with self.lock:
            if self.failing <= 0:
                return None
            self.failing -= 1
            self.failed_served += 1
            return self.fail_status

    # -- HTTP ---------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL."""
        api = self

        class Handler(_Handler):
            owner = api

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True,
                         name="poll-api").start()
        return f"http://{host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _after(t: int, i: int, since: int | None, after_id: int | None) -> bool:
    if since is None:
        return True
    if after_id is None:
        return t >= since
    return (t, i) > (since, after_id)


class _Handler(BaseHTTPRequestHandler):
    owner: PollApi

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 — http.server's name
        api = self.owner
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
            return self._answer(401, {"message": "invalid or missing token"})
        if len(parts) not in (2, 3) or parts[0] != "api" or (len(parts) == 3 and parts[2] != "deleted"):
            return self._answer(404, {"message": f"no such list: {url.path}"})
        failure = api.take_failure()
        if failure is not None:
            return self._answer(failure, {"message": FAULT_MESSAGES.get(
                failure, "service busy, try again later" if failure >= 500 else "refused")})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            limit = int(query.get("limit", "100"))
            after = int(query["after_id"]) if "after_id" in query else None
            since_name = "deleted_since" if len(parts) == 3 else "modified_since"
            since = _parse_iso(query[since_name]) if since_name in query else None
        except ValueError as exc:
            return self._answer(400, {"message": f"bad parameter: {exc}"})
        if len(parts) == 3:
            return self._answer(200, {"data": api.deleted(parts[1], since, after, limit)})
        items = api.page(parts[1], since, after, limit)
        return self._answer(200, {"data": {"items": items, "count": len(items)}})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_POST(self) -> None:  # noqa: N802
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if parts == ["_admin", "fail"]:
            body = self._body()
            self.owner.fail(int(body.get("count", 1)), int(body.get("status", 503)))
            return self._answer(200, {"failing": self.owner.failing})
        if len(parts) == 3 and parts[0] == "_admin":
            return self._answer(200, self.owner.upsert(parts[1], int(parts[2]), self._body()))
        return self._answer(404, {"message": "unknown admin call"})

    def do_DELETE(self) -> None:  # noqa: N802
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if len(parts) == 3 and parts[0] == "_admin":
            found = self.owner.delete(parts[1], int(parts[2]))
            return self._answer(200 if found else 404, {"deleted": found})
        return self._answer(404, {"message": "unknown admin call"})


def main() -> None:  # python -m mdm.demo.poll_api --port 8600
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    api = PollApi(token=args.token)
    print(api.start(port=args.port), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
