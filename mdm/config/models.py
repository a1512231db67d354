"""Pydantic schemas of the project files golden_records/*.yaml: entities, their attributes and
child lists (cdc/*.yaml: mdm/config/sources.py; targets/*.yaml: mdm/config/targets.py).

Every model forbids unknown keys, so a typo in a project file is an error naming the key.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mdm.config.references import (
    Duration,
    ParentReference,
    Reference,
    ReferenceField,
    mapped_reference_problem,
    reference_problem,
)
from mdm.config.row_filter import RowFilter, RowFilterError, parse_where
from mdm.config.targets import Identifier, ListMapping, Spec, TargetMapping

AttributeType = Literal[
    "string", "integer", "decimal", "float", "boolean", "date", "timestamp", "timestamptz",
    "time", "json"
]
WHERE_DESCRIPTION = (
    "Row filter: a SQL condition over the table's columns, mapped or not (`is_supplier`, "
    "`price_list = 'LIST' AND company_id = 1`). Rows it does not keep are no part of the "
    "entity: a main row that stops matching retires its record, a child row leaves its list. "
    "The initial snapshot reads only the rows it keeps.")


def _parsed_where(value: str | None) -> str | None:
    """A `where:` validator: the condition parses and uses only what the hub evaluates."""
    if value is not None:
        try:
            parse_where(value)
        except RowFilterError as exc:
            raise PydanticCustomError("row_filter", "{reason}", {"reason": str(exc)}) from exc
    return value


Where = Annotated[str | None, AfterValidator(_parsed_where)]


# -- entities (golden_records/) ---------------------------------------------------------------
class Attribute(Spec):
    type: AttributeType = "string"
    column: str | None = Field(None, description="Source column; defaults to the attribute name.")
    required: bool = Field(False, description="The attribute must have a value: a row where "
                           "it is empty (NULL or '') is kept failed with its reason. "
                           "On the business key: false (the default) allows drafts, records "
                           "without a key yet (a document before it is numbered), keyed by "
                           "their source row until the key arrives; true refuses such rows.")
    description: str | None = None
    owner: Identifier | None = Field(
        None, description="A target that owns this attribute (survivorship): its value comes "
        "back from that target's replies (`write_back:` in its mapping), never from the source.")
    references: ReferenceField = Field(
        None, description="The entity this attribute points at over the source's foreign key "
        "(`references: department`, or {entity, columns, format, model}: see Reference). Its "
        "value is the referenced record's source key; targets get it as their mapping says "
        "(`dept_code: department.code`, `dept_id: department.xref`).")

    @model_validator(mode="after")
    def _reference_fits(self) -> Attribute:
        if self.references is not None:
            problem = reference_problem(self.references, self.model_fields_set, self.column,
                                        self.owner)
            if problem:
                raise ValueError(problem)
        return self

    def source_columns(self, name: str) -> list[str]:
        """The columns the attribute reads: its column, or a composite reference's columns."""
        if self.references is not None and self.references.columns:
            return list(self.references.columns)
        return [self.column or name]


class RetiredWhen(Spec):
    """Soft delete: the row counts as retired when `column` equals `equals`."""

    column: str
    equals: str | int | bool | None = False


class ChildSpec(Spec):
    """A child table whose rows are part of the parent's golden record (a list attribute).

    Child lists nest to any depth: a template's variants, each with its cost prices
    (`children:` inside a child). Each row of a nested list lists its own children."""

    table: str = Field(description="schema.table of the child rows.")
    primary_key: str = "id"
    parent_column: str | list[str] = Field(
        description="Column holding the parent's primary key: the main row's, or for a nested "
        "child list the parent child row's. Under an entity with a composite primary_key: its "
        "columns in this table, in the order of the entity's key columns ([wh, bin_code]).")
    attributes: dict[Identifier, Attribute]
    retired_when: RetiredWhen | None = None
    where: Where = Field(None, description=WHERE_DESCRIPTION)
    order_by: str | None = Field(None, description="Attribute to sort the list by.")
    parent: ParentReference | None = Field(
        None, description="When parent_column holds a string reference to the parent rather "
        "than its key: {format: 'model,id', model: sale.sale} ('sale.sale,12').")
    children: dict[Identifier, ChildSpec] = Field(
        default_factory=dict, description="Child lists of each row of this list (a variant's "
        "cost prices), keyed by list name; their `parent_column` holds this table's key.")

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return value if "." in value else f"public.{value}"

    @model_validator(mode="after")
    def _lists_are_not_attributes(self) -> ChildSpec:
        clash = set(self.children) & set(self.attributes)
        if clash:
            raise ValueError(f"children and attributes share names: {sorted(clash)}")
        return self

    @property
    def row_filter(self) -> RowFilter | None:
        return None if self.where is None else parse_where(self.where)

    @property
    def parent_columns(self) -> list[str]:
        """The column(s) naming the parent row, in the order of the parent's key columns."""
        return [self.parent_column] if isinstance(self.parent_column, str) \
            else list(self.parent_column)

    @property
    def references(self) -> dict[str, Reference]:
        """Reference attributes of the list's rows → where each points."""
        return {n: a.references for n, a in self.attributes.items() if a.references is not None}


def list_mapping_problem(owner: str, child: ChildSpec, mapping: ListMapping) -> str | None:
    """`fields.<field>: …` / `children.<list>…` when a child list's mapping names what its
    rows do not have, else None."""
    for field, attr in mapping.fields.items():
        if "." in attr:
            problem = mapped_reference_problem(owner, child.references, attr)
            if problem:
                return f"fields.{field}: {problem}"
        elif attr not in child.attributes and attr not in child.children:
            known = ", ".join(sorted([*child.attributes, *child.children]))
            return (f"fields.{field}: '{attr}' is not an attribute or child list of the rows "
                    f"of {owner} (known: {known})")
    for name, nested in mapping.children.items():
        if name not in child.children:
            return f"children.{name}: not a child list of the rows of {owner}"
        problem = list_mapping_problem(f"{owner}.{name}", child.children[name], nested)
        if problem:
            return f"children.{name}.{problem}"
    return None


def _parent_problem(child: ChildTable) -> str | None:
    """What is wrong with how a child list names its parent row, or None."""
    columns, keys = child.spec.parent_columns, child.parent_keys
    if len(columns) != len(keys):
        return (f"{len(columns)} column(s) for the {len(keys)} key column(s) of "
                f"{child.parent_table} ({', '.join(keys)}); list one column of "
                f"{child.spec.table} per key column, in that order")
    if len(columns) > 1 and child.spec.parent is not None:
        return "a 'model,id' parent (`parent:`) is one column"
    return None


@dataclass(frozen=True)
class ChildTable:
    """One child list of an entity at any depth, with where its rows hang."""

    path: tuple[str, ...]  # list names from the record down: ("variants", "prices")
    spec: ChildSpec
    parent_table: str  # the table whose key `parent_column` holds
    parent_primary_key: str  # the first of parent_key_columns (one for a surrogate id)
    parent_key_columns: tuple[str, ...] = ()

    @property
    def parent_keys(self) -> tuple[str, ...]:
        """The parent table's key columns that `parent_column` (or its columns) name."""
        return self.parent_key_columns or (self.parent_primary_key,)

    @property
    def key(self) -> str:
        """Its key in the entity's file: children.variants.children.prices"""
        return ".".join(f"children.{name}" for name in self.path)


class HistoryPolicy(Spec):
    """How long superseded versions are kept. A version goes only when both limits that are
    set allow it; the current version, and any version an open task or a due delivery still
    needs, always stay. Neither set: kept forever."""

    keep_days: int | None = Field(None, ge=1, description="Keep versions that ended within this many days.")
    keep_versions: int | None = Field(None, ge=1, description="Keep at least this many versions "
                                      "before the current one.")


class EntitySpec(Spec):
    entity: Identifier
    description: str | None = None
    source: Identifier = Field("erp", description="The system of record: the source "
                               "(cdc/<name>.yaml) whose changes to `table` and the children's "
                               "tables make this entity's versions. Other sources may hold "
                               "observed copies of it (their `tables:`).")
    table: str = Field(description="schema.table of the main rows.")
    primary_key: str | list[str] = Field(
        "id", description="The table's key column (often a surrogate id), or for a composite "
        "key its columns in the order of the table's primary key constraint (the record's "
        "source key joins their values with |, as Debezium's key has them).")
    business_key: Identifier = Field(description="Attribute that people know the record by.")
    attributes: dict[Identifier, Attribute]
    retired_when: RetiredWhen | None = None
    where: Where = Field(None, description=WHERE_DESCRIPTION)
    ignore_columns: list[str] = Field(
        default_factory=list, description="Columns deliberately not mapped (audit columns)."
    )
    children: dict[Identifier, ChildSpec] = Field(default_factory=dict)
    history: HistoryPolicy | None = Field(None, description="Retention of superseded versions "
                                          "(`mdm prune`; the processing role applies it hourly).")
    targets: dict[Identifier, TargetMapping] = Field(
        default_factory=dict, description="target name → how this entity is written there "
        "(or declare it in the target's own file under `entities:`).")
    unknown_reference_task_after: Duration = Field(
        timedelta(minutes=10), description="A version whose reference points at a record the "
        "hub does not know is held (not propagated) until that record arrives; held this long "
        "(90s, 10m, 2h, 1d), it gets an unknown_reference task.")

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return value if "." in value else f"public.{value}"

    @field_validator("primary_key")
    @classmethod
    def _some_key_column(cls, value: str | list[str]) -> str | list[str]:
        columns = [value] if isinstance(value, str) else value
        if not columns or not all(c.strip() for c in columns):
            raise ValueError("expected a column name, or a list of one or more column names")
        return value

    @model_validator(mode="after")
    def _keys_are_attributes(self) -> EntitySpec:
        if self.business_key not in self.attributes:
            raise ValueError(f"business_key '{self.business_key}' is not one of the attributes")
        clash = set(self.children) & set(self.attributes)
        if clash:
            raise ValueError(f"children and attributes share names: {sorted(clash)}")
        seen = {self.table: "table"}
        for child in self.child_tables:
            problem = _parent_problem(child)
            if problem:
                raise ValueError(f"{child.key}.parent_column: {problem}")
            if child.spec.table in seen:
                raise ValueError(f"{child.key}.table: {child.spec.table} is already the table "
                                 f"of {seen[child.spec.table]}; a table holds one list")
            seen[child.spec.table] = child.key
        for target, mapping in self.targets.items():
            problem = self.mapping_problem(mapping)
            if problem:
                raise ValueError(f"targets.{target}.{problem}")
        return self

    def mapping_problem(self, mapping: TargetMapping) -> str | None:
        """`fields.<field>: …` when a mapped attribute does not exist, else None."""
        names = set(self.attributes) | set(self.children)
        for field, attr in mapping.fields.items():
            if "." in attr:  # a reference's record: department.code, department.xref
                problem = mapped_reference_problem(self.entity, self.references, attr)
                if problem:
                    return f"fields.{field}: {problem}"
            elif attr not in names:
                return f"fields.{field}: '{attr}' is not an attribute or child of {self.entity}"
        for name, listed in mapping.children.items():
            if name not in self.children:
                known = ", ".join(sorted(self.children)) or "none"
                return f"children.{name}: not a child list of {self.entity} (child lists: {known})"
            if name not in mapping.fields.values():
                return (f"children.{name}: the list is not mapped (give it a field: "
                        f"`fields: {{{name}: {name}}}`)")
            problem = list_mapping_problem(f"{self.entity}.{name}", self.children[name], listed)
            if problem:
                return f"children.{name}.{problem}"
        return None

    @property
    def key_columns(self) -> list[str]:
        """The primary key's columns, in order (one for a surrogate id)."""
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)

    @property
    def references(self) -> dict[str, Reference]:
        """Reference attributes → where each points."""
        return {n: a.references for n, a in self.attributes.items() if a.references is not None}

    def column_of(self, attribute: str) -> str:
        return self.attributes[attribute].column or attribute

    @property
    def owned(self) -> dict[str, str]:
        """Attributes owned by a target (attribute → target), not read from the source."""
        return {name: a.owner for name, a in self.attributes.items() if a.owner}

    def business_key_of(self, attributes: Mapping[str, Any]) -> str | None:
        """The business key the attributes carry; None for a draft (the key attribute is empty:
        NULL or ''), which is a record by its identity until it gets a key."""
        value = attributes.get(self.business_key)
        return None if value is None or value == "" else str(value)

    @property
    def allows_drafts(self) -> bool:
        """Records without a business key yet: unless the key attribute is `required: true`."""
        return not self.attributes[self.business_key].required

    @property
    def child_tables(self) -> list[ChildTable]:
        """Every child list at every depth, each before the lists nested in it."""
        found: list[ChildTable] = []

        def walk(children: Mapping[str, ChildSpec], path: tuple[str, ...], table: str,
                 keys: tuple[str, ...]) -> None:
            for name, child in children.items():
                found.append(ChildTable((*path, name), child, table, keys[0], keys))
                walk(child.children, (*path, name), child.table, (child.primary_key,))

        walk(self.children, (), self.table, tuple(self.key_columns))
        return found

    @property
    def tables(self) -> list[str]:
        return [self.table, *(c.spec.table for c in self.child_tables)]

    @property
    def row_filter(self) -> RowFilter | None:
        return None if self.where is None else parse_where(self.where)

    @property
    def row_filters(self) -> dict[str, RowFilter]:
        """schema.table → its `where:` filter, for the main table and child tables that have one
        (for the snapshot's SELECT and `mdm check --live`)."""
        filters = {self.table: self.row_filter} if self.row_filter else {}
        for child in self.child_tables:
            if child.spec.row_filter is not None:
                filters[child.spec.table] = child.spec.row_filter
        return filters
