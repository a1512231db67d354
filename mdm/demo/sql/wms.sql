-- The demo WMS (仓储管理) database: its own tables, fed by the hub over REST.
-- `id` is the WMS's own surrogate key; the business number is the upsert key.
-- `mdm_version` records the golden-record version last written by the hub.

CREATE TABLE IF NOT EXISTS wms_supplier (
    id            serial PRIMARY KEY,
    supplier_no   varchar(20) NOT NULL UNIQUE,
    supplier_name varchar(200) NOT NULL,
    contact       varchar(60),
    phone         varchar(30),
    address       varchar(300),
    is_active     boolean NOT NULL DEFAULT true,
    mdm_version   integer,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS wms_item (
    id                  serial PRIMARY KEY,
    item_code           varchar(30) NOT NULL UNIQUE,
    item_name           varchar(200) NOT NULL,
    spec                varchar(200),
    unit                varchar(10),
    weight_kg           numeric(12,3),
    shelf_life_days     integer,
    effective_from      date,
    description         text,
    default_supplier_no varchar(20),
    stock_status        varchar(20) NOT NULL DEFAULT '待入库',  -- WMS's own: 待入库 / 在库 / 停用
    is_active           boolean NOT NULL DEFAULT true,
    mdm_version         integer,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE wms_item ADD COLUMN IF NOT EXISTS stock_status varchar(20) NOT NULL DEFAULT '待入库';

CREATE TABLE IF NOT EXISTS wms_customer (
    id            serial PRIMARY KEY,
    customer_no   varchar(20) NOT NULL UNIQUE,
    customer_name varchar(200) NOT NULL,
    region        varchar(40),
    is_active     boolean NOT NULL DEFAULT true,
    mdm_version   integer,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS wms_operator (
    id            serial PRIMARY KEY,
    operator_no   varchar(20) NOT NULL UNIQUE,
    operator_name varchar(60) NOT NULL,
    dept_code     varchar(20),
    mobile        varchar(20),
    is_active     boolean NOT NULL DEFAULT true,
    mdm_version   integer,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS wms_dept (
    id          serial PRIMARY KEY,
    dept_code   varchar(20) NOT NULL UNIQUE,
    dept_name   varchar(100) NOT NULL,
    parent_code varchar(20),
    is_active   boolean NOT NULL DEFAULT true,
    mdm_version integer,
    updated_at  timestamptz NOT NULL DEFAULT now()
);


-- 入库预约 and 收货 (issue 13, flow 2 "purchase receipt"): the hub makes a pre-receipt (ASN) from
-- each released ERP purchase order (POST /api/pre-receipts, mdm/demo/wms_receipts.py; mdm_key is
-- the call's Idempotency-Key); the dock worker's receipt (GR…) is entered as a draft and then
-- completed, each in its own transaction, and the hub captures it and posts the ERP stock-in,
-- whose number comes back as erp_doc_no. line_no of a pre-receipt line is the PO's line number.
CREATE SEQUENCE IF NOT EXISTS wms_pre_receipt_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS wms_pre_receipt (
    id            serial PRIMARY KEY,
    pre_no        varchar(20) NOT NULL UNIQUE       -- e.g. ASN00000001
                  DEFAULT ('ASN' || lpad(nextval('wms_pre_receipt_no_seq')::text, 8, '0')),
    po_no         varchar(20) NOT NULL,
    supplier_no   varchar(20),
    expected_date date,
    status        varchar(20) NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'receiving', 'closed', 'cancelled')),
    mdm_key       varchar(200) UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE wms_pre_receipt_no_seq OWNED BY wms_pre_receipt.pre_no;

CREATE TABLE IF NOT EXISTS wms_pre_receipt_line (
    id             serial PRIMARY KEY,
    pre_receipt_id integer NOT NULL REFERENCES wms_pre_receipt(id) ON DELETE CASCADE,
    line_no        integer NOT NULL,                -- the PO's line number
    item_code      varchar(30) NOT NULL,
    quantity       numeric(14,3) NOT NULL,
    UNIQUE (pre_receipt_id, line_no)
);

CREATE SEQUENCE IF NOT EXISTS wms_receipt_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS wms_receipt (
    id          serial PRIMARY KEY,
    receipt_no  varchar(20) NOT NULL UNIQUE         -- e.g. GR00000001
                DEFAULT ('GR' || lpad(nextval('wms_receipt_no_seq')::text, 8, '0')),
    po_no       varchar(20) NOT NULL,
    pre_no      varchar(20),
    warehouse   varchar(20) NOT NULL DEFAULT 'WH01',
    status      varchar(20) NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'completed')),
    received_by varchar(60),
    received_at timestamptz,
    erp_doc_no  varchar(20),                        -- the ERP stock-in (RK…), written back
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE wms_receipt_no_seq OWNED BY wms_receipt.receipt_no;

CREATE TABLE IF NOT EXISTS wms_receipt_line (
    id            serial PRIMARY KEY,
    receipt_id    integer NOT NULL REFERENCES wms_receipt(id) ON DELETE CASCADE,
    line_no       integer NOT NULL,
    po_line_no    integer NOT NULL,
    item_code     varchar(30) NOT NULL,
    received_qty  numeric(14,3) NOT NULL,
    accepted_qty  numeric(14,3) NOT NULL,
    rejected_qty  numeric(14,3) NOT NULL DEFAULT 0,  -- nonconforming: returned to the supplier
    batch_no      varchar(30),
    reject_reason varchar(200),
    UNIQUE (receipt_id, line_no),
    CHECK (accepted_qty + rejected_qty = received_qty)
);
