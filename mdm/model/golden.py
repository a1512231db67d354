"""Golden records and their versions: the state of a record, a new version and what caused it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class GoldenState:
    """The current state of one golden record, as loaded or as built during a batch."""

    entity: str
    source_key: str
    golden_id: int | None = None
    version: int = 0
    business_key: str | None = None  # None: a draft, identified by source_key until it has one
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    valid_from: datetime | None = None
    # Rules the current version passed, as stored (None: not judged); what a new version is
    # judged against. After a new version in the batch: PASSED_IN_BATCH.
    checks: tuple[str, ...] | None = None

    @property
    def is_new(self) -> bool:
        return self.version == 0


@dataclass(frozen=True)
class Cause:
    """What produced a version: a captured change event (or, later, a steward decision)."""

    kind: str  # change_event | decision | write_back | key_freed | rules_run
    source: str | None
    table: str | None
    row_key: str | None
    op: str | None
    lsn: int | None
    tx_id: int | None
    commit_ts: datetime | None
    inbox_id: int | None
    task_id: int | None = None  # kind decision: the task decided, and who decided
    actor: str | None = None


@dataclass(frozen=True)
class NewVersion:
    golden_id: int
    version: int
    entity: str
    business_key: str | None  # None: a draft (no key yet); it reaches no target
    attributes: dict[str, Any]
    status: str
    valid_from: datetime
    cause: Cause
    quality: str = "ok"  # ok | warning | quarantined | approved
    checks: tuple[str, ...] | None = None  # rules passed (None: no rules for the entity)
    previous: Previous | None = None  # what the record was before this version (not stored)

    @property
    def label(self) -> str:
        """How people tell the record: its business key, or a draft's golden id."""
        return self.business_key if self.business_key is not None else f"#{self.golden_id} (draft)"


@dataclass(frozen=True)
class Previous:
    """The record before a new version: rules whose inputs did not change and which the
    previous version passed need not run again."""

    attributes: dict[str, Any]
    passed: frozenset[str] | None  # None: the previous version is in the same batch (judged with it)
