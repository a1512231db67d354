-- Flow 7 in the demo ERP (run by mdm/demo/stock.py; the ERP's other tables are in erp.sql).
-- 库存 as the ERP sees it: the WMS's stock levels, per material and warehouse, as they
-- arrive over the message middleware (flow 7: mdm/demo/erp_stock_consumer.py reads queue
-- erp.stock.levels). (mdm_golden_id, mdm_version) is the hub's record and version of the
-- level: an older or redelivered message (message_id, the hub's idempotency key) never
-- overwrites a newer one. `active` false: the WMS no longer keeps the material there.
CREATE TABLE IF NOT EXISTS erp_stock (
    material_code varchar(30) NOT NULL,
    warehouse     varchar(20) NOT NULL,
    on_hand       numeric(14,3) NOT NULL,
    reserved      numeric(14,3) NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    mdm_golden_id bigint NOT NULL,                   -- the hub's record of the level
    mdm_version   integer NOT NULL,
    message_id    varchar(200) NOT NULL,
    updated_at    timestamp NOT NULL DEFAULT localtimestamp,
    PRIMARY KEY (material_code, warehouse)
);

-- The consumer's interface log (接口日志): every stock message it took, applied or not (a
-- redelivery, an older version), in the transaction that applied it.
CREATE TABLE IF NOT EXISTS erp_stock_receipt (
    id            bigserial PRIMARY KEY,
    message_id    varchar(200) NOT NULL,
    material_code varchar(30) NOT NULL,
    warehouse     varchar(20) NOT NULL,
    mdm_golden_id bigint NOT NULL,
    mdm_version   integer NOT NULL,
    applied       boolean NOT NULL,
    received_at   timestamp NOT NULL DEFAULT localtimestamp
);
