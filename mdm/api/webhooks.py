"""`POST /api/v1/webhooks/{source}`: callbacks of SaaS OAs (钉钉, 企业微信, 飞书) and signed POSTs
(cdc/<source>.yaml with `kind: webhook`; mdm/capture/webhook.py).

No MDM token: the callback's own signature authenticates it (the Guard lets these paths in
without one, within the body limit and the pool's places). 200 with what the platform expects
once the callback is durable in the inbox; 401 {"detail", "reason": "signature"|"timestamp"}
and 400 {"reason": "malformed"} store nothing; 404 for an unknown source.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from mdm.api.database import pooled
from mdm.capture.webhook import Received, UnknownWebhook, store, verify, webhook_spec
from mdm.capture.webhook_formats import Refused
from mdm.capture.webhook_formats import Request as Callback
from mdm.config.loader import Project

PREFIX = "/api/v1/webhooks"


def _receive(engine: Engine, project: Project, source: str, callback: Callback) -> Received:
    spec = webhook_spec(project, source)
    read = verify(spec, callback)  # before any connection: a forged callback costs none
    if not read.items:
        return store(None, spec, read)  # nothing to append
    with pooled(engine) as conn:
        return store(conn, spec, read, project)


def _answer(answer: Any) -> Response:
    if isinstance(answer, str):
        return PlainTextResponse(answer)
    return JSONResponse(answer)


async def _handle(request: Request, source: str) -> Response:
    callback = Callback(request.method, dict(request.query_params),
                        {k.lower(): v for k, v in request.headers.items()}, await request.body())
    try:
        received = await run_in_threadpool(_receive, request.app.state.engine,
                                           request.app.state.project, source, callback)
    except UnknownWebhook as exc:
        return JSONResponse({"detail": str(exc), "reason": "unknown_source"}, status_code=404)
    except Refused as exc:
        return JSONResponse({"detail": exc.detail, "reason": exc.reason}, status_code=exc.status)
    return _answer(received.answer)


def webhooks_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["webhooks"])

    @router.post("/{source}", responses={401: {"description": "Bad signature or timestamp."}})
    async def callback(source: str, request: Request) -> Response:
        """A platform's callback for cdc/<source>.yaml (kind: webhook): verified by its own
        signature, durable in the inbox, then answered as the platform expects."""
        return await _handle(request, source)

    @router.get("/{source}")
    async def url_check(source: str, request: Request) -> Response:
        """企业微信's URL check (msg_signature, timestamp, nonce, echostr → the echostr)."""
        return await _handle(request, source)

    return router
