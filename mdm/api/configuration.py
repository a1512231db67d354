"""What the running hub loaded from its project files, and how each part is doing — for admins
(`GET /api/v1/config`, the workbench's /admin/config). Configuration itself lives in the
project folder (reviewed, versioned); this is the place to see which file says what, and where
capture or a target is behind. No secret leaves: URLs are shown as written (`${MDM_ERP_URL}`)
and as resolved with passwords, tokens and secret query parameters (`?access_token=`) masked,
several hosts (`nats://a:4222,b:4222`) included; header values are never shown."""
from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection

from mdm.api.auth import Admin
from mdm.api.database import Db
from mdm.config.loader import Project, expand_env
from mdm.config.sources import SourceSpec
from mdm.config.targets import AnyTarget, RestTarget
from mdm.config.urls import redact
from mdm.errors import ConfigError
from mdm.store.status import capture_states, delivery_counts


def _address(written: str, where: str) -> dict[str, str]:
    try:
        resolved = redact(expand_env(written, where))
    except ConfigError as exc:
        resolved = f"unresolved: {'; '.join(exc.problems)}"
    # As written, a secret is a ${VAR} reference, shown; one typed into the file is masked.
    return {"written": redact(written), "resolved": resolved}


def _source(spec: SourceSpec, project: Project, state: dict[str, Any] | None) -> dict[str, Any]:
    where = f"cdc/{spec.name}.yaml"
    return {"name": spec.name, "file": where, "connector": spec.connector,
            "url": _address(spec.url, where), "slot": spec.slot, "snapshot_mode": spec.snapshot_mode,
            "tables": len(project.captured_tables(spec.name)),
            # the role is per table: entities of record here, and the target copies observed
            "system_of_record_of": project.entities_of_record(spec.name),
            "observes": spec.observes,
            "observed_tables": {t: o.entity for t, o in sorted(spec.tables.items())},
            "write_method": spec.write_method, "capture": state}


def _target(spec: AnyTarget, project: Project, counts: dict[str, int]) -> dict[str, Any]:
    where = f"targets/{spec.name}.yaml"
    written = spec.base_url if isinstance(spec, RestTarget) else spec.url
    out: dict[str, Any] = {
        "name": spec.name, "file": where, "kind": spec.kind, "address": _address(written, where),
        "max_attempts": spec.max_attempts, "concurrency": spec.concurrency,
        "rate_limit_per_s": spec.rate_limit_per_s, "timeout_s": spec.timeout_s,
        "entities": sorted(e for e, s in project.entities.items() if spec.name in s.targets),
        "deliveries": counts}
    if isinstance(spec, RestTarget):
        out["headers"] = sorted(spec.headers)  # names only
    return out


def _entity(name: str, project: Project) -> dict[str, Any]:
    spec = project.entities[name]
    rules = project.rules.get(name)
    severities = Counter(r.severity for r in (rules.expectations if rules else []))
    severities.update(r.severity for r in (rules.checks if rules else []))
    return {"name": name, "file": f"golden_records/{name}.yaml", "source": spec.source,
            "table": spec.table, "business_key": spec.business_key,
            "attributes": len(spec.attributes), "children": sorted(spec.children),
            "targets": sorted(spec.targets), "rules": dict(severities),
            "divergence_rules": len(rules.divergence) if rules else 0,
            "history": spec.history.model_dump() if spec.history else None}


def describe(db: Connection, project: Project) -> dict[str, Any]:
    states, counts = capture_states(db), delivery_counts(db)
    return {
        "project": str(project.root),
        "sources": [_source(s, project, states.get(n)) for n, s in sorted(project.sources.items())],
        "entities": [_entity(n, project) for n in project.entity_order()],
        "targets": [_target(t, project, counts.get(n, {})) for n, t in sorted(project.targets.items())],
    }


def config_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["configuration"])

    @router.get("/config")
    def config(request: Request, db: Db, _: Admin) -> dict[str, Any]:
        """The project the hub runs (sources, entities, rules, targets), secrets masked, with
        capture progress per source and delivery counts per target."""
        return describe(db, request.app.state.project)

    return router
