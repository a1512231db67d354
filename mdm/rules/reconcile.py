"""Reconciliation by read-back, for targets whose database the hub cannot capture.

On a schedule (`reconcile.interval_s` in targets/<name>.yaml), page through each mapped
collection with GET {path}?limit=&offset= and compare every record with the payload of its
newest acknowledged delivery, by the entity's divergence rules. Records with a delivery still
in flight are skipped (the target is about to change anyway).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from mdm.config.loader import Project, expand_env
from mdm.config.models import EntitySpec
from mdm.config.rules import DivergenceRule
from mdm.config.targets import RestTarget
from mdm.model.deliveries import build_payload
from mdm.rules.divergence import compare, key_field, open_divergence
from mdm.store.repositories import deliveries, tasks

logger = logging.getLogger(__name__)

def reconcile_forever(project: Project, target: RestTarget, hub_url: str,
                      stop: threading.Event) -> None:
    assert target.reconcile is not None
    while not stop.wait(target.reconcile.interval_s):
        try:
            found = reconcile_once(project, target, hub_url)
            logger.info("reconciled target=%s records=%d diverged=%d", target.name, *found)
        except (httpx.HTTPError, psycopg.OperationalError) as exc:
            logger.warning("reconcile target=%s failed, next try in %.0fs: %s", target.name,
                           target.reconcile.interval_s, exc)


def reconcile_once(project: Project, target: RestTarget, hub_url: str) -> tuple[int, int]:
    """One pass over every entity with divergence rules for `target`: (compared, diverged)."""
    base = expand_env(target.base_url, f"targets/{target.name}.yaml").rstrip("/")
    compared = diverged = 0
    with httpx.Client(base_url=base, timeout=target.timeout_s,
                      headers={k: expand_env(v, f"targets/{target.name}.yaml")
                               for k, v in target.headers.items()}) as client, \
            psycopg.connect(hub_url, autocommit=True) as conn:
        for entity, rule_file in project.rules.items():
            rules = [r for r in rule_file.divergence if r.target == target.name]
            if rules:
                spec = project.entities[entity]
                for page in _pages(client, spec.targets[target.name].path or "", target):
                    c, d = _compare_page(conn, spec, target.name, rules, page)
                    compared, diverged = compared + c, diverged + d
    return compared, diverged


def _pages(client: httpx.Client, path: str, target: RestTarget) -> Iterator[list[dict[str, Any]]]:
    assert target.reconcile is not None
    size, offset = target.reconcile.page_size, 0
    while True:
        response = client.get(path, params={"limit": size, "offset": offset})
        response.raise_for_status()
        items = response.json()
        if isinstance(items, dict):  # {"items": [...]} or similar envelopes
            items = next((v for v in items.values() if isinstance(v, list)), [])
        if not items:
            return
        yield items
        offset += len(items)


def _compare_page(conn: psycopg.Connection, spec: EntitySpec, target: str,
                  rules: list[DivergenceRule], items: list[dict[str, Any]]) -> tuple[int, int]:
    key_name = key_field(spec, target)
    by_key = {str(i[key_name]): i for i in items if i.get(key_name) is not None}
    mapping = spec.targets[target]
    latest = {r[0]: r for r in deliveries.latest_sends(conn, spec.entity, target, list(by_key))}
    now = datetime.now(UTC).isoformat()
    diverged, converged = 0, []
    for key, item in by_key.items():
        row = latest.get(key)
        if row is None or row[3] != "acked":
            continue  # never sent here, or a delivery in flight: nothing settled to compare
        _, golden_id, version, _, attributes, status = row
        expected = build_payload(mapping, attributes, status)
        mismatches = [m for r in rules for m in compare(spec, target, r, expected, item)]
        if not mismatches:
            converged.append((key, version))
            continue
        diverged += 1
        names = ", ".join(f"{m.field} is {m.target!r}, golden {m.golden!r}" for m in mismatches)
        open_divergence(conn, spec.entity, key, golden_id, version, target,
                        "error" if any(r.severity == "error" for r in rules) else "warning",
                        f"{target} {spec.entity} {key}: {names}",
                        {"kind": "edited", "seen_by": "reconcile", "at": now,
                         "fields": [m.__dict__ for m in mismatches], "target_values": item})
    tasks.close_divergences(conn, spec.entity, target, converged)
    return len(by_key), diverged

