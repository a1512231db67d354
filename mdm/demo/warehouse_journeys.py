"""Flows 3 and 4, run once by `mdm demo` as their users would (the ERP's planner and sales
staff, the WMS's picker and shipper), each step timed from the user's action to the moment the
next system shows its effect (demo/flow_journeys.py's chains).

Flow 3 uses a product of its own (the 25th active material) whose BOM has two components: one
the WMS holds enough of, in two batches (FIFO takes the older first), and one it holds 30 of
where the order needs 50. Each run sets those two components' stock afresh (the ERP's
`stock`, the WMS's batches), so the chain reads the same on every start of the demo."""
from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from mdm.demo.flow_journeys import Chain, Step, one, post, until

PRODUCT_OFFSET = 24  # the product and its two components: active materials 25, 26 and 27
ORDER_QTY = Decimal("10")
# component → (qty per unit, the WMS's batches as (days ago received, qty)): needs 20 of 45
# in two batches, and 50 of 30 (short 20)
COMPONENTS = ((Decimal("2"), ((40, Decimal("15")), (12, Decimal("30")))),
              (Decimal("5"), ((35, Decimal("12")), (9, Decimal("18")))))
PICKER, SHIPPER_CARRIER = "拣货员 周敏", "顺丰速运"
SHIP_TO = "苏州市工业园区星湖街 328 号"


def _picking_masters(erp_url: str, wms_db_url: str) -> tuple[str, list[str]]:
    """The journey's product with its BOM, and its components' stock as COMPONENTS says in both
    systems (batches numbered by the day they were received): (product, components)."""
    with psycopg.connect(erp_url) as erp, erp.transaction():
        codes = [r[0] for r in erp.execute(
            "SELECT code FROM material WHERE active ORDER BY code OFFSET %s LIMIT 3",
            (PRODUCT_OFFSET,))]
        product, parts = codes[0], codes[1:]
        for code, (per, lots) in zip(parts, COMPONENTS, strict=True):
            erp.execute("INSERT INTO bom_line (product_id, component_id, qty_per) SELECT p.id, "
                        "c.id, %s FROM material p, material c WHERE p.code = %s AND c.code = %s "
                        "ON CONFLICT (product_id, component_id) DO UPDATE SET qty_per = "
                        "EXCLUDED.qty_per", (per, product, code))
            erp.execute("INSERT INTO stock (material_id, warehouse, on_hand) SELECT id, 'WH01', "
                        "%s FROM material WHERE code = %s ON CONFLICT (material_id, warehouse) "
                        "DO UPDATE SET on_hand = EXCLUDED.on_hand",
                        (sum(q for _, q in lots), code))
    with psycopg.connect(wms_db_url) as wms, wms.transaction():
        for code, (_, lots) in zip(parts, COMPONENTS, strict=True):
            wms.execute("DELETE FROM wms_batch_stock WHERE item_code = %s AND warehouse = 'WH01' "
                        "AND allocated = 0", (code,))
            wms.execute("UPDATE wms_batch_stock SET qty = allocated WHERE item_code = %s AND "
                        "warehouse = 'WH01'", (code,))  # what an unfinished task still holds
            for days, qty in lots:
                received = date.today() - timedelta(days=days)
                wms.execute("INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, "
                            "received_on, qty) VALUES (%s, 'WH01', %s, %s, %s) ON CONFLICT "
                            "(item_code, warehouse, batch_no) DO UPDATE SET qty = "
                            "wms_batch_stock.allocated + EXCLUDED.qty",
                            (code, f"B{received:%Y%m%d}-01", received, qty))
    return product, parts


def _released_list(erp_url: str, erp: httpx.Client, product: str) -> tuple[str, str]:
    """The planner's production order of ORDER_QTY and its picking list, made (not yet
    released): (mo_no, pick_list_no)."""
    mo_no = one(erp_url, "INSERT INTO production_order (product_id, quantity, planned_date, "
                "planner) SELECT id, %s, current_date + 2, '刘计划' FROM material WHERE code = %s "
                "RETURNING mo_no", (ORDER_QTY, product))
    made = post(erp, f"/api/production-orders/{mo_no}/picking-list", {})
    return str(mo_no), str(made["pick_list_no"])


def _task_text(task: dict[str, Any]) -> str:
    parts = []
    for line in task["lines"]:
        batches = sum(1 for a in task["allocations"] if a["line_no"] == line["line_no"])
        short = Decimal(line["short_qty"])
        parts.append(f"{line['item_code']} {Decimal(line['allocated_qty']).normalize():f} of "
                     f"{Decimal(line['required_qty']).normalize():f} from {batches} batch(es)"
                     + (f", short {short.normalize():f}" if short else ""))
    return f"WMS pick task {task['task_no']} ({'; '.join(parts)})"


def _picked_text(task: dict[str, Any]) -> str:
    taken = ", ".join(f"{a['batch_no']} {Decimal(a['picked_qty']).normalize():f}"
                      for a in task["allocations"] if Decimal(a["picked_qty"]))
    return f"picked by {task.get('picked_by') or PICKER} (FIFO: {taken})"


def _stock(erp_url: str, codes: list[str]) -> dict[str, Decimal]:
    with psycopg.connect(erp_url, autocommit=True) as conn:
        found = conn.execute("SELECT m.code, s.on_hand FROM stock s JOIN material m ON m.id = "
                             "s.material_id WHERE s.warehouse = 'WH01' AND m.code = ANY(%s)",
                             (codes,)).fetchall()
    return {code: on_hand for code, on_hand in found}


def production_picking(erp_url: str, erp_api_url: str, wms_url: str, wms_db_url: str,
                       hub_url: str) -> Chain:
    """Flow 3: a released ERP picking list → the WMS's pick task, allocated FIFO by batch, one
    line short → the shortage on the ERP list and a task for production → the picker's
    confirmation → the ERP's stock issue per batch (stock −)."""
    product, parts = _picking_masters(erp_url, wms_db_url)
    with httpx.Client(base_url=erp_api_url, timeout=30) as erp, \
            httpx.Client(base_url=wms_url, timeout=30) as wms:
        mo_no, list_no = _released_list(erp_url, erp, product)
        chain = Chain("生产领料 production picking (ERP → WMS → ERP)",
                      f"ERP 领料单 {list_no} ({mo_no}: {ORDER_QTY.normalize():f} × {product}) "
                      "released")
        chain.numbers.update(picking_list=list_no, production_order=mo_no)
        started = time.monotonic()
        post(erp, f"/api/picking-lists/{list_no}/release", {})
        task_no, ms = until(lambda: one(wms_db_url, "SELECT task_no FROM wms_pick_task WHERE "
                                        "pick_list_no = %s", (list_no,)), started)
        if task_no is None:
            chain.steps.append(Step("WMS pick task", None))
            return chain
        chain.numbers["pick_task"] = task_no
        task = wms.get(f"/api/pick-tasks/{task_no}").raise_for_status().json()
        chain.steps.append(Step(_task_text(task), ms))
        flagged, ms = until(lambda: one(erp_url, "SELECT 1 FROM picking_list WHERE "
                                        "pick_list_no = %s AND status = 'short'", (list_no,))
                            and one(hub_url, "SELECT id FROM task WHERE type = 'flow_task' AND "
                                    "entity = 'pick_task' AND business_key = %s", (task_no,)),
                            started)
        chain.steps.append(Step(f"shortage on the ERP list + task #{flagged or '?'} for "
                                "production", ms))
        chain.numbers["task"] = str(flagged or "")
        before = _stock(erp_url, parts)
        confirmed = time.monotonic()
        picked = post(wms, f"/api/pick-tasks/{task_no}/confirm", {"picked_by": PICKER})
        doc_no, ms = until(lambda: one(erp_url, "SELECT doc_no FROM stock_issue WHERE "
                                       "pick_task_no = %s", (task_no,)), confirmed)
        after = _stock(erp_url, parts)
        moved = ", ".join(f"{c} {before.get(c, Decimal(0)).normalize():f}→{after.get(c, Decimal(0)).normalize():f}"
                          for c in parts)
        chain.steps.append(Step(f"{_picked_text(picked)} → ERP stock issue {doc_no or '?'} "
                                f"(stock {moved})", ms))
        chain.numbers["stock_issue"] = doc_no or ""
        _, ms = until(lambda: one(wms_db_url, "SELECT 1 FROM wms_pick_task WHERE task_no = %s "
                                  "AND erp_doc_no = %s", (task_no, doc_no)), confirmed)
        chain.steps.append(Step(f"WMS task shows {doc_no or '?'}", ms))
    return chain


def _sales_masters(erp_url: str) -> tuple[str, list[str]]:
    """A customer with payment terms and two finished goods: the seed's product and another."""
    customer = one(erp_url, "SELECT c.code FROM customer c JOIN customer_payment_terms t ON "
                   "t.customer_id = c.id WHERE c.active ORDER BY c.code LIMIT 1", ())
    with psycopg.connect(erp_url, autocommit=True) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM material WHERE active ORDER BY "
                                            "code OFFSET 20 LIMIT 2")]
    return str(customer or "C0001"), codes


def sales_outbound(erp_url: str, erp_api_url: str, wms_url: str, wms_db_url: str) -> Chain:
    """Flow 4: a released ERP sales order → the WMS's outbound order (priority, address) → the
    shipper ships it with a tracking number → the ERP's sales shipment, the order 已发货, the
    receivable → the WMS's order shows 已发货 and the shipment's number."""
    customer, codes = _sales_masters(erp_url)
    tracking = f"SF{int(time.time() * 1000) % 10**13:013d}"
    with httpx.Client(base_url=erp_api_url, timeout=30) as erp, \
            httpx.Client(base_url=wms_url, timeout=30) as wms:
        so_no = post(erp, "/api/sales-orders", {
            "customer_code": customer, "priority": 1, "contact": "陈先生", "phone": "13900001111",
            "ship_to_address": SHIP_TO, "lines": [
                {"material_code": codes[0], "quantity": "3", "unit_price": "368.50"},
                {"material_code": codes[1], "quantity": "2.5", "unit_price": "19.99"}]})["so_no"]
        chain = Chain("销售出库 sales outbound (ERP → WMS → ERP)",
                      f"ERP 销售订单 {so_no} ({customer}, priority 1) released")
        chain.numbers["sales_order"] = so_no
        started = time.monotonic()
        post(erp, f"/api/sales-orders/{so_no}/release", {})
        found, ms = until(lambda: _outbound(wms_db_url, so_no), started)
        outbound_no = found[0] if found else None
        chain.steps.append(Step(f"WMS outbound {outbound_no or '?'} (priority {found[1]}, "
                                f"{found[2]})" if found else "WMS outbound ?", ms))
        if outbound_no is None:
            return chain
        chain.numbers["outbound"] = outbound_no
        shipped = time.monotonic()
        post(wms, f"/api/outbound-orders/{outbound_no}/ship",
             {"tracking_no": tracking, "carrier": SHIPPER_CARRIER})
        doc_no, ms = until(lambda: one(erp_url, "SELECT s.doc_no FROM sales_shipment s JOIN "
                                       "sales_order o ON o.id = s.so_id WHERE s.outbound_no = %s "
                                       "AND o.status = 'shipped'", (outbound_no,)), shipped)
        chain.steps.append(Step(f"shipped, {SHIPPER_CARRIER} {tracking} → ERP shipment "
                                f"{doc_no or '?'}, order 已发货", ms))
        chain.numbers.update(shipment=doc_no or "", tracking=tracking)
        ar, ms = until(lambda: _receivable(erp_url, so_no), shipped)
        chain.steps.append(Step(f"AR entry {ar[0]} ¥{ar[1]} due {ar[2]}" if ar else "AR entry ?",
                                ms))
        chain.numbers["receivable"] = ar[0] if ar else ""
        _, ms = until(lambda: one(wms_db_url, "SELECT 1 FROM wms_outbound_order WHERE "
                                  "outbound_no = %s AND erp_status = '已发货' AND erp_doc_no = %s",
                                  (outbound_no, doc_no)), shipped)
        chain.steps.append(Step(f"WMS shows 已发货 {doc_no or '?'}", ms))
    return chain


def _outbound(wms_db_url: str, so_no: str) -> tuple[str, int, str] | None:
    with psycopg.connect(wms_db_url, autocommit=True) as conn:
        row = conn.execute("SELECT outbound_no, priority, ship_to_address FROM wms_outbound_order "
                           "WHERE so_no = %s", (so_no,)).fetchone()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


def _receivable(erp_url: str, so_no: str) -> tuple[str, Decimal, date] | None:
    with psycopg.connect(erp_url, autocommit=True) as conn:
        row = conn.execute("SELECT a.ar_no, a.amount, a.due_date FROM ar_entry a JOIN sales_order "
                           "o ON o.id = a.so_id WHERE o.so_no = %s", (so_no,)).fetchone()
    return None if row is None else (str(row[0]), row[1], row[2])


def stock_level(wms_db_url: str, erp_url: str, hub_url: str) -> Chain:
    """Flow 7 (only where the ERP's broker is there): a WMS stock level changes → its golden
    version → the broker confirms the hub's message (exchange erp.stock) → the ERP's consumer
    has upserted erp_stock."""
    with psycopg.connect(wms_db_url, autocommit=True) as conn:
        row = conn.execute("UPDATE wms_stock SET on_hand = on_hand + 12.5 WHERE stock_key = "
                           "(SELECT min(stock_key) FROM wms_stock WHERE warehouse = 'WH01') "
                           "RETURNING stock_key, item_code, on_hand - 12.5, on_hand").fetchone()
    started = time.monotonic()
    if row is None:
        return Chain("库存同步 stock levels (WMS → RabbitMQ → ERP)", "WMS has no stock level",
                     [Step("a level to change", None)])
    key, item, old, new = str(row[0]), str(row[1]), row[2], row[3]
    chain = Chain("库存同步 stock levels (WMS → RabbitMQ → ERP)",
                  f"WMS 库存 {key} on_hand {old.normalize():f} → {new.normalize():f}")
    chain.numbers["stock_level"] = key
    version, ms = until(lambda: one(hub_url, "SELECT version FROM golden_record WHERE entity = "
                                    "'stock_level' AND business_key = %s AND (attributes ->> "
                                    "'on_hand')::numeric = %s", (key, new)), started)
    chain.steps.append(Step(f"golden stock_level v{version or '?'}", ms))
    _, ms = until(lambda: one(hub_url, "SELECT 1 FROM delivery WHERE target = 'erp_mq' AND "
                              "business_key = %s AND version = %s AND status = 'acked'",
                              (key, version)), started)
    chain.steps.append(Step("RabbitMQ confirmed (exchange erp.stock)", ms))
    _, ms = until(lambda: one(erp_url, "SELECT 1 FROM erp_stock WHERE material_code = %s AND "
                              "warehouse = 'WH01' AND on_hand = %s", (item, new)), started)
    chain.steps.append(Step(f"ERP erp_stock {item}@WH01 = {new.normalize():f} (by the queue)", ms))
    return chain
