"""Write accepted change requests into the system of record (`write_method: sql` in cdc/).

The hub never edits a golden record to match a change request: it updates the ERP's own row
(`UPDATE <table> SET <column> = <value> WHERE <business key column> = <key>`), one ERP
transaction per divergence task, and capture brings that commit back as an ordinary change —
so the new version cites the ERP transaction, and that transaction id is stored on the request.
The hub's decision is committed first: if the write fails (or the hub stops before it), the
request stays open with its error, exported for the ERP team as before, and is never lost.

The UPDATE on the ERP's database is a write to a source system and stays here; the hub's own
change_request rows are written through mdm/store/repositories/change_requests.py.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from mdm.config.loader import Project, expand_env
from mdm.errors import TerminalError
from mdm.steward import audit
from mdm.store.repositories import change_requests as repo

logger = logging.getLogger(__name__)


class ErpWriteRefused(TerminalError):
    """A change request cannot be written into `table` for `business_key` (its attribute is
    no column there, or not exactly one row has that key)."""

    def __init__(self, table: str, business_key: object, reason: str) -> None:
        self.table = table
        self.business_key = business_key
        self.reason = reason
        super().__init__(reason)


def writes_to_erp(project: Project, entity: str) -> bool:
    spec = project.entities.get(entity)
    return spec is not None and project.sources[spec.source].write_method == "sql"


def _table(name: str) -> sql.Composable:
    schema, _, table = name.rpartition(".")
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def _text(value: Any) -> str | None:
    """The value as PostgreSQL reads a literal: the column's type decides (numbers, dates …)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ErpUpdate:
    """One request as an UPDATE of the system of record's row."""

    table: str
    business_key: object
    statement: sql.Composed
    params: tuple[Any, ...]


def _statements(project: Project, requests: list[dict[str, Any]]) -> list[ErpUpdate]:
    out = []
    for r in requests:
        spec = project.entities[r["entity"]]
        if r["attribute"] not in spec.attributes:
            raise ErpWriteRefused(spec.table, r["business_key"],
                                  f"attribute {r['attribute']!r} is not a column of {spec.table}")
        out.append(ErpUpdate(spec.table, r["business_key"], sql.SQL(
            "UPDATE {} SET {} = %s WHERE {} = %s").format(
            _table(spec.table), sql.Identifier(spec.column_of(r["attribute"])),
            sql.Identifier(spec.column_of(spec.business_key))),
            (_text(r["requested_value"]), r["business_key"])))
    return out


def _write(url: str, updates: list[ErpUpdate]) -> int:
    """Run the updates in one ERP transaction; its transaction id."""
    with psycopg.connect(url) as erp:
        for u in updates:
            if erp.execute(u.statement, u.params).rowcount != 1:
                raise ErpWriteRefused(u.table, u.business_key, "no single row matched: "
                                      f"{u.statement.as_string(erp)} {u.params}")
        # The 32-bit xid, as Debezium reports it in `source.txId` (txid_current adds the epoch).
        row = erp.execute("SELECT txid_current() % 4294967296").fetchone()
        assert row is not None
        return int(row[0])


def apply_requests(hub: psycopg.Connection, project: Project, ids: list[int],
                   actor: str) -> list[dict[str, Any]]:
    """Write the open requests `ids` (one task's) into their ERP; their state afterwards."""
    requests = repo.open_requests(hub, ids)
    if not requests or not writes_to_erp(project, requests[0]["entity"]):
        return requests
    source = project.sources[project.entities[requests[0]["entity"]].source]
    where = f"cdc/{source.name}.yaml"
    try:
        tx_id = _write(expand_env(source.write_url or source.url, where),
                       _statements(project, requests))
    except (psycopg.Error, ErpWriteRefused) as exc:
        error = f"not written to {source.name}: {exc}"
        logger.warning("change requests %s %s", ids, error)
        repo.note_error(hub, ids, error)
        return [{**r, "error": error} for r in requests]
    with hub.transaction():
        repo.mark_applied(hub, ids, tx_id)
        audit.append(hub, actor, "change_request_applied",
                     f"{requests[0]['entity']} {requests[0]['business_key']}",
                     f"written to {source.name} in transaction {tx_id}",
                     {r["attribute"]: r["golden_value"] for r in requests},
                     {r["attribute"]: r["requested_value"] for r in requests})
    logger.info("change requests %s written to %s tx=%d", ids, source.name, tx_id)
    return [{**r, "status": "applied", "erp_tx_id": tx_id, "error": None} for r in requests]
