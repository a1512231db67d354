"""`POST /api/v1/ingest/debezium`: change events from Debezium Server's HTTP sink (role `service`)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from mdm.api.auth import Ingester
from mdm.api.database import pooled
from mdm.capture.http_ingest import Ingested, UnknownSource, ingest
from mdm.config.loader import Project
from mdm.errors import InvalidParameter, InvalidRequest


def _ingest(engine: Engine, project: Project, body: bytes, source: str | None) -> Ingested:
    with pooled(engine) as conn:
        return ingest(conn, project, body, source)


def ingest_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

    @router.post("/debezium", status_code=202)
    async def debezium(request: Request, who: Ingester,
                       source: Annotated[str | None, Query(
                           description="cdc/<source>.yaml; default: the records' source.name")] = None,
                       ) -> dict[str, Any]:
        """One Debezium JSON change event (or a JSON array of them), as Debezium Server's HTTP
        sink posts it. 202 once the batch is durable in the inbox; unparseable records are kept
        there with their reason. Configure the sink with `debezium.sink.http.url` pointing here
        and `debezium.sink.http.headers.Authorization=Bearer <a service token>`."""
        body = await request.body()
        if not body.strip():
            raise InvalidRequest("empty body: expected a Debezium JSON change event", "body")
        project: Project = request.app.state.project
        try:  # the connection only once the body is in: a slow sender does not hold one
            result = await run_in_threadpool(_ingest, request.app.state.engine, project, body, source)
        except UnknownSource as exc:  # capture's ValueError: the ?source= parameter is at fault
            raise InvalidParameter("source", str(exc)) from exc
        return {**asdict(result), "received_by": who.username}

    return router
