"""The demo's tables and seed for flows 3 and 4 (issue 13): production picking (an ERP
production order's BOM → picking list → WMS pick task, FIFO by batch → ERP stock issue or
shortage) and sales outbound (ERP sales order → WMS outbound order → ERP shipment and
receivable). sql/erp_outbound.sql and sql/wms_outbound.sql are created on every start
(IF NOT EXISTS); the seed runs once, on an ERP without a BOM."""
from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)
SQL_DIR = Path(__file__).parent / "sql"

# (component index among the first active materials, qty per unit, [(batch, received_on, qty)])
BOM = ((0, Decimal("2"), [("B20261008-01", date(2026, 10, 8), Decimal("25")),
                          ("B20261103-02", date(2026, 11, 3), Decimal("30"))]),
       (1, Decimal("0.5"), [("B20261021-01", date(2026, 10, 21), Decimal("12.5"))]),
       (2, Decimal("1.25"), [("B20260915-03", date(2026, 9, 15), Decimal("8")),
                             ("B20261120-01", date(2026, 11, 20), Decimal("40"))]))
PRODUCT_INDEX = 20          # the product: the 21st active material
PRODUCED = Decimal("20")    # the seeded production order's quantity
TERMS = {"C0001": 30, "C0002": 45, "C0003": 60, "C0004": 30, "C0005": 90}


def prepare_outbound_tables(erp_url: str, wms_url: str) -> None:
    """The ERP's production, picking, sales and receivable tables and the WMS's batch stock,
    pick tasks and outbound orders (idempotent)."""
    for url, name in ((erp_url, "erp_outbound.sql"), (wms_url, "wms_outbound.sql")):
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('material') IS NOT NULL").fetchone()
            if name.startswith("erp") and not (row and row[0]):
                continue  # an ERP started unseeded has none of erp.sql's tables
            conn.execute((SQL_DIR / name).read_text(encoding="utf-8"))


def seed_outbound(erp_url: str, wms_url: str) -> bool:
    """Once (an ERP without a BOM): a product's BOM of three components, a production order
    of 20 with its picking list (created), the components' batches in the WMS's 原料仓 WH01 and
    the same totals as the ERP's stock, payment terms of customers C0001…C0005 and a sales
    order of C0001 (created). False when it was seeded already."""
    with psycopg.connect(erp_url) as erp, erp.transaction():
        erp.execute("LOCK TABLE bom_line IN SHARE ROW EXCLUSIVE MODE")
        if erp.execute("SELECT 1 FROM bom_line LIMIT 1").fetchone() is not None:
            return False
        ids = [r[0] for r in erp.execute(
            "SELECT id FROM material WHERE active ORDER BY code LIMIT %s", (PRODUCT_INDEX + 1,))]
        codes: dict[int, str] = dict(erp.execute(
            "SELECT id, code FROM material WHERE id = ANY(%s)", (ids,)).fetchall())
        if len(ids) <= PRODUCT_INDEX:
            return False
        product = ids[PRODUCT_INDEX]
        batches = []
        for index, per, lots in BOM:
            erp.execute("INSERT INTO bom_line (product_id, component_id, qty_per) "
                        "VALUES (%s, %s, %s)", (product, ids[index], per))
            erp.execute("INSERT INTO stock (material_id, warehouse, on_hand) VALUES (%s, 'WH01', "
                        "%s) ON CONFLICT (material_id, warehouse) DO UPDATE SET on_hand = "
                        "stock.on_hand + EXCLUDED.on_hand", (ids[index], sum(q for *_, q in lots)))
            batches += [(codes[ids[index]], lot, day, qty) for lot, day, qty in lots]
        erp.execute("INSERT INTO production_order (product_id, quantity, planned_date, planner) "
                    "VALUES (%s, %s, current_date + 3, '刘计划')", (product, PRODUCED))
        erp.execute("SELECT make_picking_list(max(mo_no)) FROM production_order")
        _seed_sales(erp, ids)
    with psycopg.connect(wms_url) as wms, wms.transaction(), wms.cursor() as cur:
        cur.executemany("INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, "
                        "received_on, qty) VALUES (%s, 'WH01', %s, %s, %s) "
                        "ON CONFLICT DO NOTHING", batches)
    logger.info("flows 3 and 4 seeded: a BOM of %d components, %d batches", len(BOM), len(batches))
    return True


def _seed_sales(erp: psycopg.Connection, ids: list[int]) -> None:
    customers: dict[str, int] = dict(erp.execute(
        "SELECT code, id FROM customer WHERE code = ANY(%s)",
                                 (sorted(TERMS),)).fetchall())
    for code, days in TERMS.items():
        if code in customers:
            erp.execute("INSERT INTO customer_payment_terms VALUES (%s, %s) ON CONFLICT DO "
                        "NOTHING", (customers[code], days))
    if "C0001" not in customers:
        return
    row = erp.execute(
        "INSERT INTO sales_order (customer_id, priority, ship_to_address, contact, phone, "
        "sales_rep, total_amount) VALUES (%s, 2, '上海市浦东新区张江路 1388 号 3 号楼', '陈先生', "
        "'13800138000', '赵销售', 0) RETURNING id", (customers["C0001"],)).fetchone()
    assert row is not None
    for line_no, (index, qty, price) in enumerate(
            ((PRODUCT_INDEX, Decimal("12"), Decimal("368.50")), (3, Decimal("2.5"),
                                                                 Decimal("99.90"))), start=1):
        erp.execute("INSERT INTO sales_order_line (so_id, line_no, material_id, quantity, "
                    "unit_price, amount) VALUES (%s, %s, %s, %s, %s, round(%s * %s, 2))",
                    (row[0], line_no, ids[index], qty, price, qty, price))
    erp.execute("UPDATE sales_order SET total_amount = (SELECT sum(amount) FROM sales_order_line "
                "WHERE so_id = %s) WHERE id = %s", (row[0], row[0]))
