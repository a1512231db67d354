"""The demo OA and WMS: small REST servers, each upserting into its own PostgreSQL database.

They stand in for the downstream systems the hub propagates golden records to; the storage
behind them is demo/target_store.py. OA also runs its purchase requests' workflow
(demo/oa_requests.py), the WMS its pre-receipts and receipts (demo/wms_receipts.py); the same
process serves the ERP's REST API (demo/erp_api.py).
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mdm.demo.oa_requests import add_request_routes
from mdm.demo.saas_oa import add_saas_routes
from mdm.demo.target_control import add_control_routes, add_error_handlers, fault_answer
from mdm.demo.target_schema import COLLECTIONS, Collection
from mdm.demo.target_store import (
    IDEMPOTENCY_HEADER,
    MAX_LIST_LIMIT,
    REPLAY_HEADER,
    VERSION_HEADER,
    Instrumented,
    Target,
    prepare_target_database,
)
from mdm.demo.target_values import ApiError, parse_body, prepared_values, renamed_to
from mdm.demo.wms_outbound import add_outbound_routes
from mdm.demo.wms_receipts import add_receipt_routes
from mdm.errors import RuntimeSetupError

logger = logging.getLogger(__name__)
__all__ = ["COLLECTIONS", "create_target_app", "prepare_target_database", "serve_targets"]

# -- the app ---------------------------------------------------------------------------------


async def _injected_fault(target: Instrumented, key: str) -> Response | None:
    """Apply an armed fault: sleep, then answer its status without writing (status 0: go on)."""
    return await fault_answer(target, target.faults.take(key))


def _version(request: Request) -> int | None:
    value = request.headers.get(VERSION_HEADER, "")
    return int(value) if value.isdigit() else None


def create_target_app(system: str, database_url: str) -> FastAPI:
    """The REST app of the demo OA or WMS, writing to `database_url` (tables must exist)."""
    target = Target(system, database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(target.load_schema)
        try:
            yield
        finally:
            target.close()

    app = FastAPI(title=f"demo {target.system.upper()}", lifespan=lifespan)
    app.state.target = target

    add_error_handlers(app, target.system)
    if target.system == "oa":  # before the collections' routes: /api/purchase-requests/…
        add_request_routes(app, target.pool, lambda key: _injected_fault(target, key))
        add_saas_routes(app, target.pool)  # `mdm demo --oa saas`: its lists and callbacks
    if target.system == "wms":  # likewise: /api/pre-receipts/…, /api/receipts/…
        add_receipt_routes(app, target.pool, lambda key: _injected_fault(target, key))
        add_outbound_routes(app, target.pool, lambda key: _injected_fault(target, key))
    _add_record_routes(app, target)
    add_control_routes(app, target)
    return app


def _add_record_routes(app: FastAPI, target: Target) -> None:
    @app.put("/api/{collection}/{key}")
    async def put_record(collection: str, key: str, request: Request) -> Response:
        coll = await run_in_threadpool(target.collection, collection)
        target.count("puts")
        if (injected := await _injected_fault(target, key)) is not None:
            return injected
        body = parse_body(await request.body())
        new_key = renamed_to(coll, key, body)  # the body's key differs: a rename of `key`
        values = prepared_values(coll, new_key or key, body)
        outcome = await run_in_threadpool(
            target.upsert, coll, new_key or key, values, request.headers.get(IDEMPOTENCY_HEADER),
            _version(request), key if new_key else None)
        if outcome.replay:
            target.count("replays")
            return JSONResponse(outcome.body, status_code=200, headers={REPLAY_HEADER: "true"})
        target.count("writes")
        return JSONResponse(outcome.body, status_code=outcome.status)

    @app.delete("/api/{collection}/{key}", status_code=204)
    async def delete_record(collection: str, key: str) -> Response:
        coll = await run_in_threadpool(target.collection, collection)
        if (injected := await _injected_fault(target, key)) is not None:
            return injected
        if await run_in_threadpool(target.delete, coll, key):
            target.count("deletes")
        return Response(status_code=204)

    @app.patch("/api/{collection}/{key}")
    async def patch_record(collection: str, key: str, request: Request) -> Response:
        """Update only the fields the body names (the hub's update by link)."""
        coll = await run_in_threadpool(target.collection, collection)
        if (injected := await _injected_fault(target, key)) is not None:
            return injected
        body = parse_body(await request.body())
        if coll.key in body:
            raise ApiError(422, f"field {coll.key!r} is the record's key; PUT renames a record")
        values = prepared_values(coll, key, body)
        row = await run_in_threadpool(target.patch, coll, key, values)
        if row is None:
            raise HTTPException(404, f"no {collection} record with {coll.key} = {key!r}")
        target.count("writes")
        return JSONResponse(row)

    @app.post("/api/{collection}/_batch")
    async def batch(collection: str, body: BatchBody) -> dict[str, list[dict[str, Any]]]:
        """Several records in one call; one result per item, in order (a bad item fails alone)."""
        coll = await run_in_threadpool(target.collection, collection)
        target.count("batches")
        return {"results": [await _batch_item(target, coll, item) for item in body.items]}

    @app.get("/api/{collection}/{key}")
    async def get_record(collection: str, key: str) -> Response:
        coll = await run_in_threadpool(target.collection, collection)
        row = await run_in_threadpool(target.get, coll, key)
        if row is None:
            raise HTTPException(404, f"no {collection} record with {coll.key} = {key!r}")
        return JSONResponse(row)

    @app.get("/api/{collection}")
    async def list_records(collection: str, limit: int = Query(100, ge=1, le=MAX_LIST_LIMIT),
                           offset: int = Query(0, ge=0)) -> Response:
        coll = await run_in_threadpool(target.collection, collection)
        return JSONResponse(await run_in_threadpool(target.list_rows, coll, limit, offset))


class BatchItem(BaseModel):
    key: str
    operation: Literal["upsert", "delete"] = "upsert"
    version: int | None = None
    idempotency_key: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class BatchBody(BaseModel):
    items: list[BatchItem] = Field(max_length=1000)


async def _batch_item(target: Target, coll: Collection, item: BatchItem) -> dict[str, Any]:
    target.count("puts")
    if (injected := await _injected_fault(target, item.key)) is not None:
        return {"key": item.key, "status": injected.status_code,
                "detail": bytes(injected.body).decode()}
    try:
        if item.operation == "delete":
            await run_in_threadpool(target.delete, coll, item.key)
            return {"key": item.key, "status": 204}
        values = prepared_values(coll, item.key, item.payload)
        outcome = await run_in_threadpool(target.upsert, coll, item.key, values,
                                          item.idempotency_key, item.version)
    except ApiError as exc:
        return {"key": item.key, "status": exc.status, "detail": exc.detail}
    target.count("replays" if outcome.replay else "writes")
    return {**outcome.body, "key": item.key, "status": outcome.status,
            "outcome": outcome.body.get("status")}


# -- serving ---------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """A uvicorn server leaving signal handling to `serve_targets` (it runs several)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_one(server: _Server, everyone: list[_Server]) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind or start up
        raise RuntimeSetupError(f"target server on port {server.config.port} failed to start") \
            from exc
    finally:
        for other in everyone:
            other.should_exit = True


async def _serve_all(servers: list[_Server]) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        logger.info("stopping demo target servers")
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(_serve_one(s, servers) for s in servers))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


GRACE_S = 3  # on SIGTERM, calls still in flight (a fault's held answer) get this long


def serve_targets(oa_url: str, wms_url: str, oa_port: int, wms_port: int,
                  host: str = "127.0.0.1", erp_url: str | None = None, erp_port: int = 0) -> None:
    """Run the OA and WMS apps (creating their tables) and, given `erp_url` and `erp_port`, the
    ERP's REST API over the ERP's database, until SIGTERM or SIGINT."""
    from mdm.demo.erp_api import create_erp_app

    servers = []
    for system, url, port in (("oa", oa_url, oa_port), ("wms", wms_url, wms_port)):
        prepare_target_database(url, system)
        config = uvicorn.Config(create_target_app(system, url), host=host, port=port,
                                log_level="warning", timeout_graceful_shutdown=GRACE_S)
        servers.append(_Server(config))
        logger.info("demo %s listening on http://%s:%d", system.upper(), host, port)
    if erp_url and erp_port:
        servers.append(_Server(uvicorn.Config(create_erp_app(erp_url), host=host, port=erp_port,
                                              log_level="warning",
                                              timeout_graceful_shutdown=GRACE_S)))
        logger.info("demo ERP API listening on http://%s:%d", host, erp_port)
    asyncio.run(_serve_all(servers))
