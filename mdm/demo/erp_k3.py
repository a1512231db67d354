"""A 金蝶云星空-style WebAPI on the demo ERP: a document is made in three calls — Save (the
bill, numbered, status saved), Submit, Audit — each idempotent, as the real WebAPI's
`/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save|Submit|Audit` are used. The hub's
commands of several steps (`steps:` in a flow) are tested against it: a refusal or a crash
between two calls leaves a saved or submitted bill, and the resumed command finishes it.

    POST /k3cloud/save   {"form_id", "model": {...}}  Idempotency-Key → {"result": {"number", "id"}}
    POST /k3cloud/submit {"form_id", "numbers": [...]} → {"result": {"numbers", "status"}}
    POST /k3cloud/audit  {"form_id", "numbers": [...]} (422 unless submitted)
    GET  /k3cloud/bills/{number}
Faults (/_faults) are keyed by the call: `k3:save`, `k3:submit`, `k3:audit`."""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mdm.demo.erp_api import Erp, idempotency_key
from mdm.demo.target_control import fault_answer
from mdm.demo.target_values import ApiError, parse_body

BASE = "/k3cloud"
NEXT = {"submit": ("saved", "submitted"), "audit": ("submitted", "audited")}


def _save(erp: Erp, key: str, form_id: str, model: dict[str, Any]) -> dict[str, Any]:
    with erp.pool.connection() as conn, conn.transaction():
        conn.execute("INSERT INTO k3_bill (form_id, model, mdm_key) VALUES (%s, %s, %s) "
                     "ON CONFLICT (mdm_key) DO NOTHING", (form_id, orjson.dumps(model).decode(), key))
        row = conn.execute("SELECT id, number, status FROM k3_bill WHERE mdm_key = %s",
                           (key,)).fetchone()
    assert row is not None
    return {"result": {"id": row[0], "number": row[1], "status": row[2]}}


def _advance(erp: Erp, action: str, numbers: list[str]) -> dict[str, Any]:
    before, after = NEXT[action]
    with erp.pool.connection() as conn, conn.transaction():
        for number in numbers:
            row = conn.execute("SELECT status FROM k3_bill WHERE number = %s FOR UPDATE",
                               (number,)).fetchone()
            if row is None:
                raise ApiError(404, f"单据 {number} 不存在")
            if row[0] == before:
                conn.execute("UPDATE k3_bill SET status = %s, updated_at = localtimestamp "
                             "WHERE number = %s", (after, number))
            elif row[0] != after and not (action == "submit" and row[0] == "audited"):
                verb = "提交" if action == "submit" else "审核"
                raise ApiError(422, f"单据 {number} 状态为 {row[0]}，不能{verb}")
    return {"result": {"numbers": numbers, "status": after}}


def _numbers(body: dict[str, Any]) -> list[str]:
    numbers = body.get("numbers")
    if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
        raise ApiError(422, "numbers 应为单据编号的列表")
    return numbers


def add_k3_routes(app: FastAPI, erp: Erp) -> None:
    @app.post(BASE + "/save")
    async def save(request: Request) -> Response:
        key = idempotency_key(request)
        body = parse_body(await request.body())
        if not isinstance(body.get("form_id"), str) or not isinstance(body.get("model"), dict):
            raise ApiError(422, "需要 form_id（文本）和 model（对象）")
        if (answer := await _fault(erp, "save")) is not None:
            return answer
        return JSONResponse(await run_in_threadpool(_save, erp, key, body["form_id"], body["model"]))

    for action in NEXT:
        app.post(BASE + f"/{action}", name=f"k3_{action}")(_advance_route(erp, action))

    @app.get(BASE + "/bills/{number}")
    async def bill(number: str) -> dict[str, Any]:
        def read() -> dict[str, Any] | None:
            with erp.pool.connection() as conn:
                row = conn.execute("SELECT number, form_id, status, model FROM k3_bill WHERE "
                                   "number = %s", (number,)).fetchone()
            return None if row is None else dict(zip(("number", "form_id", "status", "model"), row))

        found = await run_in_threadpool(read)
        if found is None:
            raise ApiError(404, f"单据 {number} 不存在")
        return found


def _advance_route(erp: Erp, action: str) -> Any:
    async def advance(request: Request) -> Response:
        numbers = _numbers(parse_body(await request.body()))
        if (answer := await _fault(erp, action)) is not None:
            return answer
        return JSONResponse(await run_in_threadpool(_advance, erp, action, numbers))

    return advance


async def _fault(erp: Erp, call: str) -> Response | None:
    fault = erp.faults.take(f"k3:{call}")
    return None if fault is None else await fault_answer(erp, fault)
