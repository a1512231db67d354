"""The hub's HTTP API (JSON under /api/v1), health, readiness and Prometheus metrics.

Built by `create_app(settings, project)`; nothing happens at import time.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from mdm.api.auth import Reader
from mdm.api.configuration import config_router
from mdm.api.database import Db, record_or_404
from mdm.api.deliveries import deliveries_router
from mdm.api.ingest import ingest_router
from mdm.api.lineage import lineage_router
from mdm.api.metrics import render_metrics
from mdm.api.tasks import change_requests_router, tasks_router
from mdm.api.users import users_router
from mdm.api.web import web_router
from mdm.config.loader import Project
from mdm.golden import queries
from mdm.propagate.queries import list_deliveries
from mdm.runtime.settings import Settings
from mdm.store.database import create_hub_engine, libpq_url
from mdm.store.status import read_status


def create_app(settings: Settings, project: Project) -> FastAPI:
    app = FastAPI(title="mdm", version="0.1.0",
                  description="Master data hub: golden records captured from the ERP.")
    app.state.engine = create_hub_engine(settings.require_database())
    app.state.project = project
    app.state.libpq_url = libpq_url(settings.require_database())
    app.include_router(tasks_router())
    app.include_router(change_requests_router())
    app.include_router(deliveries_router())
    app.include_router(lineage_router())
    app.include_router(ingest_router())
    app.include_router(users_router())
    app.include_router(config_router())
    app.include_router(web_router())
    app.mount("/static", StaticFiles(packages=[("mdm.api", "static")]), name="static")

    def entity_or_404(entity: str) -> None:
        if entity not in project.entities:
            raise HTTPException(404, f"unknown entity {entity!r}; known: {sorted(project.entities)}")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(db: Db) -> dict[str, str]:
        db.execute(text("SELECT 1 FROM golden_record LIMIT 1"))
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(db: Db) -> str:
        return render_metrics(read_status(db), project)

    @app.get("/api/v1/status")
    def status(db: Db, _: Reader) -> dict[str, Any]:
        return read_status(db).as_dict()

    @app.get("/api/v1/entities")
    def entities(_: Reader) -> list[dict[str, Any]]:
        return [{"entity": s.entity, "business_key": s.business_key, "source": s.source,
                 "attributes": sorted(s.attributes), "children": sorted(s.children),
                 "targets": sorted(s.targets)} for s in project.entities.values()]

    @app.get("/api/v1/records/{entity}")
    def records(entity: str, db: Db, _: Reader, limit: Annotated[int, Query(le=1000)] = 100,
                offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
        entity_or_404(entity)
        return queries.list_records(db, entity, limit, offset, status)

    @app.get("/api/v1/records/{entity}/{key}")
    def record(entity: str, key: str, request: Request, db: Db, _: Reader) -> dict[str, Any]:
        return record_or_404(request, db, entity, key)

    @app.get("/api/v1/records/{entity}/{key}/deliveries")
    def record_deliveries(entity: str, key: str, request: Request, db: Db,
                          _: Reader) -> list[dict[str, Any]]:
        found = record_or_404(request, db, entity, key)
        return queries.deliveries_of(db, found["golden_id"])

    @app.get("/api/v1/deliveries")
    def deliveries(db: Db, _: Reader, status: str | None = None, target: str | None = None,
                   limit: Annotated[int, Query(le=1000)] = 100) -> list[dict[str, Any]]:
        return list_deliveries(db, status, target, limit)

    return app
