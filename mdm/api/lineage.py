"""Lineage and audit endpoints: history with diffs, as of, field lineage, "why does the target
show this", one transaction's changes, a period's decisions, and the lineage page."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import networkx as nx
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from mdm.api.auth import READ, require
from mdm.api.chain_drawing import trace_link
from mdm.api.database import BIGINT, Db, Limit, raw, record_or_404
from mdm.errors import InvalidParameter, NotFound
from mdm.lineage import graph as lineage_graph
from mdm.lineage import queries
from mdm.lineage import trace as document_trace
from mdm.steward import audit as audit_log


Version = Annotated[int, Query(ge=1, le=BIGINT, description="A version number.")]


def _aware(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None:
        raise InvalidParameter(name, f"{name} needs a UTC offset, e.g. 2026-11-01T08:00+08:00")
    return instant


def lineage_router() -> APIRouter:
    router = APIRouter(tags=["lineage"], dependencies=[Depends(require(*READ))])
    base = "/api/v1/records/{entity}/{key}"

    @router.get(base + "/history")
    def history(entity: str, key: str, request: Request, db: Db,
                as_of: datetime | None = None, limit: Limit = 100,
                before_version: Version | None = None) -> list[dict[str, Any]]:
        """Versions newest first, each with its cause and `changes` (attribute → from/to).
        With `as_of`: only the version valid at that instant (valid_from <= as_of < valid_to)."""
        found = record_or_404(request, db, entity, key)
        if as_of is not None:
            version = queries.as_of(db, found["golden_id"], _aware(as_of, "as_of"))
            return [] if version is None else [version]
        return queries.history(db, found["golden_id"], limit, before_version)

    @router.get(base + "/as-of")
    def as_of(entity: str, key: str, t: datetime, request: Request, db: Db) -> dict[str, Any]:
        """The golden record as it was at instant `t`."""
        found = record_or_404(request, db, entity, key)
        version = queries.as_of(db, found["golden_id"], _aware(t, "t"))
        if version is None:
            raise NotFound("version", t.isoformat(),
                           f"{entity} {key} did not exist at {t.isoformat()}")
        return version

    @router.get(base + "/versions/{number}")
    def version(entity: str, key: str, number: Annotated[int, Path(ge=1, le=BIGINT)],
                request: Request, db: Db) -> dict[str, Any]:
        found = record_or_404(request, db, entity, key)
        result = queries.version(db, found["golden_id"], number)
        if result is None:
            raise NotFound("version", number, f"{entity} {key} has no version {number}")
        return result

    @router.get(base + "/fields/{attribute}/lineage")
    def field_lineage(entity: str, key: str, attribute: str, request: Request, db: Db,
                      limit: Limit = 100, before_version: Version | None = None) -> list[dict[str, Any]]:
        """Each value the attribute took (the newest `limit`, oldest first; page back with
        `before_version`), what set it, and when each target received it."""
        found = record_or_404(request, db, entity, key)
        spec = request.app.state.project.entities[entity]
        if attribute not in spec.attributes and attribute not in spec.children:
            raise NotFound("attribute", attribute, f"{entity} has no attribute {attribute!r}")
        return queries.field_lineage(db, spec, found["golden_id"], attribute, limit, before_version)

    @router.get(base + "/why")
    def why(entity: str, key: str, target: str, field: str, request: Request,
            db: Db) -> dict[str, Any]:
        """Why `target` shows what it shows in `field`: back to what set the value."""
        found = record_or_404(request, db, entity, key)
        spec = request.app.state.project.entities[entity]
        if target not in spec.targets:
            raise NotFound("target", target, f"{entity} is not sent to {target!r}; "
                                             f"its targets: {sorted(spec.targets)}")
        if field not in spec.targets[target].fields:
            raise NotFound("field", field, f"{target} has no field {field!r} for {entity}; "
                                           f"its fields: {sorted(spec.targets[target].fields)}")
        return queries.why(db, spec, found["golden_id"], target, field)

    @router.get(base + "/lineage")
    def lineage_json(entity: str, key: str, request: Request, db: Db,
                     versions: Annotated[int, Query(ge=1, le=500)] = 30) -> dict[str, Any]:
        """The lineage graph (node-link JSON): cause → version → delivery → ack."""
        found = record_or_404(request, db, entity, key)
        graph = lineage_graph.build(db, entity, found["business_key"], found["golden_id"], versions)
        return dict(nx.node_link_data(graph, edges="edges"))

    @router.get("/records/{entity}/{key}/lineage", response_class=HTMLResponse)
    def lineage_page(entity: str, key: str, request: Request, db: Db,
                     versions: Annotated[int, Query(ge=1, le=500)] = 30) -> str:
        """The lineage page: the graph drawn as SVG, each box a link to its JSON."""
        found = record_or_404(request, db, entity, key)
        graph = lineage_graph.build(db, entity, found["business_key"], found["golden_id"], versions)
        title = lineage_graph.page_title(found)  # a draft by its golden id: no key yet
        return lineage_graph.page(title, lineage_graph.to_svg(graph, title), found, versions,
                                  trace_link(request.app.state.project, entity,
                                             found["business_key"], found["golden_id"]))

    @router.get("/api/v1/trace/{entity}/{key}")
    def trace_json(entity: str, key: str, request: Request, db: Db) -> dict[str, Any]:
        """The document's chain across systems (flows/): from the first document of its chain
        down through each hop's command (what fired it, who, when, how it went) and each
        document made from it."""
        found = record_or_404(request, db, entity, key)
        return document_trace.trace(db, request.app.state.project, found["golden_id"])

    @router.get("/api/v1/transactions/{source}/{tx_id}")
    def transaction(source: str, tx_id: Annotated[int, Path(ge=0, le=BIGINT)], db: Db) -> list[dict[str, Any]]:
        """Everything one source transaction changed: versions, diffs, deliveries."""
        return queries.transaction(db, source, tx_id)

    @router.get("/api/v1/decisions")
    def decisions(since: datetime, until: datetime, db: Db,
                  actor: str | None = None) -> list[dict[str, Any]]:
        """Every steward decision in [since, until), optionally by one actor."""
        return queries.decisions(db, _aware(since, "since"), _aware(until, "until"), actor)

    @router.get("/api/v1/audit")
    def audit(db: Db, after_seq: Annotated[int, Query(ge=0, le=BIGINT)] = 0, limit: Limit = 100) -> list[dict[str, Any]]:
        """The audit log (append-only, hash-chained), oldest first from `after_seq`."""
        return audit_log.entries_after(raw(db), after_seq, limit)

    return router
