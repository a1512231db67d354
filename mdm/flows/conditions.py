"""Whether a version fires a hop: its `when` transition, from what the record was before."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm.config.flows import Transition


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def fires(when: Transition, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    """The attribute moved to one of `when.to` in this version — from one of `when.from_`
    when given (a new record, `before` None, has no state to come from). A version that
    leaves the attribute as it was never fires: the same state read twice (a redelivered
    event, an edit of another field) makes no second command."""
    now = _text(after.get(when.attribute))
    if now not in when.to:
        return False
    was = None if before is None else _text(before.get(when.attribute))
    if was == now:
        return False
    return when.from_ is None or was in when.from_


def changed(before: Mapping[str, Any] | None, after: Mapping[str, Any],
            attributes: set[str]) -> bool:
    """Whether any of `attributes` differs between the two (a new record: all of them)."""
    if before is None:
        return True
    return any(before.get(a) != after.get(a) for a in attributes)
