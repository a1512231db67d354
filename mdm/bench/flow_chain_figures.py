"""`mdm bench --flows`: the instants of each whole purchase → payment chain under load, read
from PostgreSQL's own timestamps in OA's, the ERP's and the WMS's databases (one cluster, one
clock), and the per-step figures made from them (flow 1's instants: flow_figures.py).

Per chain (an OA purchase request, its PO):
- released — now() of the buyer's release UPDATE in the ERP (returned by it; the ERP's
  purchase_order.updated_at moves again with later states);
- pre_receipt — the WMS's `wms_pre_receipt.created_at`, now() of the hub's create;
- received — the WMS's `wms_receipt.received_at`, now() of the receipt's completion;
- stock_in — the ERP's `stock_in.posted_at`, localtimestamp of the hub's stock-in (the payable
  is made in the same transaction: `payable.created_at`);
- payment_request — OA's `oa_payment_request.submitted_at`, now() of the hub's push;
- payment_approved — its `approved_at`, now() of the finance approver's UPDATE;
- erp_payment — the ERP's `erp_payment.paid_at`, localtimestamp of the hub's payment;
- paid_on_oa — OA's `api_receipt.received_at` of the hub's write-back of the payment request
  (已付款 and the bank reference): clock_timestamp() just before its commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.bench.runner import percentiles

EPOCH = "extract(epoch FROM {}::timestamptz)"
WMS_SQL = f"""
SELECT p.po_no, {EPOCH.format('min(p.created_at)')},
       (SELECT {EPOCH.format('min(r.received_at)')} FROM wms_receipt r
        WHERE r.po_no = p.po_no AND r.status = 'completed')
FROM wms_pre_receipt p WHERE p.po_no = ANY(%s) GROUP BY p.po_no
"""
ERP_SQL = f"""
SELECT o.po_no, {EPOCH.format('min(s.posted_at)')}, {EPOCH.format('min(a.created_at)')}
FROM purchase_order o JOIN stock_in s ON s.po_id = o.id LEFT JOIN payable a ON a.stock_in_id = s.id
WHERE o.po_no = ANY(%s) GROUP BY o.po_no
"""
OA_SQL = f"""
SELECT q.po_no, q.request_no, {EPOCH.format('q.submitted_at')}, {EPOCH.format('q.approved_at')},
       (SELECT {EPOCH.format('min(a.received_at)')} FROM api_receipt a
        WHERE a.collection = 'payment-requests' AND a.record_key = q.request_no)
FROM oa_payment_request q WHERE q.po_no = ANY(%s) AND q.pay_status = '已付款'
"""
PAYMENT_SQL = f"""
SELECT request_no, {EPOCH.format('min(paid_at)')} FROM erp_payment
WHERE request_no = ANY(%s) GROUP BY request_no
"""

# (name, start, end, what): the hub's hops, then the bench's humans' reactions
HUB_HOPS = (
    ("approval_to_erp_po", "approved", "erp_po", "flow 1: OA approval → ERP PO"),
    ("erp_po_to_oa_po_number", "erp_po", "po_on_oa", "flow 1: ERP PO → PO number on OA"),
    ("release_to_wms_pre_receipt", "released", "pre_receipt",
     "flow 2: ERP release → WMS pre-receipt"),
    ("receipt_to_erp_stock_in", "received", "stock_in", "flow 2: WMS receipt → ERP stock-in"),
    ("payable_to_oa_payment_request", "payable", "payment_request",
     "flow 6: ERP payable → OA payment request"),
    ("payment_approval_to_erp_payment", "payment_approved", "erp_payment",
     "flow 6: OA approval → ERP payment"),
    ("erp_payment_to_oa_paid", "erp_payment", "paid_on_oa", "flow 6: ERP payment → 已付款 on OA"),
)
HUMANS = (
    ("oa_po_number_to_release", "po_on_oa", "released", "buyer: PO number on OA → released"),
    ("pre_receipt_to_receipt", "pre_receipt", "received",
     "warehouse: pre-receipt → receipt completed"),
    ("payment_request_to_approval", "payment_request", "payment_approved",
     "finance: payment request → approved"),
)


@dataclass
class WholeChain:
    """One request's instants through the whole chain (epoch seconds; None where not seen)."""

    request_no: str
    approved: float
    po_on_oa: float
    erp_po: float | None = None
    released: float | None = None
    pre_receipt: float | None = None
    received: float | None = None
    stock_in: float | None = None
    payable: float | None = None
    payment_request: float | None = None
    payment_approved: float | None = None
    erp_payment: float | None = None
    paid_on_oa: float | None = None


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def read_whole(chains: list[Any], po_of: dict[str, str], released: dict[str, float],
               dbs: dict[str, str]) -> list[WholeChain]:
    """The whole chains of flow 1's `chains` (flow_figures.Chain) whose PO the buyer released;
    `dbs`: the OA, ERP and WMS database URLs."""
    by_po = {po_of[c.request_no]: WholeChain(c.request_no, c.approved, c.po_on_oa, c.erp_po,
                                             released.get(po_of[c.request_no]))
             for c in chains if c.request_no in po_of}
    pos = sorted(by_po)
    with psycopg.connect(dbs["wms"]) as conn:
        for po, pre, received in conn.execute(WMS_SQL, (pos,)):
            by_po[po].pre_receipt, by_po[po].received = _f(pre), _f(received)
    with psycopg.connect(dbs["erp"]) as conn:
        for po, stock_in, payable in conn.execute(ERP_SQL, (pos,)):
            by_po[po].stock_in, by_po[po].payable = _f(stock_in), _f(payable)
    requests: dict[str, str] = {}
    with psycopg.connect(dbs["oa"]) as conn:
        for po, number, pushed, approved, paid in conn.execute(OA_SQL, (pos,)):
            requests[number] = po
            chain = by_po[po]
            chain.payment_request, chain.payment_approved = _f(pushed), _f(approved)
            chain.paid_on_oa = _f(paid)
    with psycopg.connect(dbs["erp"]) as conn:
        for number, paid_at in conn.execute(PAYMENT_SQL, (sorted(requests),)):
            by_po[requests[number]].erp_payment = _f(paid_at)
    return [by_po[po] for po in pos]


def _ms(chains: list[WholeChain], start: str, end: str) -> dict[str, float]:
    values = [(getattr(c, end) - getattr(c, start)) * 1000 for c in chains
              if getattr(c, start) is not None and getattr(c, end) is not None]
    return {**percentiles(values), "count": len(values)}


def whole_figures(chains: list[WholeChain], started: int) -> dict[str, Any]:
    """chains_per_minute over the completed chains (first approval → last 已付款 on OA), the
    whole chain's p50/p99 and each hub hop's and human step's."""
    done = [c for c in chains if c.paid_on_oa is not None]
    span = (max(c.paid_on_oa for c in done if c.paid_on_oa is not None)
            - min(c.approved for c in done)) if done else 0.0
    return {
        "started": started, "completed": len(done),
        "first_approval_to_last_paid_s": round(span, 2),
        "chains_per_minute": round(len(done) / span * 60, 1) if span > 0 else 0.0,
        "approval_to_oa_paid_ms": _ms(done, "approved", "paid_on_oa"),
        "hub_hops_ms": {name: _ms(chains, a, b) for name, a, b, _ in HUB_HOPS},
        "humans_ms": {name: _ms(chains, a, b) for name, a, b, _ in HUMANS},
    }
