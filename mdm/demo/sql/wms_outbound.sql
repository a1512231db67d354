-- Flows 3 and 4 in the demo WMS (issue 13; run after wms.sql and wms_stock.sql by
-- mdm/demo/outbound.py). 批次库存: batch stock per item, warehouse and batch with the day it
-- was received — picking takes the oldest batches first (FIFO); `allocated` is what open pick
-- tasks hold of it. A pick task (拣货任务, PK…) is made by the hub from a released ERP picking
-- list (POST /api/pick-tasks, mdm/demo/wms_outbound.py): the WMS allocates at once, and a line
-- it cannot cover is short from the start (status short); the picker's confirmation moves it
-- to picked with the actual quantities per batch. An outbound order (出库单, OB…) is made from
-- a released ERP sales order and shipped with a tracking number.
CREATE TABLE IF NOT EXISTS wms_batch_stock (
    id          serial PRIMARY KEY,
    item_code   varchar(30) NOT NULL,
    warehouse   varchar(20) NOT NULL,
    batch_no    varchar(30) NOT NULL,
    received_on date NOT NULL,
    qty         numeric(14,3) NOT NULL CHECK (qty >= 0),
    allocated   numeric(14,3) NOT NULL DEFAULT 0 CHECK (allocated >= 0 AND allocated <= qty),
    UNIQUE (item_code, warehouse, batch_no)
);

CREATE SEQUENCE IF NOT EXISTS wms_pick_task_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS wms_pick_task (
    id           serial PRIMARY KEY,
    task_no      varchar(20) NOT NULL UNIQUE
                 DEFAULT ('PK' || lpad(nextval('wms_pick_task_no_seq')::text, 8, '0')),
    pick_list_no varchar(20) NOT NULL,                           -- the ERP picking list (LL…)
    mo_no        varchar(20),
    warehouse    varchar(20) NOT NULL,
    status       varchar(20) NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'short', 'picked')),
    picked_by    varchar(60),
    picked_at    timestamptz,
    erp_doc_no   varchar(20),                                    -- the ERP stock issue (CK…)
    mdm_key      varchar(200) UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE wms_pick_task_no_seq OWNED BY wms_pick_task.task_no;

CREATE TABLE IF NOT EXISTS wms_pick_task_line (
    id            serial PRIMARY KEY,
    task_id       integer NOT NULL REFERENCES wms_pick_task(id) ON DELETE CASCADE,
    line_no       integer NOT NULL,                              -- the picking list's line
    item_code     varchar(30) NOT NULL,
    required_qty  numeric(14,3) NOT NULL,
    allocated_qty numeric(14,3) NOT NULL DEFAULT 0,
    picked_qty    numeric(14,3) NOT NULL DEFAULT 0,
    short_qty     numeric(14,3) NOT NULL DEFAULT 0,              -- required − (allocated|picked)
    UNIQUE (task_id, line_no)
);

-- What each line takes of which batch (FIFO), and what the picker actually took.
CREATE TABLE IF NOT EXISTS wms_pick_allocation (
    id          serial PRIMARY KEY,
    task_id     integer NOT NULL REFERENCES wms_pick_task(id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    line_no     integer NOT NULL,
    item_code   varchar(30) NOT NULL,
    batch_no    varchar(30) NOT NULL,
    received_on date NOT NULL,
    qty         numeric(14,3) NOT NULL CHECK (qty > 0),
    picked_qty  numeric(14,3) NOT NULL DEFAULT 0,
    UNIQUE (task_id, seq)
);

CREATE SEQUENCE IF NOT EXISTS wms_outbound_no_seq MINVALUE 1 MAXVALUE 99999999;
CREATE TABLE IF NOT EXISTS wms_outbound_order (
    id              serial PRIMARY KEY,
    outbound_no     varchar(20) NOT NULL UNIQUE
                    DEFAULT ('OB' || lpad(nextval('wms_outbound_no_seq')::text, 8, '0')),
    so_no           varchar(20) NOT NULL,                        -- the ERP sales order
    customer_no     varchar(20) NOT NULL,
    priority        integer NOT NULL DEFAULT 3,
    ship_to_address varchar(300) NOT NULL,
    contact         varchar(60),
    phone           varchar(30),
    warehouse       varchar(20) NOT NULL DEFAULT 'WH02',
    status          varchar(20) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'shipped')),
    carrier         varchar(60),
    tracking_no     varchar(40),
    shipped_at      timestamptz,
    erp_doc_no      varchar(20),                                 -- the ERP sales shipment (FH…)
    erp_status      varchar(20),                                 -- the ERP order's, in words
    mdm_key         varchar(200) UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE wms_outbound_no_seq OWNED BY wms_outbound_order.outbound_no;

CREATE TABLE IF NOT EXISTS wms_outbound_line (
    id          serial PRIMARY KEY,
    outbound_id integer NOT NULL REFERENCES wms_outbound_order(id) ON DELETE CASCADE,
    line_no     integer NOT NULL,                                -- the sales order's line
    item_code   varchar(30) NOT NULL,
    quantity    numeric(14,3) NOT NULL,
    shipped_qty numeric(14,3) NOT NULL DEFAULT 0,
    UNIQUE (outbound_id, line_no)
);
