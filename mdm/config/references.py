"""Schemas of references in golden_records/*.yaml: an attribute that points at another
entity's record over the source's foreign key (`references:`), and how long a version whose
reference is unknown waits before a task is opened. Cross-file checks: reference_checks.py.

    department: {references: department, column: department_id}        # an integer id
    bin: {references: {entity: bin, columns: [wh_code, bin_code]}}      # a composite key
    shipment: {references: {entity: shipment, format: "model,id", model: stock.shipment.in},
               column: origin}                                         # 'stock.shipment.in,1'
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from mdm.config.targets import Identifier, ListMapping, Spec, TargetMapping
from mdm.model.references import FieldPathError, field_path, listed_slot, rows_at

if TYPE_CHECKING:
    from mdm.config.models import Attribute, ChildSpec, EntitySpec

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Reference(Spec):
    """Where a reference attribute points: the record of `entity` whose primary key the
    referring column(s) hold. Its golden value is that record's source key."""

    entity: Identifier = Field(description="The referenced entity (golden_records/<entity>.yaml), "
                               "captured from the same source.")
    columns: list[str] | None = Field(
        None, min_length=2, description="A composite key: the referring columns, in the order "
        "of the referenced entity's primary_key columns. Empty when any of them is NULL.")
    format: Literal["id", "model,id"] = Field(
        "id", description="id: the column holds the referenced key. model,id: a string "
        "reference naming a model and an id in one column ('stock.shipment.in,1', Tryton's "
        "Reference fields); a value naming another model is no reference to this entity.")
    model: str | None = Field(None, description="format model,id: the model name a value must "
                              "carry, e.g. stock.shipment.in.")

    @model_validator(mode="after")
    def _format_fits(self) -> Reference:
        if self.format == "model,id" and not self.model:
            raise ValueError("model: required with format 'model,id' (the model name the "
                             "column's values carry, e.g. stock.shipment.in)")
        if self.model is not None and self.format != "model,id":
            raise ValueError("model: only with format: 'model,id'")
        if self.columns is not None and self.format != "id":
            raise ValueError("columns: a composite reference holds the key columns themselves "
                             "(format id)")
        return self


def _short_form(value: Any) -> Any:
    """`references: department` is `references: {entity: department}`."""
    return {"entity": value} if isinstance(value, str) else value


ReferenceField = Annotated[Reference | None, BeforeValidator(_short_form)]


def reference_problem(reference: Reference, given: Collection[str], column: str | None,
                      owner: str | None) -> str | None:
    """What is wrong with a reference attribute's other keys (`key: …`), or None."""
    if "type" in given:
        return ("type: a reference's value is the key of the record it points to; leave type "
                "out (mdm check --live compares the column with that key)")
    if owner is not None:
        return "owner: a reference comes from the source's foreign key, not from a target"
    if reference.columns is not None and column is not None:
        return "column: a composite reference names its columns in references.columns"
    return None


def mapped_reference_problem(entity: str, references: Mapping[str, Reference],
                             text: str) -> str | None:
    """What is wrong with a mapping's `ref.attribute` / `ref.xref[.target]` within the entity's
    own file (the referenced entity's side: reference_checks.py), or None."""
    try:
        path = field_path(text)
    except FieldPathError as exc:
        return str(exc)
    if path.attribute not in references:
        known = ", ".join(sorted(references)) or "none"
        return (f"'{text}': {path.attribute} is not a reference attribute of {entity} (give it "
                f"`references: <entity>`; reference attributes: {known})")
    return None


def _duration(value: Any) -> Any:
    """'10m', '90s', '2h', '1d', '500ms' or a number of seconds → timedelta."""
    if isinstance(value, timedelta) or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration such as 90s, 10m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * UNITS[match.group(2) or "s"])


Duration = Annotated[timedelta, BeforeValidator(_duration)]


@dataclass(frozen=True)
class Wait:
    """A delivery of `entity`'s records to a target waits for the record its reference
    `attribute` points at (of `referenced`) to be acknowledged at `at`; `path`: the child list
    whose rows hold the reference (a PO's lines), () for the record's own attribute."""

    attribute: str
    referenced: str
    at: str
    path: tuple[str, ...] = ()

    def keys_in(self, attributes: Mapping[str, Any]) -> list[str]:
        """The referenced records' source keys a version names (one per list row)."""
        return sorted({str(row[self.attribute]) for row in rows_at(attributes, self.path)
                       if row.get(self.attribute) is not None})


@dataclass(frozen=True)
class Rendered:
    """A reference whose record a mapping renders (`department.code`, a line's
    `material.code`): where the payload is given the record (`slots`)."""

    path: tuple[str, ...]
    attribute: str
    entity: str

    def slots(self, attributes: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """(slot, source key) of each record a version names here: the attribute itself for
        the record's own reference, model/references.py's `listed_slot` for a list row's."""
        for row in rows_at(attributes, self.path):
            key = row.get(self.attribute)
            if key is not None:
                yield (listed_slot(self.path, self.attribute, key) if self.path
                       else self.attribute), str(key)


def _rendered_texts(spec: EntitySpec, mapping: TargetMapping) -> Iterator[
        tuple[tuple[str, ...], Mapping[str, Attribute], list[str]]]:
    """(list path, the attributes there, the texts a mapping renders from them): the record's
    fields, then each mapped child list's (by its `children:` mapping, or every attribute)."""
    def walk(attributes: Mapping[str, Attribute], children: Mapping[str, ChildSpec],
             texts: list[str], lists: Mapping[str, ListMapping],
             path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Mapping[str, Attribute],
                                                      list[str]]]:
        yield path, attributes, texts
        for text in texts:
            child = children.get(text)
            if child is None:
                continue
            listed = lists.get(text)
            inner = (list(listed.fields.values()) if listed is not None
                     else [*child.attributes, *child.children])
            yield from walk(child.attributes, child.children, inner,
                            listed.children if listed is not None else {}, (*path, text))

    yield from walk(spec.attributes, spec.children, list(mapping.fields.values()),
                    mapping.children, ())


def waits_of(entities: Mapping[str, EntitySpec], entity: str, target: str) -> tuple[Wait, ...]:
    """What a delivery of `entity` to `target` waits for: every reference its mapping renders
    there (`department`, `department.code`, also a child list row's: `material.code` in the
    lines' mapping) when the referenced entity is written to the same target, and every
    `ref.xref[.<t>]` at the target whose key it renders."""
    spec = entities[entity]
    mapping = spec.targets.get(target)
    if mapping is None:
        return ()
    found: dict[tuple[tuple[str, ...], str, str], Wait] = {}
    for path, attributes, texts in _rendered_texts(spec, mapping):
        for text in texts:
            fp = field_path(text)
            attribute = attributes.get(fp.attribute)
            if attribute is None or attribute.references is None:
                continue
            referenced = attribute.references.entity
            if fp.xref:
                at = fp.xref_target or target
            elif referenced in entities and target in entities[referenced].targets:
                at = target
            else:
                continue
            found[(path, fp.attribute, at)] = Wait(fp.attribute, referenced, at, path)
    return tuple(found.values())


def rendered_references(spec: EntitySpec, target: str) -> list[Rendered]:
    """The references whose record `target`'s mapping renders (`department.code`, a list
    row's `material.xref`), for loading those records with the deliveries."""
    mapping = spec.targets.get(target)
    if mapping is None:
        return []
    found: set[Rendered] = set()
    for path, attributes, texts in _rendered_texts(spec, mapping):
        for text in texts:
            fp = field_path(text)
            attribute = attributes.get(fp.attribute)
            if fp.is_reference and attribute is not None and attribute.references is not None:
                found.add(Rendered(path, fp.attribute, attribute.references.entity))
    return sorted(found, key=lambda r: (r.path, r.attribute))


def every_reference(spec: EntitySpec) -> list[Rendered]:
    """Every reference of the entity, the record's own and its child lists' at any depth."""
    found = [Rendered((), n, a.references.entity) for n, a in spec.attributes.items()
             if a.references is not None]
    for table in spec.child_tables:
        found += [Rendered(table.path, n, a.references.entity)
                  for n, a in table.spec.attributes.items() if a.references is not None]
    return found


def is_awaited_elsewhere(entities: Mapping[str, EntitySpec], target: str) -> bool:
    """Whether deliveries to other targets wait for acknowledgements at `target`
    (`dept_id: department.xref.oa` on a target other than oa)."""
    return any(wait.at == target
               for name, spec in entities.items() for other in spec.targets if other != target
               for wait in waits_of(entities, name, other))


class ParentReference(Spec):
    """How a child row's `parent_column` names its parent row when it is not the parent's key
    itself: a string reference ('sale.sale,12', Tryton's Reference fields)."""

    format: Literal["model,id"] = Field(description="model,id: the column holds a model name "
                                        "and the parent's id; a row naming another model is "
                                        "no row of this list.")
    model: str = Field(description="The parent's model name, e.g. sale.sale.")
