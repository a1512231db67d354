"""Making a version: the one place a golden record's next version is made, whatever caused it —
a change event (processing), a target's answer (write-back) or a steward's decision. It is
written by mdm/store/repositories/golden.write_versions, the one writer of versions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from mdm.model.golden import Cause, GoldenState, NewVersion, Previous


def next_version(state: GoldenState, attributes: dict[str, Any], status: str,
                 business_key: str | None, cause: Cause, at: datetime,
                 quality: str = "ok") -> NewVersion:
    """The record's next version, valid from `at` (or from its current version's start, if
    later: validity intervals never overlap); `state` advances to it.

    The version carries what the record was before (`previous`) when it was active, so rules
    whose inputs did not change need not run again; its own passed rules are unknown until it
    is judged. A new record's golden id is 0 here until it has one; a draft's business key is
    None until it has one.
    """
    valid_from = max(at, state.valid_from) if state.valid_from is not None else at
    previous = None if state.is_new or state.status != "active" else Previous(
        state.attributes, None if state.checks is None else frozenset(state.checks))
    state.checks = None  # the next version's predecessor is judged with it
    state.version += 1
    state.attributes, state.status = attributes, status
    state.business_key = business_key
    state.valid_from = valid_from
    return NewVersion(state.golden_id or 0, state.version, state.entity, business_key, attributes,
                      status, valid_from, cause, quality, previous=previous)
