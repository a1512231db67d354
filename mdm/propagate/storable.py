"""A target's answer made fit for the hub's database before it is recorded.

PostgreSQL stores no NUL character in text or jsonb, no lone UTF-16 surrogate, no NaN or
infinity in jsonb, and only small integers in `delivery.response_status`. A target may answer
any of them (an error page with a NUL, a write-back value `1e999`), and recording it as is
would fail the whole batch — and, claimed again, fail it again. So error texts are cleaned
(and their secrets masked), and an acknowledgement carrying a value the hub cannot keep
becomes that delivery's terminal failure (UnrecordableAnswer), with a reason a person can read.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from mdm.config.urls import mask_secrets
from mdm.errors import UnrecordableAnswer
from mdm.model.deliveries import Outcome
from mdm.propagate.base import failed

MAX_ERROR_CHARS = 2000
SMALLINT = range(-32768, 32768)
SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Text PostgreSQL can store and anyone may read: NUL shown as \\u0000, lone surrogates as
    U+FFFD, secrets masked, at most `limit` characters."""
    text = SURROGATE.sub("\ufffd", text.replace("\x00", "\\u0000"))
    text = mask_secrets(text)
    return text if len(text) <= limit else text[:limit] + "…"


def unstorable(value: Any, path: str = "") -> str | None:
    """Why `value` cannot be stored as jsonb (naming where in it), or None if it can."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path or 'the value'} holds a NUL character (\\u0000)"
        if SURROGATE.search(value):
            return f"{path or 'the value'} holds an unpaired UTF-16 surrogate"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path or 'the value'} is {value!r}, a number PostgreSQL cannot store"
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = unstorable(str(key), f"the name {clean_text(where, 80)!r}") \
                or unstorable(item, clean_text(where, 80))
            if problem:
                return problem
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = unstorable(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


def storable(outcome: Outcome) -> Outcome:
    """The outcome as the hub can record it (see the module's docstring)."""
    error = None if outcome.error is None else clean_text(outcome.error)
    status = outcome.status_code
    note = ""
    if status is not None and status not in SMALLINT:
        status, note = None, f" (the target answered status {outcome.status_code})"
    if outcome.acked:
        problem = unstorable(outcome.write_back, "write-back") if outcome.write_back else None
        if problem is None and outcome.target_id is not None:
            problem = unstorable(outcome.target_id, "the record id it answered")
        if problem is not None:
            refusal = UnrecordableAnswer(outcome.delivery.target, clean_text(
                f"the target took the record, but its answer cannot be kept by the hub: "
                f"{problem}{note}. Fix the value at the target, then retry the delivery."))
            return replace(failed(outcome.delivery, refusal), status_code=status)
    if error is not None or note:
        error = (error or "") + note
    return replace(outcome, status_code=status, error=error)


def unrecordable(outcome: Outcome, exc: BaseException) -> Outcome:
    """A terminal failure standing in for an outcome the database refused to record."""
    return failed(outcome.delivery, UnrecordableAnswer(outcome.delivery.target, clean_text(
        f"the hub could not record the target's answer ({type(exc).__name__}: {exc}); "
        f"answer was: {outcome.error or 'ok'}")))
