"""References between golden records, as the stages share them: what a target field is made
of (`dept_code: department.code` — an attribute of the record a reference points at;
`dept_id: department.xref` — that record's key in a target), the referenced record as a
payload is rendered from, and what a delivery waits for at a target.

A reference attribute's golden value is the referenced record's identity: its source key (the
key golden_record holds it under with its entity), never its business key, so a department's
rename is no new version of its employees. Its business key is looked up where it is shown.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

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
