"""Reconciliation of an order across systems (reconciliations/*.yaml): JSON at
`/api/v1/reconcile/{name}/{key}` (every figure an exact decimal string), the orders that
disagree at `/api/v1/reconcile/{name}`, and the workbench page `/reconcile/{name}/{key}` —
per line ordered, received, rejected, stocked, payable (stocked × price), the order's
payables and payments, mismatching cells marked. Readers (stewards, auditors, admins)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm.api.auth import READ, require
from mdm.api.database import Db, Limit, raw
from mdm.api.web import _page, _signed_in
from mdm.config.reconcile import ReconciliationSpec
from mdm.errors import NotFound
from mdm.flows import reconcile as reconciliation


def _spec(request: Request, name: str) -> ReconciliationSpec:
    specs = request.app.state.project.reconciliations
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none (no reconciliations/*.yaml)"
        raise NotFound("reconciliation", name, f"no reconciliation {name!r} (known: {known})")
    return specs[name]  # type: ignore[no-any-return]


def _reconciled(request: Request, db: Db, name: str, key: str) -> reconciliation.Reconciliation:
    spec = _spec(request, name)
    found = reconciliation.reconcile(raw(db), request.app.state.project, spec, key)
    if found is None:
        raise NotFound(spec.order.entity, key, f"no {spec.order.entity} with business key "
                                               f"{key!r}")
    return found


def reconcile_router() -> APIRouter:
    api = APIRouter(tags=["reconcile"], dependencies=[Depends(require(*READ))])

    @api.get("/api/v1/reconcile/{name}")
    def disagreeing(name: str, request: Request, db: Db, limit: Limit = 100) -> dict[str, Any]:
        """The orders whose documents disagree (their open `reconciliation` tasks)."""
        spec = _spec(request, name)
        return {"reconciliation": name, "mismatches": reconciliation.as_json(
            reconciliation.disagreeing(raw(db), spec, limit))}

    @api.get("/api/v1/reconcile/{name}/{key}")
    def reconcile_json(name: str, key: str, request: Request, db: Db) -> dict[str, Any]:
        """Per line ordered / received / rejected / stocked / payable, the order's payables
        and payments, and each verdict (agrees, in_progress, mismatch) with its reasons."""
        return reconciliation.as_json(_reconciled(request, db, name, key).as_dict())  # type: ignore[no-any-return]

    return api


def reconcile_page_router() -> APIRouter:
    page = APIRouter(include_in_schema=False)

    @page.get("/reconcile/{name}/{key}", response_class=HTMLResponse)
    def reconcile_html(name: str, key: str, request: Request, db: Db) -> Response:
        caller = _signed_in(request)
        if isinstance(caller, RedirectResponse):
            return caller
        found = _reconciled(request, db, name, key)
        marked = {(ln.line, r.figure) for ln in found.lines for r in ln.reasons
                  if r.verdict == reconciliation.MISMATCH}
        marked |= {("order", r.figure) for r in found.reasons
                   if r.verdict == reconciliation.MISMATCH}
        return _page(request, "reconcile.html", who=caller.who, csrf=caller.csrf, r=found,
                     marked=marked, json_href=f"/api/v1/reconcile/{quote(name, safe='')}/"
                                              f"{quote(key, safe='')}",
                     trace_href=f"/trace/{quote(found.entity, safe='')}/{quote(key, safe='')}")

    return page
