-- Flows 3 and 4 in the demo ERP (issue 13; run after erp.sql by mdm/demo/outbound.py).
-- 生产领料 (flow 3): a production order (生产订单, MO…) of a product with a BOM (bom_line: the
-- components per unit) gets a picking list (领料单, LL…) of the components' required quantities
-- (make_picking_list(mo_no)); released, the hub sends it to the WMS as a pick task; the picked
-- quantities come back as a stock issue (生产领料出库单, CK…, stock −), a shortage onto the
-- picking list's lines (short_qty, status short).
-- 销售出库 (flow 4): a released sales order (销售订单, SO…) becomes a WMS outbound order; the
-- shipment comes back as a sales shipment (销售出库单, FH…) that sets the order shipped (已发货)
-- and posts a receivable (应收账款, AR…) due by the customer's terms, in one transaction.
CREATE TABLE IF NOT EXISTS bom_line (
    id           serial PRIMARY KEY,
    product_id   integer NOT NULL REFERENCES material(id),
    component_id integer NOT NULL REFERENCES material(id),
    qty_per      numeric(14,4) NOT NULL CHECK (qty_per > 0),   -- per unit of the product
    UNIQUE (product_id, component_id)
);

CREATE SEQUENCE IF NOT EXISTS production_order_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS production_order (
    id           serial PRIMARY KEY,
    mo_no        varchar(20) NOT NULL UNIQUE
                 DEFAULT ('MO' || lpad(nextval('production_order_no_seq')::text, 8, '0')),
    product_id   integer NOT NULL REFERENCES material(id),
    quantity     numeric(14,3) NOT NULL CHECK (quantity > 0),
    warehouse    varchar(20) NOT NULL DEFAULT 'WH01',            -- where its components are
    planned_date date,
    status       varchar(20) NOT NULL DEFAULT 'created',         -- created, released, done
    planner      varchar(60),
    created_at   timestamp NOT NULL DEFAULT localtimestamp,
    updated_at   timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE production_order_no_seq OWNED BY production_order.mo_no;

CREATE SEQUENCE IF NOT EXISTS picking_list_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS picking_list (
    id           serial PRIMARY KEY,
    pick_list_no varchar(20) NOT NULL UNIQUE
                 DEFAULT ('LL' || lpad(nextval('picking_list_no_seq')::text, 8, '0')),
    mo_id        integer NOT NULL REFERENCES production_order(id),
    warehouse    varchar(20) NOT NULL,
    status       varchar(20) NOT NULL DEFAULT 'created'
                 CHECK (status IN ('created', 'released', 'picked', 'short')),
    pick_task_no varchar(20),                                    -- the WMS's pick task (PK…)
    created_at   timestamp NOT NULL DEFAULT localtimestamp,
    updated_at   timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE picking_list_no_seq OWNED BY picking_list.pick_list_no;

CREATE TABLE IF NOT EXISTS picking_list_line (
    id              serial PRIMARY KEY,
    picking_list_id integer NOT NULL REFERENCES picking_list(id) ON DELETE CASCADE,
    line_no         integer NOT NULL,
    material_id     integer NOT NULL REFERENCES material(id),
    required_qty    numeric(14,3) NOT NULL CHECK (required_qty > 0),
    issued_qty      numeric(14,3) NOT NULL DEFAULT 0,
    short_qty       numeric(14,3) NOT NULL DEFAULT 0,
    UNIQUE (picking_list_id, line_no)
);

-- A picking list of the order's BOM: one line per component, required = order qty × qty_per.
CREATE OR REPLACE FUNCTION make_picking_list(p_mo_no text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    mo production_order%ROWTYPE;
    list_id integer;
    list_no text;
BEGIN
    SELECT * INTO mo FROM production_order WHERE mo_no = p_mo_no;
    IF NOT FOUND THEN
        RAISE EXCEPTION '生产订单 % 不存在', p_mo_no;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM bom_line WHERE product_id = mo.product_id) THEN
        RAISE EXCEPTION '生产订单 % 的产品没有物料清单（BOM）', p_mo_no;
    END IF;
    INSERT INTO picking_list (mo_id, warehouse) VALUES (mo.id, mo.warehouse)
        RETURNING id, pick_list_no INTO list_id, list_no;
    INSERT INTO picking_list_line (picking_list_id, line_no, material_id, required_qty)
    SELECT list_id, row_number() OVER (ORDER BY m.code), b.component_id,
           round(mo.quantity * b.qty_per, 3)
    FROM bom_line b JOIN material m ON m.id = b.component_id
    WHERE b.product_id = mo.product_id;
    RETURN list_no;
END $$;

CREATE SEQUENCE IF NOT EXISTS stock_issue_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS stock_issue (
    id              serial PRIMARY KEY,
    doc_no          varchar(20) NOT NULL UNIQUE
                    DEFAULT ('CK' || lpad(nextval('stock_issue_no_seq')::text, 8, '0')),
    picking_list_id integer NOT NULL REFERENCES picking_list(id),
    pick_task_no    varchar(20),
    warehouse       varchar(20) NOT NULL,
    list_status     varchar(20),                                 -- the list's after posting
    mdm_key         varchar(200) UNIQUE,
    posted_at       timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE stock_issue_no_seq OWNED BY stock_issue.doc_no;

CREATE TABLE IF NOT EXISTS stock_issue_line (
    id             serial PRIMARY KEY,
    stock_issue_id integer NOT NULL REFERENCES stock_issue(id) ON DELETE CASCADE,
    line_no        integer NOT NULL,
    pl_line_id     integer NOT NULL REFERENCES picking_list_line(id),
    material_id    integer NOT NULL REFERENCES material(id),
    quantity       numeric(14,3) NOT NULL CHECK (quantity > 0),
    batch_no       varchar(30),
    UNIQUE (stock_issue_id, line_no)
);

-- Sales. Payment terms per customer (days after shipment; a customer without a row: 30).
CREATE TABLE IF NOT EXISTS customer_payment_terms (
    customer_id integer PRIMARY KEY REFERENCES customer(id),
    days        integer NOT NULL CHECK (days >= 0)
);

CREATE SEQUENCE IF NOT EXISTS sales_order_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS sales_order (
    id              serial PRIMARY KEY,
    so_no           varchar(20) NOT NULL UNIQUE
                    DEFAULT ('SO' || lpad(nextval('sales_order_no_seq')::text, 8, '0')),
    customer_id     integer NOT NULL REFERENCES customer(id),
    priority        integer NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),  -- 1 most urgent
    ship_to_address varchar(300) NOT NULL,
    contact         varchar(60),
    phone           varchar(30),
    warehouse       varchar(20) NOT NULL DEFAULT 'WH02',
    status          varchar(20) NOT NULL DEFAULT 'created'
                    CHECK (status IN ('created', 'released', 'partial', 'shipped')),
    currency        char(3) NOT NULL DEFAULT 'CNY',
    total_amount    numeric(16,2) NOT NULL DEFAULT 0,
    order_date      date NOT NULL DEFAULT current_date,
    tracking_no     varchar(40),
    shipped_at      timestamptz,
    sales_rep       varchar(60),
    created_at      timestamp NOT NULL DEFAULT localtimestamp,
    updated_at      timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE sales_order_no_seq OWNED BY sales_order.so_no;

CREATE TABLE IF NOT EXISTS sales_order_line (
    id          serial PRIMARY KEY,
    so_id       integer NOT NULL REFERENCES sales_order(id) ON DELETE CASCADE,
    line_no     integer NOT NULL,
    material_id integer NOT NULL REFERENCES material(id),
    quantity    numeric(14,3) NOT NULL CHECK (quantity > 0),
    unit_price  numeric(14,4) NOT NULL,
    amount      numeric(16,2) NOT NULL,
    shipped_qty numeric(14,3) NOT NULL DEFAULT 0,
    UNIQUE (so_id, line_no)
);

CREATE SEQUENCE IF NOT EXISTS sales_shipment_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS sales_shipment (
    id          serial PRIMARY KEY,
    doc_no      varchar(20) NOT NULL UNIQUE
                DEFAULT ('FH' || lpad(nextval('sales_shipment_no_seq')::text, 8, '0')),
    so_id       integer NOT NULL REFERENCES sales_order(id),
    outbound_no varchar(20),                                     -- the WMS's outbound order
    tracking_no varchar(40),
    carrier     varchar(60),
    shipped_at  timestamptz NOT NULL,
    amount      numeric(16,2) NOT NULL,
    so_status   varchar(20),                                     -- the order's after posting
    mdm_key     varchar(200) UNIQUE,
    posted_at   timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE sales_shipment_no_seq OWNED BY sales_shipment.doc_no;

CREATE TABLE IF NOT EXISTS sales_shipment_line (
    id          serial PRIMARY KEY,
    shipment_id integer NOT NULL REFERENCES sales_shipment(id) ON DELETE CASCADE,
    line_no     integer NOT NULL,
    so_line_id  integer NOT NULL REFERENCES sales_order_line(id),
    material_id integer NOT NULL REFERENCES material(id),
    quantity    numeric(14,3) NOT NULL CHECK (quantity > 0),
    unit_price  numeric(14,4) NOT NULL,
    amount      numeric(16,2) NOT NULL,
    UNIQUE (shipment_id, line_no)
);

CREATE SEQUENCE IF NOT EXISTS ar_entry_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS ar_entry (
    id          serial PRIMARY KEY,
    ar_no       varchar(20) NOT NULL UNIQUE
                DEFAULT ('AR' || lpad(nextval('ar_entry_no_seq')::text, 8, '0')),
    customer_id integer NOT NULL REFERENCES customer(id),
    so_id       integer NOT NULL REFERENCES sales_order(id),
    shipment_id integer NOT NULL UNIQUE REFERENCES sales_shipment(id),
    amount      numeric(16,2) NOT NULL,
    currency    char(3) NOT NULL,
    due_date    date NOT NULL,
    status      varchar(20) NOT NULL DEFAULT 'open',
    posted_at   timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE ar_entry_no_seq OWNED BY ar_entry.ar_no;
