"""Cross-file checks of flows/*.yaml: every entity, attribute and target a hop names exists,
and the target's kind can carry the hop's operation.

Problems are (file, `hops.N.key: what was expected`), collected like project_checks.py's.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set as AbstractSet

from mdm.config.flows import (
    Back,
    CommandMapping,
    Constant,
    DocumentLink,
    FieldSource,
    FlowSpec,
    Hop,
    HopTo,
    RowTransition,
    ValueMap,
)
from mdm.config.models import Attribute, ChildSpec, EntitySpec
from mdm.config.references import mapped_reference_problem
from mdm.config.targets import AnyTarget

TEMPLATE_FIELD = re.compile(r"{(\w+)(?:\.(\w+))?}")
# What each target kind can do with a command (the kinds' propagators implement these).
COMMAND_KINDS = {"rest": ("create", "update"), "sql": ("create", "update")}
# The keys a command's mapping needs, per target kind and operation.
KIND_KEYS = {("rest", "create"): ("path",), ("rest", "update"): ("path",),
             ("sql", "create"): ("table", "command_key"), ("sql", "update"): ("table", "match")}


def check_flows(flows: Mapping[str, FlowSpec], entities: Mapping[str, EntitySpec],
                targets: Mapping[str, AnyTarget], file_of: Mapping[str, str],
                unreadable: set[str]) -> list[tuple[str, str]]:
    """Every problem of every flow, as (file, problem). Names declared by unreadable files
    (`unreadable`: entities and targets whose file failed) are not reported again."""
    problems: list[tuple[str, str]] = []
    for name, flow in flows.items():
        where = file_of.get(name, f"flows/{name}.yaml")
        for index, hop in enumerate(flow.hops):
            for problem in _hop_problems(hop, entities, targets, unreadable):
                problems.append((where, f"hops.{index}.{problem}"))
        for index, link in enumerate(flow.links):
            for problem in _link_problems(link, entities, unreadable):
                problems.append((where, f"links.{index}.{problem}"))
    return problems


def _link_problems(link: DocumentLink, entities: Mapping[str, EntitySpec],
                   unreadable: set[str]) -> Iterator[str]:
    linked = entities.get(link.entity)
    if linked is None:
        if link.entity not in unreadable:
            yield (f"entity: '{link.entity}' is not an entity in golden_records/ "
                   f"(known: {_known(entities)})")
        return
    if link.origin.by not in linked.attributes:
        yield (f"origin.by: '{link.origin.by}' is not an attribute of {linked.entity} "
               f"(known: {_known(linked.attributes)})")
    if link.origin.entity not in entities and link.origin.entity not in unreadable:
        yield (f"origin.entity: '{link.origin.entity}' is not an entity in golden_records/ "
               f"(known: {_known(entities)})")


def _hop_problems(hop: Hop, entities: Mapping[str, EntitySpec],
                  targets: Mapping[str, AnyTarget], unreadable: set[str]) -> Iterator[str]:
    origin = entities.get(hop.from_)
    if origin is None:
        if hop.from_ not in unreadable:
            yield f"from: '{hop.from_}' is not an entity in golden_records/ (known: {_known(entities)})"
        return
    yield from _when_problems(hop, origin)
    if hop.actor is not None and hop.actor not in origin.attributes:
        yield f"actor: '{hop.actor}' is not an attribute of {origin.entity}"
    yield from _guard_problems(hop, origin)
    yield from _origin_problems(hop, origin, entities, unreadable)
    if hop.task is not None:
        yield from _template_problems(hop, origin)
    if hop.to is not None:
        yield from _target_problems("to", hop.to.target, hop.to.operation, targets, unreadable)
        yield from _kind_keys("to", hop.to, hop.to.operation, targets)
        yield from (f"to.{p}" for p in _mapping_problems(hop.to, origin))
        if hop.to.key is not None and hop.to.key not in origin.attributes:
            yield f"to.key: '{hop.to.key}' is not an attribute of {origin.entity}"
    if hop.link is None:
        return
    created = entities.get(hop.link.entity)
    if created is None:
        if hop.link.entity not in unreadable:
            yield (f"link.entity: '{hop.link.entity}' is not an entity in golden_records/ "
                   f"(known: {_known(entities)})")
        return
    if hop.link.by not in created.attributes:
        yield (f"link.by: '{hop.link.by}' is not an attribute of {created.entity} "
               f"(known: {_known(created.attributes)})")
    if hop.back is not None:
        yield from _target_problems("back", hop.back.target, "update", targets, unreadable)
        yield from _kind_keys("back", hop.back, "update", targets)
        yield from (f"back.{p}" for p in _mapping_problems(hop.back, created))


def _guard_problems(hop: Hop, entity: EntitySpec) -> Iterator[str]:
    if hop.if_ is None:
        return
    if hop.if_.any is None:
        yield from _where_problems("if", hop.if_.row_filter.columns, entity.attributes,
                                   entity.entity)
        return
    yield from _rows_problems("if", hop.if_.any, hop.if_.row_filter.columns, None, entity)


def _rows_problems(key: str, listed: str, columns: AbstractSet[str], row_key: str | None,
                   entity: EntitySpec) -> Iterator[str]:
    """`<key>.any` names a child list, and its `where:` (and `key:`) the rows' attributes."""
    child = entity.children.get(listed)
    if child is None:
        yield (f"{key}.any: '{listed}' is not a child list of {entity.entity} "
               f"(child lists: {_known(entity.children)})")
        return
    rows = f"the rows of {entity.entity}.{listed}"
    yield from _where_problems(key, columns, child.attributes, rows)
    if row_key is not None and row_key not in child.attributes:
        yield (f"{key}.key: '{row_key}' is not an attribute of {rows} "
               f"(known: {_known(child.attributes)})")


def _where_problems(key: str, columns: AbstractSet[str], names: Mapping[str, object],
                    owner: str) -> Iterator[str]:
    unknown = sorted(columns - set(names))
    if unknown:
        yield (f"{key}.where: {', '.join(unknown)}: not attributes of {owner} "
               f"(known: {_known(names)})")


def _origin_problems(hop: Hop, entity: EntitySpec, entities: Mapping[str, EntitySpec],
                     unreadable: set[str]) -> Iterator[str]:
    if hop.origin is None:
        return
    if hop.origin.by not in entity.attributes:
        yield f"origin.by: '{hop.origin.by}' is not an attribute of {entity.entity}"
    if hop.origin.entity not in entities and hop.origin.entity not in unreadable:
        yield (f"origin.entity: '{hop.origin.entity}' is not an entity in golden_records/ "
               f"(known: {_known(entities)})")


def _when_problems(hop: Hop, entity: EntitySpec) -> Iterator[str]:
    when = hop.when
    if not isinstance(when, RowTransition):
        if when.attribute not in entity.attributes:
            yield (f"when: '{when.attribute}' is not an attribute of {entity.entity} "
                   f"(known: {_known(entity.attributes)})")
        return
    yield from _rows_problems("when", when.any, when.row_filter.columns, when.key, entity)


def _template_problems(hop: Hop, entity: EntitySpec) -> Iterator[str]:
    """`{attribute}` of the version; `{list.attribute}` of the rows that made it fire (the
    list its `when:` or `if:` watches)."""
    assert hop.task is not None
    listed = (hop.when.any if isinstance(hop.when, RowTransition)
              else hop.if_.any if hop.if_ is not None else None)
    for name, field in TEMPLATE_FIELD.findall(hop.task.summary):
        if not field:
            if name not in entity.attributes:
                yield f"task.summary: {{{name}}} is not an attribute of {entity.entity}"
            continue
        if name != listed:
            yield (f"task.summary: {{{name}.{field}}}: '{name}' is not the child list the "
                   f"hop's when: or if: watches ({listed or 'none'})")
        elif name in entity.children and field not in entity.children[name].attributes:
            yield (f"task.summary: {{{name}.{field}}}: '{field}' is not an attribute of the "
                   f"rows of {entity.entity}.{name}")


def _target_problems(key: str, name: str, operation: str, targets: Mapping[str, AnyTarget],
                     unreadable: set[str]) -> Iterator[str]:
    target = targets.get(name)
    if target is None:
        if name not in unreadable:
            yield f"{key}.target: '{name}' is not a target in targets/ (known: {_known(targets)})"
        return
    if operation not in COMMAND_KINDS.get(target.kind, ()):
        able = ", ".join(k for k, ops in COMMAND_KINDS.items() if operation in ops)
        yield (f"{key}.target: '{name}' is a target of kind {target.kind}, which cannot "
               f"{operation} documents (kinds that can: {able})")


def _kind_keys(key: str, mapping: HopTo | Back, operation: str,
               targets: Mapping[str, AnyTarget]) -> Iterator[str]:
    target = targets.get(mapping.target)
    if target is None:
        return
    for name in KIND_KEYS.get((target.kind, operation), ()):
        if name == "path" and getattr(mapping, "steps", None):
            continue  # each step names its own
        if getattr(mapping, name, None) is None:
            yield f"{key}.{name}: required for {operation} at a {target.kind} target"
    if target.kind == "sql":
        for field, source in mapping.fields.items():
            rows = mapping.children.get(source) if isinstance(source, str) else None
            if rows is not None and (rows.table is None or rows.parent_column is None):
                yield (f"{key}.children.{source}: a sql target takes rows with `table:` and "
                       "`parent_column:` (the rows' table and its column for the header's key)")


def _mapping_problems(mapping: CommandMapping, entity: EntitySpec) -> Iterator[str]:
    names = {**entity.attributes, **entity.children}
    for field, source in mapping.fields.items():
        problem = _source_problem(source, names, entity.entity)
        if problem:
            yield f"fields.{field}: {problem}"
    for name, rows in mapping.children.items():
        child = entity.children.get(name)
        if child is None:
            yield f"children.{name}: not a child list of {entity.entity} (child lists: {_known(entity.children)})"
            continue
        if name not in mapping.fields.values():
            yield f"children.{name}: the list is not mapped (give it a field: `fields: {{{name}: {name}}}`)"
        yield from (f"children.{name}.{p}" for p in _row_problems(rows.fields, child, entity, name))
        if rows.row_filter is not None and (unknown := sorted(rows.row_filter.columns
                                                              - set(child.attributes))):
            yield (f"children.{name}.where: {', '.join(unknown)}: not attributes of the rows "
                   f"(known: {_known(child.attributes)})")


def _row_problems(fields: Mapping[str, FieldSource], child: ChildSpec, entity: EntitySpec,
                  name: str) -> Iterator[str]:
    for field, source in fields.items():
        problem = _source_problem(source, {**child.attributes, **child.children},
                                  f"the rows of {entity.entity}.{name}")
        if problem:
            yield f"fields.{field}: {problem}"


def _source_problem(source: FieldSource, names: Mapping[str, object], owner: str) -> str | None:
    if isinstance(source, Constant):
        return None
    attribute = source.from_ if isinstance(source, ValueMap) else source
    if "." in attribute:
        if isinstance(source, ValueMap):
            return f"'{attribute}': a value map translates an attribute of its own"
        references = {n: a.references for n, a in names.items()
                      if isinstance(a, Attribute) and a.references is not None}
        return mapped_reference_problem(owner, references, attribute)
    if attribute not in names:
        return f"'{attribute}' is not an attribute or child list of {owner} (known: {_known(names)})"
    return None


def _known(names: Mapping[str, object]) -> str:
    return ", ".join(sorted(names)) or "none"
