-- Flow 7 in the demo WMS (run after wms.sql by mdm/demo/stock.py).
-- 库存 (stock levels): the WMS's own data, its system of record (golden_records/stock_level.yaml,
-- `source: wms`), one row per material and warehouse (原料仓 WH01, 成品仓 WH02, 备件仓 WH03).
-- Batches (flow 3's FIFO picking) will be a table of their own under this level.
-- stock_key, e.g. 'M-1002@WH01', is the level's business key, kept by the WMS's trigger so a
-- hand edit of item_code or warehouse keeps it true.
CREATE TABLE IF NOT EXISTS wms_warehouse (
    code varchar(20) PRIMARY KEY,
    name varchar(60) NOT NULL
);

CREATE TABLE IF NOT EXISTS wms_stock (
    id          serial PRIMARY KEY,
    stock_key   varchar(60) NOT NULL UNIQUE,
    item_code   varchar(30) NOT NULL,
    warehouse   varchar(20) NOT NULL REFERENCES wms_warehouse(code),
    on_hand     numeric(14,3) NOT NULL DEFAULT 0,
    reserved    numeric(14,3) NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_code, warehouse)
);

CREATE OR REPLACE FUNCTION wms_stock_keep_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.stock_key := NEW.item_code || '@' || NEW.warehouse;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'wms_stock_keep_key') THEN
        CREATE TRIGGER wms_stock_keep_key BEFORE INSERT OR UPDATE ON wms_stock
            FOR EACH ROW EXECUTE FUNCTION wms_stock_keep_key();
    END IF;
END $$;

INSERT INTO wms_warehouse (code, name) VALUES
    ('WH01', '原料仓'), ('WH02', '成品仓'), ('WH03', '备件仓')
ON CONFLICT (code) DO NOTHING;
