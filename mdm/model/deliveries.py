"""Deliveries: one operation of one version on one target, and what a push attempt produced."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from mdm.model.references import ListFields, ReferencedRecord, field_path, render_field, render_rows

OUTBOX_CHANNEL = "mdm_outbox"  # NOTIFY channel: deliveries are due


def idempotency_key(golden_id: int, version: int, target: str) -> str:
    """Stable per (record, version, target): a retried push carries the same key."""
    return f"mdm-g{golden_id}-v{version}-{target}"


class FieldMapping(Protocol):
    """What a payload is built from: a target mapping's fields (config.targets.TargetMapping)."""

    @property
    def fields(self) -> Mapping[str, str]: ...

    @property
    def active_field(self) -> str | None: ...

    @property
    def children(self) -> Mapping[str, ListFields]: ...


def build_payload(mapping: FieldMapping, attributes: Mapping[str, Any], status: str,
                  referenced: Mapping[str, ReferencedRecord] | None = None,
                  target: str | None = None) -> dict[str, Any]:
    """The target's fields for a version: each mapped attribute, and the active flag if mapped.
    A field rendered from a reference (`department.code`, `department.xref`) takes its value
    from `referenced` (reference attribute → the record it points at; see model/references.py)
    and `target` (whose xref `.xref` means); None where the record is not given. A child list
    with a mapping of its own (`children:`) is rendered row by row, its rows' references from
    the records given under model/references.py's `listed_slot`."""
    found = referenced or {}
    payload = {field: attributes.get(attr) if "." not in attr
               else render_field(field_path(attr), attributes, found, target)
               for field, attr in mapping.fields.items()}
    for field, attr in mapping.fields.items():  # a list with its rows' own mapping
        if attr in mapping.children:
            payload[field] = render_rows(mapping.children[attr], payload[field], found, target,
                                         (attr,))
    if mapping.active_field:
        payload[mapping.active_field] = status == "active"
    return payload


@dataclass(frozen=True)
class Delivery:
    id: int
    golden_id: int
    version: int
    entity: str
    business_key: str
    target: str
    operation: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    owned: dict[str, Any] | None = None  # write-back attributes: the values the hub holds
    # The key the target last acknowledged this record under, when it differs from
    # business_key (a rename): the target renames that record instead of creating another.
    previous_key: str | None = None
    # A flow's command: its hop (flow.hop, flow.hop.back) and, when its payload could not be
    # made (a value map lacks the version's value), why: it is refused, not sent.
    hop: str | None = None
    refused: str | None = None
    # A command of several calls (`steps:`): each done step's answer, by step name; a retry
    # goes on from the first step not done.
    progress: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What one push attempt produced. A failure's `terminal` is the class of the error it
    came from (a TerminalError: dead now; anything else: retried), as mdm/propagate/base.py's
    `failed` decides it; the outbox records it and branches on it."""

    delivery: Delivery
    acked: bool
    terminal: bool = False
    status_code: int | None = None
    target_id: str | None = None
    error: str | None = None
    write_back: dict[str, Any] | None = None  # owned attribute → the value the target answered
    progress: dict[str, Any] | None = None  # a command's done steps (see Delivery.progress)


class FailedAttempt(NamedTuple):
    """How a failed push is recorded: failed (due again after `delay_s`) or dead."""

    status: str  # failed | dead
    status_code: int | None
    error: str | None
    payload: dict[str, Any]
    delay_s: float
    delivery_id: int
    progress: dict[str, Any] | None = None
