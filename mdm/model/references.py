"""References between golden records, as the stages share them: what a target field is made
of (`dept_code: department.code` — an attribute of the record a reference points at;
`dept_id: department.xref` — that record's key in a target), the referenced record as a
payload is rendered from, and what a delivery waits for at a target.

A reference attribute's golden value is the referenced record's identity: its source key (the
key golden_record holds it under with its entity), never its business key, so a department's
rename is no new version of its employees. Its business key is looked up where it is shown.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

XREF = "xref"


@dataclass(frozen=True)
class FieldPath:
    """What one mapped target field is made of.

    `department` → the attribute itself; `department.code` → attribute `code` of the record
    the reference attribute `department` points at (`referenced`); `department.xref` → that
    record's key in this target, `department.xref.oa` → in target `oa` (`xref`, `xref_target`).
    """

    attribute: str
    referenced: str | None = None
    xref: bool = False
    xref_target: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.referenced is not None or self.xref


class FieldPathError(ValueError):
    """A mapped field's source is not `attribute`, `ref.attribute`, `ref.xref` or
    `ref.xref.target`."""


@lru_cache(maxsize=4096)
def field_path(text: str) -> FieldPath:
    """Parse a mapping's right-hand side; raises FieldPathError saying what was expected."""
    parts = text.split(".")
    if any(not p for p in parts) or len(parts) > 3:
        raise FieldPathError(f"'{text}': expected an attribute, reference.attribute, "
                             "reference.xref or reference.xref.<target>")
    if len(parts) == 1:
        return FieldPath(text)
    if parts[1] == XREF:
        return FieldPath(parts[0], xref=True, xref_target=parts[2] if len(parts) == 3 else None)
    if len(parts) == 3:
        raise FieldPathError(f"'{text}': only reference.xref.<target> has three parts")
    return FieldPath(parts[0], referenced=parts[1])


@dataclass(frozen=True)
class ReferencedRecord:
    """A referenced record as a payload renders it: its attributes (of its newest version a
    target may receive) and its key in each system (xref)."""

    golden_id: int
    attributes: Mapping[str, Any]
    xrefs: Mapping[str, str] = field(default_factory=dict)


def listed_slot(path: tuple[str, ...], attribute: str, key: Any) -> str:
    """Where the record a child list row's reference names is given to a payload: the list
    path, the attribute and the key (`lines.material=7`), beside the record's own references
    given under their attribute name (`department`)."""
    return f"{'.'.join((*path, attribute))}={key}"


def rows_at(attributes: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[Mapping[str, Any]]:
    """The rows of the (nested) child list at `path`; the record itself for ()."""
    if not path:
        yield attributes
        return
    for row in attributes.get(path[0]) or ():
        if isinstance(row, Mapping):
            yield from rows_at(row, path[1:])


class ListFields(Protocol):
    """How a child list's rows are rendered (config.targets.ListMapping)."""

    @property
    def fields(self) -> Mapping[str, str]: ...

    @property
    def children(self) -> Mapping[str, ListFields]: ...


def render_rows(mapping: ListFields, rows: Any, referenced: Mapping[str, ReferencedRecord],
                target: str | None, path: tuple[str, ...]) -> Any:
    """A child list's rows as a target receives them: each row's mapped fields, a reference
    rendered from the record given under its `listed_slot`, nested lists likewise."""
    if not isinstance(rows, list):
        return rows
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            out.append(row)
            continue
        item = {}
        for name, text in mapping.fields.items():
            nested = mapping.children.get(text)
            if nested is not None:
                item[name] = render_rows(nested, row.get(text), referenced, target, (*path, text))
                continue
            fp = field_path(text)
            record = (referenced.get(listed_slot(path, fp.attribute, row.get(fp.attribute)))
                      if fp.is_reference else None)
            item[name] = render_field(fp, row, {fp.attribute: record} if record else {}, target)
        out.append(item)
    return out


def render_field(path: FieldPath, attributes: Mapping[str, Any],
                 referenced: Mapping[str, ReferencedRecord], target: str | None) -> Any:
    """One target field's value: None where the reference is empty or its record unknown."""
    if not path.is_reference:
        return attributes.get(path.attribute)
    record = referenced.get(path.attribute)
    if record is None:
        return None
    if path.xref:
        system = path.xref_target or target
        return record.xrefs.get(system) if system else None
    assert path.referenced is not None
    return record.attributes.get(path.referenced)


@dataclass(frozen=True)
class Requirement:
    """A delivery waits until the referenced record `golden_id` is acknowledged at `target`
    in version `version` or later."""

    golden_id: int
    target: str
    version: int = 1
