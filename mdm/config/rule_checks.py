"""Cross-file checks of rules/*.yaml and observed sources: every attribute, child, entity,
target and field a rule names must exist. Messages read `key.path: what was expected`."""
from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from mdm.config.models import EntitySpec
from mdm.config.rules import RuleFile, named_columns
from mdm.config.sources import SourceSpec


@cache
def expectation_types() -> frozenset[str]:
    """Expectation types great-expectations ships, read from its files (no 3 s import)."""
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or spec.origin is None:
        return frozenset()
    core = Path(spec.origin).parent / "expectations" / "core"
    return frozenset(p.stem for p in core.glob("expect_*.py"))


def unknown_expectation(name: str) -> str | None:
    known = expectation_types()
    if not known or name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown Great Expectations expectation type '{name}'{hint}"


def _columns_of(entity: EntitySpec, on: str | None) -> Collection[str] | None:
    if on is None:
        return entity.attributes.keys()
    child = entity.children.get(on)
    return None if child is None else child.attributes.keys()


def check_rule_file(rules: RuleFile, entities: Mapping[str, EntitySpec],
                    unreadable: Collection[str] = ()) -> list[str]:
    """Problems of one rule file; `unreadable`: entities whose own file could not be read
    (a reference to one is not reported again)."""
    entity = entities.get(rules.entity)
    if entity is None:
        return [f"entity: '{rules.entity}' is not an entity in golden_records/ "
                f"(known: {', '.join(sorted(entities)) or 'none'})"]
    problems: list[str] = []
    for i, rule in enumerate(rules.expectations):
        where = f"expectations.{i}"
        columns = _columns_of(entity, rule.child)
        if columns is None:
            problems.append(f"{where}.child: '{rule.child}' is not a child list of {entity.entity}")
            continue
        unknown = unknown_expectation(rule.expectation_type)
        if unknown:
            problems.append(f"{where}.expectation_type: {unknown}")
        for column in named_columns(rule.kwargs):
            if column not in columns:
                problems.append(f"{where}.kwargs: column '{column}' is not an attribute "
                                f"(known: {', '.join(sorted(columns))})")
    for i, check in enumerate(rules.checks):
        problems += _check_check(f"checks.{i}", check, entity, entities, unreadable)
    for i, div in enumerate(rules.divergence):
        mapping = entity.targets.get(div.target)
        if mapping is None:
            problems.append(f"divergence.{i}.target: {entity.entity} is not sent to "
                            f"'{div.target}' (its targets: {', '.join(sorted(entity.targets))})")
            continue
        for name in div.fields:
            if name not in mapping.fields:
                problems.append(f"divergence.{i}.fields: '{name}' is not a field of "
                                f"{entity.entity}'s mapping to {div.target} "
                                f"(known: {', '.join(sorted(mapping.fields))})")
    return problems


def _check_check(where: str, check: Any, entity: EntitySpec,
                 entities: Mapping[str, EntitySpec], unreadable: Collection[str]) -> list[str]:
    columns = _columns_of(entity, check.child)
    if columns is None:
        return [f"{where}.child: '{check.child}' is not a child list of {entity.entity}"]
    problems = []
    for name in (check.attribute, *check.when):
        if name not in columns:
            problems.append(f"{where}: '{name}' is not an attribute "
                            f"(known: {', '.join(sorted(columns))})")
    if check.references and check.references not in entities and check.references not in unreadable:
        problems.append(f"{where}.references: '{check.references}' is not an entity")
    return problems


def check_observed_sources(source: SourceSpec, entities: Mapping[str, EntitySpec],
                           targets: Mapping[str, Any]) -> list[str]:
    if not source.tables:
        return []
    if source.observes not in targets:
        return [f"observes: '{source.observes}' is not a target in targets/ "
                f"(known: {', '.join(sorted(targets)) or 'none'})"]
    problems = []
    for table, observed in source.tables.items():
        entity = entities.get(observed.entity)
        if entity is None:
            problems.append(f"tables.{table}.entity: '{observed.entity}' is not an entity")
        elif source.observes not in entity.targets:
            problems.append(f"tables.{table}.entity: {observed.entity} is not sent to "
                            f"{source.observes}")
    return problems
