"""What the project expects of each database it reaches, table by table, for `mdm check
--live` (config/live_check.py compares it with the catalogs): the columns it reads or writes,
with the key in the project file that names each one and the attribute type it should fit.

Databases are named "source <name>" (cdc/<name>.yaml: the tables of the entities it is the
system of record for, and the tables it observes) and "target <name>" (a `kind: sql` target's
tables). Every future key that names a column (a reference's foreign key …) adds its Wanted
entries here and its comparison in live_check.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mdm.config.loader import Project
from mdm.config.models import Attribute, ChildTable, EntitySpec
from mdm.config.row_filter import RowFilter
from mdm.config.sources import ObservedTable, SourceSpec
from mdm.config.targets import SqlTarget, TargetMapping
from mdm.model.references import field_path

Level = Literal["error", "note"]


@dataclass(frozen=True)
class Wanted:
    """One column the project names: at `key` in the file, expected to fit `type` (None:
    only that it exists); `what` says what it is for when the key alone does not."""

    key: str
    column: str
    type: str | None = None
    what: str = ""


@dataclass(frozen=True)
class WantedReference:
    """A reference attribute's foreign key: `columns` point at `referenced` of `table`."""

    key: str
    columns: tuple[str, ...]
    entity: str
    table: str
    referenced: tuple[str, ...]


@dataclass(frozen=True)
class WantedTable:
    """One table as the project describes it. `ignored` names the entity's ignore_columns
    (checked once, on the main table, against all the entity's tables: `ignore_in`);
    `same_type_as` pairs a column with (table, column) it must match in type; `type_level`
    is how much a type that does not fit weighs (a note for a target's observed copy, whose
    types are the target's business)."""

    database: str
    file: str
    key: str
    table: str
    columns: tuple[Wanted, ...]
    direction: Literal["read", "write"] = "read"
    ignored: tuple[Wanted, ...] = ()
    ignore_in: tuple[str, ...] = ()
    check_ignored: bool = False
    where: RowFilter | None = None
    where_key: str = "where"
    same_type_as: tuple[tuple[Wanted, str, str], ...] = ()
    references: tuple[WantedReference, ...] = ()
    note_unmapped: bool = False
    type_level: Level = "error"

    def used_columns(self) -> set[str]:
        used = {w.column for w in (*self.columns, *self.ignored)}
        return used | (set(self.where.columns) if self.where else set())


def wanted_tables(project: Project) -> dict[str, list[WantedTable]]:
    """database → the tables the project maps there, in file order."""
    out: dict[str, list[WantedTable]] = {}
    for name, source in project.sources.items():
        if source.tables:  # the observed copies; the tables of record follow
            out[f"source {name}"] = _observed(source, project)
    for spec in project.entities.values():
        out.setdefault(f"source {spec.source}", []).extend(_entity(spec, project.entities))
    for target in project.targets.values():
        if isinstance(target, SqlTarget):
            tables = [_sql_target(target, spec, spec.targets[target.name], project.entities)
                      for spec in project.entities.values() if target.name in spec.targets]
            if tables:
                out[f"target {target.name}"] = tables
    return out


def _attributes(attributes: Mapping[str, Attribute], prefix: str,
                order_by: str | None = None) -> list[Wanted]:
    wanted = []
    for name, attribute in attributes.items():
        if attribute.owner is not None:  # comes from its target's answers, not from a column
            continue
        if attribute.references is not None:
            wanted += _reference_columns(name, attribute, f"{prefix}attributes.{name}")
            continue
        key = f"{prefix}attributes.{name}" + (".column" if attribute.column else "")
        what = f"order_by {name}" if name == order_by else ""
        wanted.append(Wanted(key, attribute.column or name, attribute.type, what))
    return wanted


def _reference_columns(name: str, attribute: Attribute, key: str) -> list[Wanted]:
    """A reference's columns: their type is judged against the referenced key's (or, for a
    'model,id' string reference, as text)."""
    reference = attribute.references
    assert reference is not None
    what = f"references {reference.entity}"
    if reference.columns:
        return [Wanted(f"{key}.references.columns.{i}", c, None, what)
                for i, c in enumerate(reference.columns)]
    kind = "string" if reference.format == "model,id" else None
    return [Wanted(key + (".column" if attribute.column else ""), attribute.column or name,
                   kind, what)]


def _foreign_keys(attributes: Mapping[str, Attribute], prefix: str,
                  entities: Mapping[str, EntitySpec]) -> tuple[
                      tuple[tuple[Wanted, str, str], ...], tuple[WantedReference, ...]]:
    """Per reference (format id) to a known entity: each referring column paired with the
    referenced key column (same type), and the foreign key the database should declare."""
    pairs: list[tuple[Wanted, str, str]] = []
    keys: list[WantedReference] = []
    for name, attribute in attributes.items():
        reference = attribute.references
        target = entities.get(reference.entity) if reference is not None else None
        if reference is None or target is None or reference.format != "id":
            continue
        columns = _reference_columns(name, attribute, f"{prefix}attributes.{name}")
        if len(columns) != len(target.key_columns):
            continue  # reported on load
        pairs += [(w, target.table, k) for w, k in zip(columns, target.key_columns)]
        keys.append(WantedReference(f"{prefix}attributes.{name}.references",
                                    tuple(w.column for w in columns), target.entity,
                                    target.table, tuple(target.key_columns)))
    return tuple(pairs), tuple(keys)


def _entity(spec: EntitySpec, entities: Mapping[str, EntitySpec]) -> list[WantedTable]:
    file = f"golden_records/{spec.entity}.yaml"
    database = f"source {spec.source}"
    ignored = tuple(Wanted(f"ignore_columns.{i}", c) for i, c in enumerate(spec.ignore_columns))
    keys = ([Wanted("primary_key", spec.primary_key)] if isinstance(spec.primary_key, str) else
            [Wanted(f"primary_key.{i}", c) for i, c in enumerate(spec.primary_key)])
    columns = [*keys, *_attributes(spec.attributes, "")]
    if spec.retired_when:
        columns.append(Wanted("retired_when.column", spec.retired_when.column))
    same_type, references = _foreign_keys(spec.attributes, "", entities)
    main = WantedTable(database, file, "table", spec.table, tuple(columns), ignored=ignored,
                       ignore_in=tuple(c.spec.table for c in spec.child_tables),
                       check_ignored=True, where=spec.row_filter, same_type_as=same_type,
                       references=references, note_unmapped=True)
    return [main, *(_child(spec, table, ignored, entities) for table in spec.child_tables)]


def _child(spec: EntitySpec, table: ChildTable, ignored: tuple[Wanted, ...],
           entities: Mapping[str, EntitySpec]) -> WantedTable:
    prefix, child = f"{table.key}.", table.spec
    stringly = child.parent is not None  # 'model,id' text, not the parent's key itself
    composite = len(child.parent_columns) > 1
    parents = [Wanted(f"{prefix}parent_column" + (f".{i}" if composite else ""), column,
                      "string" if stringly else None, what=f"{table.parent_table}'s key")
               for i, column in enumerate(child.parent_columns)]
    parent_type = () if stringly else tuple(
        (parent, table.parent_table, key) for parent, key in zip(parents, table.parent_keys,
                                                                 strict=True))
    columns = [Wanted(f"{prefix}primary_key", child.primary_key), *parents,
               *_attributes(child.attributes, prefix, child.order_by)]
    if child.retired_when:
        columns.append(Wanted(f"{prefix}retired_when.column", child.retired_when.column))
    same_type, references = _foreign_keys(child.attributes, prefix, entities)
    return WantedTable(f"source {spec.source}", f"golden_records/{spec.entity}.yaml",
                       f"{prefix}table", child.table, tuple(columns), ignored=ignored,
                       where=child.row_filter, where_key=f"{prefix}where",
                       same_type_as=(*parent_type, *same_type),
                       references=references, note_unmapped=True)


def _field_type(spec: EntitySpec, attribute: str,
                entities: Mapping[str, EntitySpec]) -> str | None:
    """The type a mapped field carries: its attribute's, or json for a child list; for a
    reference, its record's attribute (`department.code`), a source key's string, or None for
    a target's key (`department.xref`: its type is the target's)."""
    if "." in attribute:
        path = field_path(attribute)
        reference = spec.references.get(path.attribute)
        referenced = entities.get(reference.entity) if reference is not None else None
        if path.xref or referenced is None or path.referenced is None:
            return None
        found = referenced.attributes.get(path.referenced)
        return found.type if found is not None and found.references is None else "string"
    found = spec.attributes.get(attribute)
    if found is not None and found.references is not None:
        return "string"
    return found.type if found is not None else "json"


def _observed(source: SourceSpec, project: Project) -> list[WantedTable]:
    out = []
    for table, observed in source.tables.items():
        spec = project.entities[observed.entity]
        mapping = spec.targets.get(source.observes or "")
        if mapping is None:
            continue
        out.append(_observed_table(source, table, observed, spec, mapping, project.entities))
    return out


def _observed_table(source: SourceSpec, table: str, observed: ObservedTable, spec: EntitySpec,
                    mapping: TargetMapping, entities: Mapping[str, EntitySpec]) -> WantedTable:
    key = f"tables.{table}"
    columns = [Wanted(f"{key}.primary_key", observed.primary_key)]
    for field, attribute in mapping.fields.items():
        where = f"{key}.columns.{field}" if field in observed.columns else key
        columns.append(Wanted(where, observed.column_of(field),
                              _field_type(spec, attribute, entities),
                              f"{spec.entity}'s field {field} in its mapping to {source.observes}"))
    qualified = table if "." in table else f"public.{table}"
    return WantedTable(f"source {source.name}", f"cdc/{source.name}.yaml", key, qualified,
                       tuple(columns), type_level="note")


def _sql_target(target: SqlTarget, spec: EntitySpec, mapping: TargetMapping,
                entities: Mapping[str, EntitySpec]) -> WantedTable:
    if spec.entity in target.entities:
        file, prefix = f"targets/{target.name}.yaml", f"entities.{spec.entity}."
    else:
        file, prefix = f"golden_records/{spec.entity}.yaml", f"targets.{target.name}."
    columns = [Wanted(f"{prefix}fields.{field}", field, _field_type(spec, attribute, entities))
               for field, attribute in mapping.fields.items()]
    if mapping.key and mapping.key not in mapping.fields:
        columns.append(Wanted(f"{prefix}key", mapping.key,
                              _field_type(spec, spec.business_key, entities)))
    if mapping.version_field:
        columns.append(Wanted(f"{prefix}version_field", mapping.version_field, "integer"))
    if mapping.active_field:
        columns.append(Wanted(f"{prefix}active_field", mapping.active_field, "boolean"))
    columns += [Wanted(f"{prefix}write_back.{answered}", answered)
                for answered in mapping.write_back]
    table = mapping.table or ""
    qualified = table if "." in table else f"public.{table}"
    return WantedTable(f"target {target.name}", file, f"{prefix}table", qualified,
                       tuple(columns), direction="write")
