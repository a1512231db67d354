"""Write accepted change requests into the system of record (`write_method: sql` in cdc/).

The hub never edits a golden record to match a change request: it updates the ERP's own row
(`UPDATE <table> SET <column> = <value> WHERE <business key column> = <key>`), one ERP
transaction per divergence task, and capture brings that commit back as an ordinary change —
so the new version cites the ERP transaction, and that transaction id is stored on the request.
The hub's decision is committed first: if the write fails (or the hub stops before it), the
request stays open with its error, exported for the ERP team as before, and is never lost.
"""
from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mdm.config.loader import Project, expand_env
from mdm.steward import audit

logger = logging.getLogger(__name__)


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


def _statements(project: Project, requests: list[dict[str, Any]]) -> list[tuple[sql.Composed, tuple[Any, ...]]]:
    out = []
    for r in requests:
        spec = project.entities[r["entity"]]
        if r["attribute"] not in spec.attributes:
            raise ValueError(f"attribute {r['attribute']!r} is not a column of {spec.table}")
        out.append((sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(
            _table(spec.table), sql.Identifier(spec.column_of(r["attribute"])),
            sql.Identifier(spec.column_of(spec.business_key))),
            (_text(r["requested_value"]), r["business_key"])))
    return out


def _write(url: str, statements: list[tuple[sql.Composed, tuple[Any, ...]]]) -> int:
    """Run the updates in one ERP transaction; its transaction id."""
    with psycopg.connect(url) as erp:
        for statement, params in statements:
            if erp.execute(statement, params).rowcount != 1:
                raise LookupError(f"no single row matched: {statement.as_string(erp)} {params}")
        # The 32-bit xid, as Debezium reports it in `source.txId` (txid_current adds the epoch).
        row = erp.execute("SELECT txid_current() % 4294967296").fetchone()
        assert row is not None
        return int(row[0])


def apply_requests(hub: psycopg.Connection, project: Project, ids: list[int],
                   actor: str) -> list[dict[str, Any]]:
    """Write the open requests `ids` (one task's) into their ERP; their state afterwards."""
    with hub.cursor(row_factory=dict_row) as cur:
        requests = cur.execute("SELECT * FROM change_request WHERE id = ANY(%s) AND status = 'open' "
                               "ORDER BY id", (ids,)).fetchall()
    if not requests or not writes_to_erp(project, requests[0]["entity"]):
        return requests
    source = project.sources[project.entities[requests[0]["entity"]].source]
    where = f"cdc/{source.name}.yaml"
    try:
        tx_id = _write(expand_env(source.write_url or source.url, where),
                       _statements(project, requests))
    except (psycopg.Error, LookupError, ValueError) as exc:
        error = f"not written to {source.name}: {exc}"
        logger.warning("change requests %s %s", ids, error)
        hub.execute("UPDATE change_request SET error = %s WHERE id = ANY(%s)", (error, ids))
        return [{**r, "error": error} for r in requests]
    with hub.transaction():
        hub.execute("UPDATE change_request SET status = 'applied', applied_at = clock_timestamp(), "
                    "erp_tx_id = %s, error = NULL WHERE id = ANY(%s)", (tx_id, ids))
        audit.append(hub, actor, "change_request_applied",
                     f"{requests[0]['entity']} {requests[0]['business_key']}",
                     f"written to {source.name} in transaction {tx_id}",
                     {r["attribute"]: r["golden_value"] for r in requests},
                     {r["attribute"]: r["requested_value"] for r in requests})
    logger.info("change requests %s written to %s tx=%d", ids, source.name, tx_id)
    return [{**r, "status": "applied", "erp_tx_id": tx_id, "error": None} for r in requests]
