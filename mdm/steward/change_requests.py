"""Change requests to the ERP: a steward accepts a system's value (a divergence) as what the
record should be. The ERP stays the source of truth, so the hub does not change the golden
record; it records the request for the ERP team (`GET /api/v1/change-requests[.csv]`,
`mdm tasks change-requests`). Where the source declares `write_method: sql` the request is
also written into the ERP (mdm/steward/erp_write.py) and reads `applied`, with the ERP
transaction that carried it."""
from __future__ import annotations

import csv
import io
import re
from typing import Any

import psycopg

from mdm.store.repositories import change_requests as repo
from mdm.store.repositories.change_requests import COLUMNS

__all__ = ["COLUMNS", "as_csv", "cell", "list_requests", "of_task", "record"]


def record(conn: psycopg.Connection, task: dict[str, Any], actor: str, reason: str | None) -> list[int]:
    """One request per differing field of a divergence task, in the caller's transaction."""
    return [repo.insert_request(conn, task, f, actor, reason)
            for f in task["detail"].get("fields") or []]


def list_requests(conn: psycopg.Connection, status: str | None = "open") -> list[dict[str, Any]]:
    """The requests (of one status; None: all), oldest first."""
    return repo.list_requests(conn, status)


def of_task(conn: psycopg.Connection, task_id: int) -> list[dict[str, Any]]:
    """The requests a decision on the task recorded, with their state (the task page)."""
    return repo.requests_of_task(conn, task_id)


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): it starts with one of
# these; the full-width forms are what an IME types in OA and WMS. A plain number (-5.00) is
# left alone: it cannot be a formula, and a quote would turn it into text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def cell(value: Any) -> str:
    """A value as a CSV cell that Excel, LibreOffice and Sheets show as text, never evaluate:
    a leading ' before anything that starts like a formula. A value that itself starts with '
    gets one too: spreadsheets take a leading ' as the text prefix and do not show it."""
    text = "" if value is None else str(value)
    if text.startswith("'") or (text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text)):
        return "'" + text
    return text


def as_csv(requests: list[dict[str, Any]]) -> str:
    """UTF-8 CSV with a byte-order mark, so Excel shows the Chinese text as it is; every cell
    neutralised against formula injection (see `cell`)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in requests:
        writer.writerow([cell(r[c]) for c in COLUMNS])
    return out.getvalue()
