"""The API's front door, an ASGI middleware that runs before routing:

1. a body larger than the limit is refused with 413 — at once when Content-Length says so,
   while streaming otherwise (MDM_API_MAX_BODY_BYTES; MDM_API_MAX_INGEST_BODY_BYTES for
   Debezium Server's posts to /api/v1/ingest/debezium);
2. a stranger calling /api/v1 gets 401 before any body is read, without a thread or a
   connection (not on /api/v1/webhooks/: a callback is authenticated by its own signature);
3. a request that may use the database waits (asynchronously, without a thread) for one of
   MDM_API_POOL_SIZE places — a sign-in for one of MDM_API_SIGNIN_CONCURRENCY others — so the
   pool (their sum) always has a connection for every request let in: no thread ever waits
   for one, and none can be stuck behind requests waiting to give theirs back (503 with
   Retry-After when no place frees within MDM_API_POOL_TIMEOUT_S);
4. the caller is authenticated (an API token or a session cookie) with one short-lived
   pooled connection, given back before the route takes its own.

So a flood of anonymous or oversized requests costs neither memory nor hub connections, and a
flood of signed-in ones queues instead of exhausting the pool.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm.api.auth import SESSION_COOKIE, UNAUTHORISED, Caller, authenticate
from mdm.runtime.settings import ApiLimits

logger = logging.getLogger(__name__)
INGEST_PATH = "/api/v1/ingest/debezium"
API_PREFIX = "/api/v1/"


OPEN_PATHS = ("/healthz", "/static/", "/favicon.ico")  # no database
# Authenticated by their own signature, not a token (mdm/api/webhooks.py): let in without one.
SIGNED_PATHS = ("/api/v1/webhooks/",)


def _needs_token(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(SIGNED_PATHS)


class Guard:
    def __init__(self, app: ASGIApp, engine: Engine, limits: ApiLimits) -> None:
        self.app = app
        self.engine = engine
        self.limits = limits
        self._places: dict[str, asyncio.Semaphore] = {}

    def _place(self, scope: Scope) -> asyncio.Semaphore | None:
        path: str = scope.get("path", "")
        if path.startswith(OPEN_PATHS):
            return None
        kind = "signin" if path == "/login" and scope.get("method") == "POST" else "api"
        if kind not in self._places:  # made in the server's event loop
            size = self.limits.signin_concurrency if kind == "signin" else self.limits.pool_size
            self._places[kind] = asyncio.Semaphore(size)
        return self._places[kind]

    def limit_for(self, path: str) -> int:
        return self.limits.max_ingest_body_bytes if path == INGEST_PATH else self.limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope.get("path", "")
        limit = self.limit_for(path)
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            logger.warning("body refused path=%s declared_bytes=%d limit_bytes=%d", path, declared, limit)
            await _answer(send, 413, _too_large(limit), {"connection": "close"})
            return
        strange = not headers.get("authorization") and not _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if strange and _needs_token(path):
            await _answer(send, 401, UNAUTHORISED, {"www-authenticate": "Bearer"})
            return
        place = self._place(scope)
        if place is None:
            await self._serve(scope, receive, send, headers, limit)
            return
        try:
            async with asyncio.timeout(self.limits.pool_timeout_s):
                await place.acquire()
        except TimeoutError:
            logger.warning("api busy path=%s places=%d", path, self.limits.pool_size)
            await _answer(send, 503, "the API is busy: every place is taken (MDM_API_POOL_SIZE); "
                                     "try again", {"retry-after": "1"})
            return
        try:
            await self._serve(scope, receive, send, headers, limit)
        finally:
            place.release()

    async def _serve(self, scope: Scope, receive: Receive, send: Send, headers: Headers,
                     limit: int) -> None:
        path: str = scope.get("path", "")
        caller = None if path.startswith(SIGNED_PATHS) else await self._caller(headers)
        scope.setdefault("state", {})["caller"] = caller
        if caller is None and _needs_token(path):
            await _answer(send, 401, UNAUTHORISED, {"www-authenticate": "Bearer"})
            return
        await self.app(scope, _counting(receive, limit), send)

    async def _caller(self, headers: Headers) -> Caller | None:
        authorization = headers.get("authorization", "")
        cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if not authorization and not cookie:
            return None  # a stranger: no thread, no connection
        return await run_in_threadpool(authenticate, self.engine, authorization, cookie)


def _counting(receive: Receive, limit: int) -> Callable[[], Awaitable[Message]]:
    """`receive`, refusing (413) once the body passes `limit` bytes while streaming."""
    seen = [0]

    async def counted() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise HTTPException(413, _too_large(limit), headers={"Connection": "close"})
        return message

    return counted


def _too_large(limit: int) -> str:
    return (f"request body too large: at most {limit:,} bytes here "
            "(MDM_API_MAX_BODY_BYTES, MDM_API_MAX_INGEST_BODY_BYTES)")


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return None  # uvicorn refuses a malformed one itself
    return int(value.strip())


def _cookie(header: str, name: str) -> str | None:
    return cookie_parser(header).get(name) or None if header else None


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                      (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    await send({"type": "http.response.body", "body": body})
