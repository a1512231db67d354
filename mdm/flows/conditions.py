"""Whether a version fires a hop: its `when` transition, from what the record was before."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm.config.flows import RowTransition, Transition
from mdm.config.row_match import matches


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def fires(when: Transition | RowTransition, before: Mapping[str, Any] | None,
          after: Mapping[str, Any]) -> bool:
    """The attribute moved to one of `when.to` in this version — from one of `when.from_`
    when given (a new record, `before` None, has no state to come from). A version that
    leaves the attribute as it was never fires: the same state read twice (a redelivered
    event, an edit of another field) makes no second command. A row transition fires when
    some row of its list newly matches (see new_rows)."""
    if isinstance(when, RowTransition):
        return bool(new_rows(when, before, after))
    now = _text(after.get(when.attribute))
    if now not in when.to:
        return False
    was = None if before is None else _text(before.get(when.attribute))
    if was == now:
        return False
    return when.from_ is None or was in when.from_


def new_rows(when: RowTransition, before: Mapping[str, Any] | None,
             after: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rows of `when.any` that match `when.where` now and did not in `before` (the same
    row: the same `when.key`, else the same position; a row new in this version did not)."""
    condition = when.row_filter

    def matching(attributes: Mapping[str, Any] | None) -> list[tuple[Any, Mapping[str, Any]]]:
        rows = (attributes or {}).get(when.any) or ()
        return [(_text(row.get(when.key)) if when.key else n, row)
                for n, row in enumerate(rows)
                if isinstance(row, Mapping) and matches(condition, row)]

    matched_before = {ident for ident, _ in matching(before)}
    return [row for ident, row in matching(after) if ident not in matched_before]


def changed(before: Mapping[str, Any] | None, after: Mapping[str, Any],
            attributes: set[str]) -> bool:
    """Whether any of `attributes` differs between the two (a new record: all of them)."""
    if before is None:
        return True
    return any(before.get(a) != after.get(a) for a in attributes)
