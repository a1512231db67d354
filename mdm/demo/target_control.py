"""What every demo system's app has: its error answers, injected faults (/_faults) applied to a
call, /healthz and call counters (/_stats). Used by demo/targets.py (OA, WMS) and
demo/erp_api.py (the ERP)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mdm.demo.target_store import FaultHit, FaultSpec, Instrumented
from mdm.demo.target_values import ApiError

logger = logging.getLogger(__name__)


def add_error_handlers(app: FastAPI, system: str) -> None:
    """ApiError → its status and {"detail"}; the system's database unreachable → 503."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        logger.warning("%s database unavailable: %s", system, exc)
        return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)


async def fault_answer(target: Instrumented, fault: FaultHit | None) -> Response | None:
    """Sleep the fault's delay, then its answer (None: no fault, or status 0: go on)."""
    if fault is None:
        return None
    status, delay_ms, body, _ = fault
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    if not status:
        return None
    target.count("failures_injected")
    if body is not None:  # verbatim: a body no JSON encoder would write
        return Response(body.encode("utf-8", "surrogatepass"), status_code=status,
                        media_type="application/json")
    return JSONResponse({"detail": f"injected fault: status {status}"}, status_code=status)

def add_control_routes(app: FastAPI, target: Instrumented, after_write: bool = False) -> None:
    """/healthz, /_faults (POST arms, GET shows) and /_stats; `after_write`: the app honours FaultSpec.after_write."""
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        await run_in_threadpool(target.ping)
        return {"status": "ok", "system": target.system}

    @app.post("/_faults")
    async def set_faults(spec: FaultSpec) -> dict[str, Any]:
        if spec.status and not 100 <= spec.status <= 599:
            raise ApiError(422, f"status must be 0 or an HTTP status (100-599), got {spec.status}")
        if spec.after_write and not after_write:
            raise ApiError(422, f"after_write is not taken by {target.system.upper()}: only the "
                                "ERP's document creation writes before it answers a fault")
        target.faults.arm(spec)
        logger.info("%s faults armed: %s", target.system, target.faults.as_dict())
        return target.faults.as_dict()

    @app.get("/_faults")
    async def armed_faults() -> dict[str, Any]:
        """The faults armed now (how many calls they still hit)."""
        return target.faults.as_dict()

    @app.get("/_stats")
    async def stats() -> dict[str, int]:
        return target.stats()
