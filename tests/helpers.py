"""Reading state from the ERP, the hub and the demo targets, for comparisons in tests."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mdm.config.loader import Project
from mdm.config.models import EntitySpec
from mdm.golden.references import referenced_key
from mdm.model.deliveries import build_payload
from mdm.model.references import ReferencedRecord


def rows(url: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def golden(hub_url: str, entity: str) -> dict[str, dict[str, Any]]:
    """Golden records of an entity by ERP row id (source key)."""
    return {r["source_key"]: r for r in rows(
        hub_url, "SELECT * FROM golden_record WHERE entity = %s", (entity,))}


def canonical(value: Any) -> Any:
    """A typed database value as the hub's canonical JSON value (see mdm.model.decode)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from datetime import UTC

            return value.astimezone(UTC).isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def erp_state(erp_url: str, spec: EntitySpec) -> dict[str, dict[str, Any]]:
    """What the golden record of every ERP row of `spec` must be: attributes and status."""
    expected: dict[str, dict[str, Any]] = {}
    for row in rows(erp_url, f"SELECT * FROM {spec.table}"):
        attrs = {name: canonical(row[spec.column_of(name)]) for name in spec.attributes
                 if name not in spec.owned and name not in spec.references}
        for name, reference in spec.references.items():  # the referenced record's source key
            columns = spec.attributes[name].source_columns(name)
            attrs[name] = referenced_key(reference, [row[c] for c in columns])
        for child_name, child in spec.children.items():
            kids = rows(erp_url, f"SELECT * FROM {child.table} WHERE {child.parent_column} = %s",
                        (row[spec.primary_key],))
            if child.retired_when:
                kids = [k for k in kids if k[child.retired_when.column] != child.retired_when.equals]
            kids.sort(key=lambda k: (str(k[child.order_by]) if child.order_by else "", str(k[child.primary_key]).zfill(20)))
            attrs[child_name] = [{a: _child_value(spec_a, a, k) for a, spec_a in
                                  child.attributes.items()} for k in kids]
        retired = spec.retired_when is not None and row[spec.retired_when.column] == spec.retired_when.equals
        expected[str(row[spec.primary_key])] = {"attributes": attrs, "status": "retired" if retired else "active"}
    return expected


def _child_value(attribute: Any, name: str, row: dict[str, Any]) -> Any:
    """A child row's attribute as the golden record holds it (a reference: the referenced
    record's source key, like a document line's material)."""
    if attribute.references is not None:
        return referenced_key(attribute.references, [row[c] for c in attribute.source_columns(name)])
    return canonical(row[attribute.column or name])


def target_rows(url: str, table: str, key_column: str) -> dict[str, dict[str, Any]]:
    return {str(r[key_column]): r for r in rows(url, f"SELECT * FROM {table}")}


def expected_target_row(project: Project, entity: str, target: str, record: dict[str, Any],
                        hub_url: str | None = None) -> dict[str, Any]:
    """The target's copy of a golden record; fields rendered from a reference
    (`department.code`, `department.xref`) read the referenced record's current values from
    the hub (`hub_url`)."""
    spec = project.entities[entity]
    mapping = spec.targets[target]
    referenced = _referenced(spec, record["attributes"], hub_url) if hub_url else {}
    return build_payload(mapping, record["attributes"], record["status"], referenced, target)


def target_table(system: str, path: str) -> tuple[str, str]:
    from mdm.demo.targets import COLLECTIONS

    return COLLECTIONS[system][path.rstrip("/").split("/")[-1]]


def convergence_problems(project: Project, erp_url: str, hub_url: str,
                         target_urls: dict[str, str]) -> list[str]:
    """Every difference between ERP ⇄ golden and golden ⇄ each target's copy (rest and sql
    targets; empty = converged)."""
    problems: list[str] = []
    for entity, spec in project.entities.items():
        if spec.source != "erp":
            continue  # documents and levels born in OA or the WMS: their own tests follow them
        expected = erp_state(erp_url, spec)
        actual = golden(hub_url, entity)
        for key, want in expected.items():
            got = actual.get(key)
            if got is None:
                problems.append(f"{entity} {key}: no golden record")
            elif _sourced(spec, got["attributes"]) != want["attributes"] or got["status"] != want["status"]:
                diff = {a: (v, got["attributes"].get(a)) for a, v in want["attributes"].items()
                        if got["attributes"].get(a) != v}
                problems.append(f"{entity} {key}: golden differs {diff} status {got['status']}/{want['status']}")
        for key, got in actual.items():
            if key not in expected and got["status"] != "retired":
                problems.append(f"{entity} {key}: deleted in ERP but golden is {got['status']}")
        for target, mapping in spec.targets.items():
            if project.targets[target].kind in ("amqp", "nats"):
                continue  # messages, not a copy to compare: see demo.receivers
            if project.targets[target].kind == "sql":
                assert mapping.table and mapping.key
                table, key_column = mapping.table, mapping.key
            else:
                table, key_column = target_table(target, mapping.path or "")
            copies = target_rows(target_urls[target], table, key_column)
            for record in actual.values():
                want_row = expected_target_row(project, entity, target, record, hub_url)
                have = copies.get(record["business_key"])
                if have is None:
                    problems.append(f"{entity} {record['business_key']}: missing at {target}")
                    continue
                diff = {f: (v, canonical(have[f])) for f, v in want_row.items()
                        if not _same(f, v, canonical(have[f]), mapping.fields)}
                if diff:
                    problems.append(f"{entity} {record['business_key']} at {target}: {diff}")
    return problems


def _same(field: str, want: Any, have: Any, fields: dict[str, str]) -> bool:
    """A target's key of a referenced record (`department.xref`) is text in the hub's xref
    and whatever type the target's column has (OA HR's integer dept_id)."""
    if want == have:
        return True
    return ".xref" in fields.get(field, "") and want is not None and str(have) == str(want)


def _referenced(spec: EntitySpec, attributes: dict[str, Any],
                hub_url: str) -> dict[str, ReferencedRecord]:
    found = {}
    for name, reference in spec.references.items():
        key = attributes.get(name)
        for r in rows(hub_url, "SELECT g.id, g.attributes, coalesce((SELECT jsonb_object_agg("
                      "system, key) FROM xref WHERE golden_id = g.id), '{}') AS xrefs FROM "
                      "golden_record g WHERE entity = %s AND source_key = %s",
                      (reference.entity, key)) if key is not None else ():
            found[name] = ReferencedRecord(r["id"], r["attributes"], r["xrefs"])
    return found


def _sourced(spec: EntitySpec, attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes that come from the source (not those a target owns and writes back)."""
    return {k: v for k, v in attributes.items() if k not in spec.owned}


def target_databases(stack: Any) -> dict[str, str]:
    """Target name → the database holding its copy, for the demo project's targets."""
    return {"oa": stack.pg.url("oa"), "wms": stack.pg.url("wms"), "oa_db": stack.pg.url("oa")}


def eventually(predicate: Any, timeout: float = 30.0) -> bool:
    """Whether `predicate()` became true within `timeout` seconds (polled every 0.2 s)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@contextmanager
def running_postgres(folder: Path) -> Iterator[Any]:
    """An embedded PostgreSQL of its own for a test module; removed afterwards."""
    from mdm.runtime.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(folder)
    server.start()
    try:
        yield server
    finally:
        server.remove()


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a project file (which must hold it) with `new`."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def assert_faults_survived(hub_url: str, system_urls: list[str], seed: Any) -> None:
    """After a randomized flow run: each demo system did inject faults (its /_stats), some
    hop commands were retried, and none is dead (every one got through in the end)."""
    import httpx

    for url in system_urls:
        stats = httpx.get(f"{url}/_stats", timeout=30).json()
        assert stats.get("failures_injected", 0) > 0, (seed, url, stats)
    retried = rows(hub_url, "SELECT count(*) AS n FROM delivery WHERE hop IS NOT NULL "
                   "AND attempts > 1")
    assert retried[0]["n"] > 0, seed
    dead = rows(hub_url, "SELECT hop, business_key, last_error FROM delivery WHERE hop "
                "IS NOT NULL AND status = 'dead'")
    assert dead == [], (seed, dead[:5])
