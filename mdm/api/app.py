"""The hub's HTTP API (JSON under /api/v1), health, readiness and Prometheus metrics.

Built by `create_app(settings, project)`; nothing happens at import time.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from mdm.api.auth import Reader
from mdm.api.configuration import config_router
from mdm.api.database import Db, Limit, Offset, entity_or_404, record_or_404
from mdm.api.deliveries import deliveries_router
from mdm.api.errors import install_error_handlers
from mdm.api.guard import Guard
from mdm.api.ingest import ingest_router
from mdm.api.lineage import lineage_router
from mdm.api.metrics import render_metrics
from mdm.api.tasks import change_requests_router, tasks_router
from mdm.api.reconcile import reconcile_page_router, reconcile_router
from mdm.api.trace_page import trace_router
from mdm.api.users import users_router
from mdm.api.web import web_router
from mdm.api.webhooks import webhooks_router
from mdm.config.loader import Project
from mdm.store.repositories.deliveries import deliveries_of, list_deliveries
from mdm.store.repositories.records import list_records, referenced_records
from mdm.runtime.settings import Settings
from mdm.store.database import create_hub_engine, libpq_url
from mdm.steward.signin import SignIn, SigninPolicy
from mdm.store.status import is_ready, read_status

ERRORS: dict[int | str, dict[str, Any]] = {  # what any route may answer besides its own
    400: {"description": "The request cannot be done as asked (the detail says why)."},
    401: {"description": "Not signed in (a token or a session is needed)."},
    403: {"description": "Signed in, but the role may not do this (or the CSRF token is wrong)."},
    404: {"description": "No such entity, record, task, delivery, user or token."},
    409: {"description": "In conflict with the current state (exists already, already done)."},
    413: {"description": "The body is larger than the limit."},
    422: {"description": "A parameter or the body is not valid."},
    503: {"description": "Busy: no hub connection free in time, or the query ran too long."},
}


def create_app(settings: Settings, project: Project) -> FastAPI:
    app = FastAPI(title="mdm", version="0.1.0", responses=ERRORS,
                  description="Master data hub: golden records captured from the ERP.")
    limits = settings.api
    app.state.engine = engine = create_hub_engine(
        settings.require_database(), pool_size=limits.pool_size + limits.signin_concurrency,
        max_overflow=0,
        pool_timeout_s=limits.pool_timeout_s, statement_timeout_ms=limits.statement_timeout_ms,
        application_name="mdm api")
    app.state.project = project
    app.state.settings = settings
    app.state.libpq_url = libpq_url(settings.require_database())
    app.state.sign_in = SignIn(SigninPolicy(
        limits.signin_free_failures, limits.signin_first_delay_s, limits.signin_max_delay_s,
        limits.signin_lockout_failures, limits.signin_window_s, limits.signin_concurrency))
    app.add_middleware(Guard, engine=engine, limits=limits)
    install_error_handlers(app, limits)  # the one place errors become statuses
    app.include_router(tasks_router())
    app.include_router(change_requests_router())
    app.include_router(deliveries_router())
    app.include_router(lineage_router())
    app.include_router(ingest_router())
    app.include_router(webhooks_router())
    app.include_router(users_router())
    app.include_router(config_router())
    app.include_router(web_router())
    app.include_router(trace_router())
    app.include_router(reconcile_router())
    app.include_router(reconcile_page_router())
    app.mount("/static", StaticFiles(packages=[("mdm.api", "static")]), name="static")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(db: Db) -> dict[str, str]:
        is_ready(db)
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(db: Db) -> str:
        return render_metrics(read_status(db), project, db)

    @app.get("/api/v1/status")
    def status(_: Reader, db: Db) -> dict[str, Any]:
        return read_status(db).as_dict()

    @app.get("/api/v1/entities")
    def entities(_: Reader) -> list[dict[str, Any]]:
        return [{"entity": s.entity, "business_key": s.business_key, "source": s.source,
                 "attributes": sorted(s.attributes), "children": sorted(s.children),
                 "targets": sorted(s.targets)} for s in project.entities.values()]

    @app.get("/api/v1/records/{entity}")
    def records(entity: str, request: Request, _: Reader, db: Db, limit: Limit = 100,
                offset: Offset = 0, status: str | None = None) -> list[dict[str, Any]]:
        entity_or_404(request, entity)
        return list_records(db, entity, limit, offset, status)

    @app.get("/api/v1/records/{entity}/{key}")
    def record(entity: str, key: str, request: Request, _: Reader, db: Db) -> dict[str, Any]:
        found = record_or_404(request, db, entity, key)
        named = {a: (r.entity, str(found["attributes"][a]))
                 for a, r in project.entities[entity].references.items()
                 if found["attributes"].get(a) is not None}
        return {**found, "references": referenced_records(db, named)}

    @app.get("/api/v1/records/{entity}/{key}/deliveries")
    def record_deliveries(entity: str, key: str, request: Request, _: Reader,
                          db: Db) -> list[dict[str, Any]]:
        found = record_or_404(request, db, entity, key)
        return deliveries_of(db, found["golden_id"])

    @app.get("/api/v1/deliveries")
    def deliveries(_: Reader, db: Db, status: str | None = None, target: str | None = None,
                   limit: Limit = 100) -> list[dict[str, Any]]:
        return list_deliveries(db, status, target, limit)

    return app
