"""`mdm bench --flows`: the instants of each purchase-approval chain, read from PostgreSQL's own
timestamps in OA's, the ERP's and the hub's databases (one cluster, one clock), and the
figures made from them.

Per chain (an OA purchase request, by its number):
- approved — OA's `approved_at`, now() of the approval's one-UPDATE transaction (its start; the
  commit follows that UPDATE at once);
- erp_po — the ERP's `purchase_order.created_at`, localtimestamp of the API's INSERT
  transaction (read as timestamptz in the server's time zone, as the API's session writes it);
- po_on_oa — the hub's PATCH that put the PO number on the OA request: its `api_receipt`
  row's `received_at`, clock_timestamp() after the UPDATE, just before that transaction's
  commit (the first receipt for the request: the PATCH that carries po_no and po_status);
- the hub's own: when the create command was queued and acked, when the write-back was queued
  (delivery.created_at / acked_at), and the commit instants of the approval and of the
  write-back as the WAL records them (golden_version.cause_commit_ts, captured from OA), a
  cross-check of the OA-side figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.bench.runner import percentiles

CREATE_HOP = "purchase_approval.create_po"
BACK_HOP = "purchase_approval.create_po.back"

OA_SQL = """
SELECT r.request_no, extract(epoch FROM r.approved_at),
       extract(epoch FROM (SELECT min(a.received_at) FROM api_receipt a
                           WHERE a.collection = 'purchase-requests' AND a.record_key = r.request_no))
FROM oa_purchase_request r WHERE r.request_no = ANY(%s) AND r.po_no IS NOT NULL
"""
ERP_SQL = """
SELECT request_no, extract(epoch FROM min(created_at)::timestamptz)
FROM purchase_order WHERE request_no = ANY(%s) GROUP BY request_no
"""
HUB_DELIVERY_SQL = """
SELECT business_key, hop, extract(epoch FROM min(created_at)), extract(epoch FROM min(acked_at))
FROM delivery WHERE hop IN (%s, %s) AND business_key = ANY(%s) GROUP BY business_key, hop
"""
HUB_WAL_SQL = """
SELECT business_key,
       extract(epoch FROM min(cause_commit_ts) FILTER (WHERE attributes->>'status' = 'approved')),
       extract(epoch FROM min(cause_commit_ts) FILTER (WHERE coalesce(attributes->>'po_no', '') <> ''))
FROM golden_version WHERE entity = 'purchase_request' AND business_key = ANY(%s)
GROUP BY business_key
"""


@dataclass
class Chain:
    """One request's instants (epoch seconds; None where not seen)."""

    request_no: str
    approved: float
    po_on_oa: float
    erp_po: float | None = None
    command_queued: float | None = None
    command_acked: float | None = None
    back_queued: float | None = None
    wal_approved: float | None = None
    wal_po_on_oa: float | None = None


def read_chains(oa_url: str, erp_url: str, hub_url: str, numbers: list[str]) -> list[Chain]:
    """The chains of `numbers` whose PO number is on the OA request."""
    with psycopg.connect(oa_url) as conn:
        chains = {r[0]: Chain(r[0], float(r[1]), float(r[2]))
                  for r in conn.execute(OA_SQL, (numbers,)) if r[1] is not None and r[2] is not None}
    done = sorted(chains)
    with psycopg.connect(erp_url) as conn:
        for no, created in conn.execute(ERP_SQL, (done,)):
            chains[no].erp_po = float(created)
    with psycopg.connect(hub_url) as conn:
        for no, hop, queued, acked in conn.execute(HUB_DELIVERY_SQL, (CREATE_HOP, BACK_HOP, done)):
            if hop == CREATE_HOP:
                chains[no].command_queued = _float(queued)
                chains[no].command_acked = _float(acked)
            else:
                chains[no].back_queued = _float(queued)
        for no, approved, po_on_oa in conn.execute(HUB_WAL_SQL, (done,)):
            chains[no].wal_approved, chains[no].wal_po_on_oa = _float(approved), _float(po_on_oa)
    return [chains[no] for no in done]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _ms(chains: list[Chain], start: str, end: str) -> dict[str, float]:
    """p50/p99 (and count) of end − start over the chains that have both, in ms."""
    values = [(getattr(c, end) - getattr(c, start)) * 1000 for c in chains
              if getattr(c, start) is not None and getattr(c, end) is not None]
    return {**percentiles(values), "count": len(values)}


def latencies(chains: list[Chain]) -> dict[str, Any]:
    """The figures of a set of chains: the whole, its two halves and the hub's stages."""
    return {
        "approval_to_oa_po_number_ms": _ms(chains, "approved", "po_on_oa"),
        "approval_to_erp_po_ms": _ms(chains, "approved", "erp_po"),
        "erp_po_to_oa_po_number_ms": _ms(chains, "erp_po", "po_on_oa"),
        "stages_ms": {
            "approval_to_command_queued": _ms(chains, "approved", "command_queued"),
            "command_queued_to_erp_po": _ms(chains, "command_queued", "erp_po"),
            "erp_po_to_command_acked": _ms(chains, "erp_po", "command_acked"),
            "erp_po_to_write_back_queued": _ms(chains, "erp_po", "back_queued"),
            "write_back_queued_to_oa_po_number": _ms(chains, "back_queued", "po_on_oa"),
        },
        "wal_commit_approval_to_oa_po_number_ms": _ms(chains, "wal_approved", "wal_po_on_oa"),
    }


def per_minute(chains: list[Chain]) -> tuple[float, float]:
    """(chains completed per minute, seconds from the first approval to the last PO number on
    OA) over a load."""
    if not chains:
        return 0.0, 0.0
    span = max(c.po_on_oa for c in chains) - min(c.approved for c in chains)
    return (round(len(chains) / span * 60, 1) if span > 0 else 0.0), round(span, 2)
