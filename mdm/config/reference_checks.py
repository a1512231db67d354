"""Cross-file checks of references: the entity a `references:` names exists and is captured
from the same source, a composite reference has one column per key column of the referenced
entity, and a mapping's `department.code` / `department.xref[.<target>]` names an attribute of
the referenced entity / a target it is written to. Problems go to `found` (file, `key: …`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from mdm.config.models import Attribute, ChildSpec, EntitySpec
from mdm.config.project_checks import Findings
from mdm.config.references import Reference
from mdm.config.rules import RuleFile
from mdm.config.targets import AnyTarget, ListMapping, TargetMapping
from mdm.model.references import FieldPath, FieldPathError, field_path


def _known(names: object) -> str:
    return ", ".join(sorted(names)) or "none"  # type: ignore[call-overload]


def check_references(entities: Mapping[str, EntitySpec], targets: Mapping[str, AnyTarget],
                     found: Findings) -> None:
    """Every reference attribute of every entity (main and child lists), and every mapped
    field rendered from a reference."""
    for spec in entities.values():
        where = found.file_of("golden_records", spec.entity)
        for key, name, attribute in _reference_attributes(spec):
            assert attribute.references is not None
            problem = _target_problem(spec, name, attribute.references, entities, found)
            if problem:
                found.add(where, [f"{key}.references{problem}"])
        for target, mapping in spec.targets.items():
            file, prefix = _mapping_location(spec, target, targets, found)
            for key, references, fields in _mapped_fields(spec, mapping):
                for field, text in fields.items():
                    problem = _field_problem(references, target, text, entities, targets)
                    if problem:
                        found.add(file, [f"{prefix}.{key}fields.{field}: {problem}"])


def _mapped_fields(spec: EntitySpec, mapping: TargetMapping) -> Iterator[
        tuple[str, Mapping[str, Reference], Mapping[str, str]]]:
    """(key prefix, the references there, fields) of a mapping and its child lists' mappings."""
    def walk(key: str, children: Mapping[str, ChildSpec],
             lists: Mapping[str, ListMapping]) -> Iterator[
                 tuple[str, Mapping[str, Reference], Mapping[str, str]]]:
        for name, listed in lists.items():
            child = children.get(name)
            if child is None:
                continue  # reported on load
            yield f"{key}children.{name}.", child.references, listed.fields
            yield from walk(f"{key}children.{name}.", child.children, listed.children)

    yield "", spec.references, mapping.fields
    yield from walk("", spec.children, mapping.children)


def _reference_attributes(spec: EntitySpec) -> Iterator[tuple[str, str, Attribute]]:
    for name, attribute in spec.attributes.items():
        if attribute.references is not None:
            yield f"attributes.{name}", name, attribute
    for table in spec.child_tables:
        for name, attribute in table.spec.attributes.items():
            if attribute.references is not None:
                yield f"{table.key}.attributes.{name}", name, attribute


def _target_problem(spec: EntitySpec, name: str, reference: Reference,
                    entities: Mapping[str, EntitySpec], found: Findings) -> str | None:
    """`.entity: …` / `.columns: …` / `: …` when the referenced entity does not fit."""
    referenced = entities.get(reference.entity)
    if referenced is None:
        if found.declared("golden_records", reference.entity, entities):
            return None  # its own file could not be read: reported there
        return (f".entity: '{reference.entity}' is not an entity in golden_records/ "
                f"(known: {_known(entities)})")
    if referenced.source != spec.source:
        return (f".entity: {reference.entity}'s system of record is source "
                f"'{referenced.source}', {spec.entity}'s is '{spec.source}': a reference "
                "follows a foreign key within one source")
    keys = referenced.key_columns
    if reference.columns is not None and len(reference.columns) != len(keys):
        return (f".columns: {len(reference.columns)} columns for the {len(keys)} key "
                f"column(s) of {reference.entity} ({', '.join(keys)}); list one referring "
                "column per key column, in that order")
    if reference.columns is None and len(keys) > 1:
        return (f": {reference.entity} has a composite primary_key ({', '.join(keys)}): "
                f"write references: {{entity: {reference.entity}, columns: [...]}} with one "
                f"column of {spec.entity} per key column")
    return None


def _mapping_location(spec: EntitySpec, target: str, targets: Mapping[str, AnyTarget],
                      found: Findings) -> tuple[str, str]:
    """Where a mapping is written: the target's file (`entities:`) or the entity's."""
    declared = targets.get(target)
    if declared is not None and spec.entity in declared.entities:
        return found.file_of("targets", target), f"entities.{spec.entity}"
    return found.file_of("golden_records", spec.entity), f"targets.{target}"


def _field_problem(references: Mapping[str, Reference], target: str, text: str,
                   entities: Mapping[str, EntitySpec],
                   targets: Mapping[str, AnyTarget]) -> str | None:
    if "." not in text:
        return None
    try:
        path = field_path(text)
    except FieldPathError:
        return None  # reported by EntitySpec.mapping_problem
    reference = references.get(path.attribute)
    referenced = entities.get(reference.entity) if reference is not None else None
    if referenced is None:
        return None  # not a reference (reported on load), or its entity is the problem
    if path.xref:
        return _xref_problem(text, path, target, referenced, targets)
    if path.referenced not in referenced.attributes:
        return (f"'{text}': {path.referenced} is not an attribute of {referenced.entity} "
                f"(known: {_known(referenced.attributes)})")
    return None


def _xref_problem(text: str, path: FieldPath, target: str, referenced: EntitySpec,
                  targets: Mapping[str, AnyTarget]) -> str | None:
    at = path.xref_target or target
    if at not in targets:
        return f"'{text}': '{at}' is not a target in targets/ (known: {_known(targets)})"
    if at not in referenced.targets:
        return (f"'{text}': {referenced.entity} is not written to {at}, so it has no key "
                f"there (map {referenced.entity} to {at}, or name a target it is written to: "
                f"{path.attribute}.xref.<target>)")
    return None


def check_divergence_fields(rules: Mapping[str, RuleFile], entities: Mapping[str, EntitySpec],
                            found: Findings) -> None:
    """A divergence rule compares a target's copy with the version it was sent; a field
    rendered from a referenced record (`dept_code: department.code`) shows that record's
    current values, not the version's, so it is not compared (yet): say so. So is a child
    list whose rows render one (`lines` with `material_code: material.code`)."""
    for entity, rule_file in rules.items():
        spec = entities.get(entity)
        if spec is None:
            continue
        for i, rule in enumerate(rule_file.divergence):
            mapping = spec.targets.get(rule.target)
            for name in rule.fields:
                text = mapping.fields.get(name, "") if mapping is not None else ""
                rendered = text if "." in text else _rendered_in_rows(mapping, text)
                if rendered:
                    where = f"({text})" if rendered == text else \
                        f"(its rows' {rendered} in the mapping's children.{text})"
                    found.add(found.file_of("rules", entity), [
                        f"divergence.{i}.fields: '{name}' is rendered from a referenced record "
                        f"{where}; divergence compares the record's own fields only: "
                        f"leave it out of fields"])


def _rendered_in_rows(mapping: TargetMapping | ListMapping | None, name: str) -> str | None:
    """The first `field: reference.attribute` of the rows of list `name` (nested lists too)
    as `field: text`, or None when the list's rows render no reference."""
    rows = mapping.children.get(name) if mapping is not None else None
    if rows is None:
        return None
    for field, text in rows.fields.items():
        if "." in text:
            return f"{field}: {text}"
        nested = _rendered_in_rows(rows, text)
        if nested:
            return nested
    return None
