"""Cross-file checks of a project: every source, target and entity a file names is declared in
another, each target kind gets the keys it needs, a table is mapped by one entity only.

Problems are collected as (file, `key.path: what was expected`), never raised, so that the
loader reports all of them at once. A name declared by a file that could not be read is not
reported again where another file refers to it: that file's own problems say what is wrong.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mdm.config.models import EntitySpec
from mdm.config.rule_checks import check_observed_sources, check_rule_file
from mdm.config.rules import RuleFile
from mdm.config.sources import SourceSpec
from mdm.config.targets import KIND_KEYS, AnyTarget, TargetMapping
from mdm.errors import ConfigError


@dataclass
class Findings:
    """What reading a project found: (file, problem) pairs, the file that declared each name
    (folder, name) → file, and per folder the names of files that could not be read."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    unreadable: dict[str, set[str]] = field(default_factory=dict)

    def add(self, path: str, problems: Iterable[str]) -> None:
        self.problems += [(path, p) for p in problems]

    def add_error(self, exc: ConfigError) -> None:
        self.problems += exc.entries

    def file_of(self, folder: str, name: str) -> str:
        return self.files.get((folder, name), f"{folder}/{name}.yaml")

    def declared(self, folder: str, name: str, loaded: Mapping[str, Any]) -> bool:
        """Whether folder/ declares `name`: loaded, or meant by a file that could not be read."""
        return name in loaded or name in self.unreadable.get(folder, set())


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def check_entity_references(entity: EntitySpec, sources: Mapping[str, object],
                            targets: Mapping[str, AnyTarget], found: Findings) -> None:
    """The source, targets and owners an entity names exist; a child's order_by is one of
    its attributes."""
    where = found.file_of("golden_records", entity.entity)
    if not found.declared("cdc", entity.source, sources):
        found.add(where, [f"source: '{entity.source}' is not a source in cdc/ "
                          f"(known: {_known(sources)})"])
    for name in entity.targets:
        if not found.declared("targets", name, targets):
            found.add(where, [f"targets.{name}: not a target in targets/ "
                              f"(known: {_known(targets)})"])
    for attr, owner in entity.owned.items():
        if not found.declared("targets", owner, targets):
            found.add(where, [f"attributes.{attr}.owner: '{owner}' is not a target in targets/"])
    for table in entity.child_tables:
        child, name = table.spec, table.path[-1]
        if child.order_by is not None and child.order_by not in child.attributes:
            found.add(where, [f"{table.key}.order_by: '{child.order_by}' is not an attribute "
                              f"of {name} (known: {_known(child.attributes)})"])


def attach_mappings(entities: Mapping[str, EntitySpec], targets: Mapping[str, AnyTarget],
                    found: Findings) -> dict[str, EntitySpec]:
    """Merge mappings declared in target files into their entities, fill `fields` left empty
    (every attribute under its own name) and check the keys each target kind needs."""
    merged = {name: _merge(spec, targets, found) for name, spec in entities.items()}
    for target in targets.values():
        for name in target.entities:
            if not found.declared("golden_records", name, entities):
                found.add(found.file_of("targets", target.name), [
                    f"entities.{name}: not an entity in golden_records/ "
                    f"(known: {_known(entities)})"])
    return merged


def _merge(spec: EntitySpec, targets: Mapping[str, AnyTarget], found: Findings) -> EntitySpec:
    own_file = found.file_of("golden_records", spec.entity)
    mappings = dict(spec.targets)
    for target in targets.values():
        if spec.entity not in target.entities:
            continue
        if target.name in mappings:
            found.add(found.file_of("targets", target.name), [
                f"entities.{spec.entity}: already mapped in {own_file} "
                f"(targets.{target.name}); declare it in one place"])
            continue
        mappings[target.name] = target.entities[spec.entity]
    for target_name, mapping in list(mappings.items()):
        if target_name not in targets:  # reported above, or its own file is the problem
            continue
        where, key = ((found.file_of("targets", target_name), f"entities.{spec.entity}")
                      if target_name not in spec.targets
                      else (own_file, f"targets.{target_name}"))
        problem = (spec.mapping_problem(mapping)
                   or _kind_problem(targets[target_name], mapping, spec))
        if problem:
            found.add(where, [f"{key}.{problem}"])
        elif not mapping.fields:
            mappings[target_name] = mapping.model_copy(update={"fields": {
                n: n for n in [*spec.attributes, *spec.children]}})
    return spec.model_copy(update={"targets": mappings})


def _kind_problem(target: AnyTarget, mapping: TargetMapping, spec: EntitySpec) -> str | None:
    if mapping.write_back and target.kind not in ("rest", "sql"):
        return f"write_back: a {target.kind} target does not answer with values to write back"
    for answered, attr in mapping.write_back.items():
        if spec.attributes.get(attr) is None or spec.attributes[attr].owner != target.name:
            return (f"write_back.{answered}: '{attr}' must be an attribute of {spec.entity} with "
                    f"owner: {target.name}")
    missing = [k for k in KIND_KEYS[target.kind] if getattr(mapping, k) is None]
    if missing:
        return (f"{missing[0]}: required for a {target.kind} target "
                f"({' and '.join(KIND_KEYS[target.kind])})")
    if target.kind in ("rest", "sql") and mapping.retire == "flag" and not mapping.active_field:
        return "active_field: retire: flag needs active_field (the target's active/enabled field)"
    return None


def check_rules(rule_files: Mapping[str, RuleFile], entities: Mapping[str, EntitySpec],
                found: Findings) -> dict[str, RuleFile]:
    """The rule files that check out (by entity); the others' problems go to `found`."""
    good: dict[str, RuleFile] = {}
    for entity, rules in rule_files.items():
        if entity not in entities and found.declared("golden_records", entity, entities):
            continue  # the entity's own file could not be read
        problems = check_rule_file(rules, entities, found.unreadable.get("golden_records", set()))
        if problems:
            found.add(found.file_of("rules", entity), problems)
        else:
            good[entity] = rules
    return good


def check_observed(sources: Mapping[str, SourceSpec], entities: Mapping[str, EntitySpec],
                   targets: Mapping[str, AnyTarget], found: Findings) -> None:
    for name, source in sources.items():
        if source.observes and source.observes not in targets and found.declared(
                "targets", source.observes, targets):
            continue
        readable = {t: o for t, o in source.tables.items() if o.entity in entities
                    or not found.declared("golden_records", o.entity, entities)}
        checked = source.model_copy(update={"tables": readable})
        found.add(found.file_of("cdc", name), check_observed_sources(checked, entities, targets))


def check_tables_unique(entities: Mapping[str, EntitySpec], found: Findings) -> None:
    owner: dict[tuple[str, str], str] = {}
    for spec in entities.values():
        for table in spec.tables:
            key = (spec.source, table)
            if key in owner:
                found.add(found.file_of("golden_records", spec.entity),
                          [f"table {table} is already mapped by entity {owner[key]}"])
            else:
                owner[key] = spec.entity
