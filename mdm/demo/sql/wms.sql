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

