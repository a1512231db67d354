"""The workbench's trace page, `/trace/{entity}/{key}`: a document's chain across systems
(flows/) drawn from the chain's first document — each document a box, each hop an arrow with
what fired it, who and how it went, the updates back to the origin — with the same chain as a
table beneath. Readers (stewards, auditors, admins) may open it; the JSON is
`/api/v1/trace/{entity}/{key}`."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mdm.api.chain_drawing import LINE, layout
from mdm.api.database import Db, record_or_404
from mdm.api.web import _page, _signed_in
from mdm.lineage import trace as document_trace

SYSTEM_COLOURS = {"OA": "#2456b3", "ERP": "#2f7d32", "WMS": "#b85c00"}


def trace_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/trace/{entity}/{key}", response_class=HTMLResponse)
    def trace_html(entity: str, key: str, request: Request, db: Db) -> Response:
        """The chain the document belongs to, drawn; the asked-for document highlighted."""
        caller = _signed_in(request)
        if isinstance(caller, RedirectResponse):
            return caller
        found = record_or_404(request, db, entity, key)
        chain = document_trace.trace(db, request.app.state.project, found["golden_id"])
        by = "?by=golden_id" if request.query_params.get("by") == "golden_id" else ""
        json_href = f"/api/v1/trace/{quote(entity, safe='')}/{quote(key, safe='')}{by}"
        return _page(request, "trace.html", who=caller.who, csrf=caller.csrf, record=found,
                    drawing=layout(chain), root=chain["root"], json_href=json_href,
                    colours=SYSTEM_COLOURS, line=LINE,
                    reconciles=_reconciles(request.app.state.project, chain["root"]))

    return router


def _reconciles(project: Any, node: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, href) of the reconciliation page of each order in the chain
    (reconciliations/*.yaml)."""
    found = [(f"{node['entity']} {node['business_key']}",
              f"/reconcile/{quote(name, safe='')}/{quote(node['business_key'], safe='')}")
             for name, spec in project.reconciliations.items()
             if spec.order.entity == node["entity"] and node["business_key"]]
    for child in node["documents"]:
        found += _reconciles(project, child)
    return found
