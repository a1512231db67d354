"""A flow's commands and links as the stages hand them to the store (see flows/)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One operation a hop performs on a target for one version: `label` is how the record
    is known at the target (the origin's business key an update addresses; for a create, the
    source document's key, for people)."""

    golden_id: int
    version: int
    entity: str
    label: str
    target: str
    operation: str  # create | update
    hop: str  # flow.hop | flow.hop.back
    per_version: bool  # True: one command per version (an update); False: once per document
    awaits: tuple[str, str] | None = None  # (entity, business key) of an origin not held yet


@dataclass(frozen=True)
class Held:
    """A command waiting for its origin document (a receipt's stock-in for its PO)."""

    delivery_id: int
    flow: str
    hop: str
    held_id: int  # golden id of the document whose command waits
    entity: str  # the awaited origin
    business_key: str
    version: int = 0  # the version of the held document the command was made from
    task_id: int | None = None  # its unknown_reference task, once opened


@dataclass(frozen=True)
class NewLink:
    flow: str
    hop: str
    origin_id: int
    linked_id: int
    linked_version: int
