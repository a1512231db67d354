-- The demo ERP: tables shaped like a 用友/金蝶 ERP's master data.
-- Surrogate integer ids beside business codes, `active` flags instead of deletes,
-- audit columns the hub ignores, decimals, dates, timestamps with and without time zone.

CREATE TABLE IF NOT EXISTS department (
    id          serial PRIMARY KEY,
    code        varchar(20) NOT NULL UNIQUE,         -- e.g. D01, D0101
    name        varchar(100) NOT NULL,
    parent_id   integer REFERENCES department(id),
    manager_code varchar(20),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamp NOT NULL DEFAULT localtimestamp,
    updated_at  timestamp NOT NULL DEFAULT localtimestamp,
    created_by  varchar(40) NOT NULL DEFAULT 'admin'
);

CREATE TABLE IF NOT EXISTS employee (
    id            serial PRIMARY KEY,
    code          varchar(20) NOT NULL UNIQUE,       -- e.g. E0042
    name          varchar(60) NOT NULL,
    gender        char(1),
    department_id integer REFERENCES department(id),
    title         varchar(60),
    mobile        varchar(20),
    email         varchar(120),
    hire_date     date,
    monthly_salary numeric(12,2),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamp NOT NULL DEFAULT localtimestamp,
    updated_at    timestamp NOT NULL DEFAULT localtimestamp,
    created_by    varchar(40) NOT NULL DEFAULT 'admin'
);

CREATE TABLE IF NOT EXISTS supplier (
    id             serial PRIMARY KEY,
    code           varchar(20) NOT NULL UNIQUE,      -- e.g. S0001
    name           varchar(200) NOT NULL,
    short_name     varchar(60),
    category       varchar(40),
    contact_person varchar(60),
    phone          varchar(30),
    address        varchar(300),
    credit_limit   numeric(14,2),
    payment_terms_days integer,
    established_on date,
    last_audit_at  timestamptz,
    remark         text,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamp NOT NULL DEFAULT localtimestamp,
    updated_at     timestamp NOT NULL DEFAULT localtimestamp,
    created_by     varchar(40) NOT NULL DEFAULT 'admin'
);

CREATE TABLE IF NOT EXISTS supplier_bank_account (
    id           serial PRIMARY KEY,
    supplier_id  integer NOT NULL REFERENCES supplier(id) ON DELETE CASCADE,
    bank_name    varchar(120) NOT NULL,
    account_name varchar(200) NOT NULL,
    account_no   varchar(40) NOT NULL,
    is_default   boolean NOT NULL DEFAULT false,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamp NOT NULL DEFAULT localtimestamp
);

CREATE TABLE IF NOT EXISTS supplier_tax_identifier (
    id          serial PRIMARY KEY,
    supplier_id integer NOT NULL REFERENCES supplier(id) ON DELETE CASCADE,
    id_type     varchar(20) NOT NULL,                -- USCC (统一社会信用代码), VAT
    id_value    varchar(40) NOT NULL,
    valid_from  date,
    created_at  timestamp NOT NULL DEFAULT localtimestamp
);

CREATE TABLE IF NOT EXISTS customer (
    id           serial PRIMARY KEY,
    code         varchar(20) NOT NULL UNIQUE,        -- e.g. C0001
    name         varchar(200) NOT NULL,
    region       varchar(40),
    credit_limit numeric(14,2),
    tax_id       varchar(30),
    contact_person varchar(60),
    phone        varchar(30),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamp NOT NULL DEFAULT localtimestamp,
    updated_at   timestamp NOT NULL DEFAULT localtimestamp,
    created_by   varchar(40) NOT NULL DEFAULT 'admin'
);

CREATE TABLE IF NOT EXISTS material (
    id                  serial PRIMARY KEY,
    code                varchar(30) NOT NULL UNIQUE, -- e.g. M-1002
    name                varchar(200) NOT NULL,
    spec                varchar(200),                -- 规格型号
    category            varchar(60),
    uom                 varchar(10) NOT NULL,        -- 计量单位: 个, 件, 千克, 米, 箱 …
    standard_price      numeric(14,4),
    weight_kg           numeric(12,3),
    default_supplier_code varchar(20),
    default_supplier_id integer REFERENCES supplier(id) ON DELETE SET NULL,  -- the same, by id
    shelf_life_days     integer,
    effective_from      date,
    description         text,                        -- long text: TOAST-able
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamp NOT NULL DEFAULT localtimestamp,
    updated_at          timestamp NOT NULL DEFAULT localtimestamp,
    created_by          varchar(40) NOT NULL DEFAULT 'admin'
);

-- Demo databases made before default_supplier_id existed get it, filled from the code.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'material' AND column_name = 'default_supplier_id') THEN
        ALTER TABLE material ADD COLUMN default_supplier_id integer
            REFERENCES supplier(id) ON DELETE SET NULL;
        UPDATE material m SET default_supplier_id = s.id FROM supplier s
        WHERE s.code = m.default_supplier_code;
    END IF;
END $$;

-- Purchasing documents. The hub creates purchase orders through the ERP's REST API
-- (mdm/demo/erp_api.py: POST /api/purchase-orders), never by writing these tables itself;
-- mdm_key is the creating call's Idempotency-Key, so a retried call finds its order.
CREATE SEQUENCE IF NOT EXISTS purchase_order_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS purchase_order (
    id           serial PRIMARY KEY,
    po_no        varchar(20) NOT NULL UNIQUE       -- e.g. 4500000001: '45' and 8 digits
                 DEFAULT ('45' || lpad(nextval('purchase_order_no_seq')::text, 8, '0')),
    supplier_id  integer NOT NULL REFERENCES supplier(id),
    request_no   varchar(30),                      -- the OA purchase request it came from
    status       varchar(20) NOT NULL DEFAULT 'created'
                 CHECK (status IN ('created', 'released', 'partial', 'done', 'cancelled')),
    order_date   date NOT NULL DEFAULT current_date,
    currency     char(3) NOT NULL DEFAULT 'CNY',
    total_amount numeric(16,2) NOT NULL DEFAULT 0,
    buyer        varchar(60),
    approved_by  varchar(60),
    remark       text,
    mdm_key      varchar(200) UNIQUE,
    created_at   timestamp NOT NULL DEFAULT localtimestamp,
    updated_at   timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE purchase_order_no_seq OWNED BY purchase_order.po_no;
-- when the goods are expected: the earliest needed_by of the lines (the WMS's pre-receipt date)
ALTER TABLE purchase_order ADD COLUMN IF NOT EXISTS expected_date date;

CREATE TABLE IF NOT EXISTS purchase_order_line (
    id           serial PRIMARY KEY,
    po_id        integer NOT NULL REFERENCES purchase_order(id) ON DELETE CASCADE,
    line_no      integer NOT NULL,
    material_id  integer NOT NULL REFERENCES material(id),
    quantity     numeric(14,3) NOT NULL CHECK (quantity > 0),
    unit_price   numeric(14,4) NOT NULL,
    amount       numeric(16,2) NOT NULL,           -- round(quantity × unit_price, 2)
    received_qty numeric(14,3) NOT NULL DEFAULT 0,
    needed_by    date,
    UNIQUE (po_id, line_no)
);

-- 会计期间: a closed month takes no new documents. A month without a row is open.
CREATE TABLE IF NOT EXISTS accounting_period (
    period char(7) PRIMARY KEY,                    -- e.g. 2026-12
    closed boolean NOT NULL DEFAULT false
);

-- Receiving (issue 13, flow 2): the WMS's completed receipt becomes a stock-in (入库单, RK…) for
-- the accepted quantities on the PO's lines, its nonconforming lines a purchase return (退货单,
-- TH…). Both are made by the hub through the ERP's REST API (mdm/demo/erp_receipts.py), mdm_key
-- being the call's Idempotency-Key. `stock` is the ERP's on-hand quantity per material and
-- warehouse, moved by stock-ins (flow 7's erp_stock is the WMS's levels as the ERP sees them).
ALTER TABLE purchase_order_line ADD COLUMN IF NOT EXISTS returned_qty numeric(14,3) NOT NULL
    DEFAULT 0;

CREATE SEQUENCE IF NOT EXISTS stock_in_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS stock_in (
    id         serial PRIMARY KEY,
    doc_no     varchar(20) NOT NULL UNIQUE          -- e.g. RK00000001
               DEFAULT ('RK' || lpad(nextval('stock_in_no_seq')::text, 8, '0')),
    po_id      integer NOT NULL REFERENCES purchase_order(id),
    receipt_no varchar(20),                         -- the WMS receipt (GR…)
    warehouse  varchar(20) NOT NULL,
    mdm_key    varchar(200) UNIQUE,
    posted_at  timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE stock_in_no_seq OWNED BY stock_in.doc_no;

CREATE TABLE IF NOT EXISTS stock_in_line (
    id          serial PRIMARY KEY,
    stock_in_id integer NOT NULL REFERENCES stock_in(id) ON DELETE CASCADE,
    line_no     integer NOT NULL,
    po_line_id  integer NOT NULL REFERENCES purchase_order_line(id),
    material_id integer NOT NULL REFERENCES material(id),
    quantity    numeric(14,3) NOT NULL CHECK (quantity > 0),
    batch_no    varchar(30),
    UNIQUE (stock_in_id, line_no)
);

CREATE TABLE IF NOT EXISTS stock (
    material_id integer REFERENCES material(id),
    warehouse   varchar(20),
    on_hand     numeric(14,3) NOT NULL DEFAULT 0,
    PRIMARY KEY (material_id, warehouse)
);

CREATE SEQUENCE IF NOT EXISTS purchase_return_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS purchase_return (
    id         serial PRIMARY KEY,
    doc_no     varchar(20) NOT NULL UNIQUE          -- e.g. TH00000001
               DEFAULT ('TH' || lpad(nextval('purchase_return_no_seq')::text, 8, '0')),
    po_id      integer NOT NULL REFERENCES purchase_order(id),
    receipt_no varchar(20),
    status     varchar(20) NOT NULL DEFAULT 'created',
    mdm_key    varchar(200) UNIQUE,
    created_at timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE purchase_return_no_seq OWNED BY purchase_return.doc_no;

CREATE TABLE IF NOT EXISTS purchase_return_line (
    id          serial PRIMARY KEY,
    return_id   integer NOT NULL REFERENCES purchase_return(id) ON DELETE CASCADE,
    line_no     integer NOT NULL,
    po_line_id  integer NOT NULL REFERENCES purchase_order_line(id),
    material_id integer NOT NULL REFERENCES material(id),
    quantity    numeric(14,3) NOT NULL CHECK (quantity > 0),
    reason      varchar(200),
    UNIQUE (return_id, line_no)
);

-- Finance (issue 13, flows 5 and 6; mdm/demo/erp_finance.py). 会计科目: the chart the demo's
-- vouchers use. 总账凭证接口表: the hub writes approved OA expense claims straight into
-- gl_voucher_interface/_line (数据库直连, targets/erp_db.yaml, mdm_key = the command's key);
-- the ERP's posting job (POST /api/vouchers/post-interface, mdm demo erp post-vouchers) turns
-- pending rows into posted vouchers (gl_voucher, 记-YYYY-MM-NNNN: 借 each line's expense
-- account, 贷 2211 应付职工薪酬). 应付单 payable: made by the ERP itself inside a stock-in's
-- transaction (Σ quantity × PO price, due by the supplier's payment_terms_days). erp_payment:
-- the ERP's payments, of a payable (POST /api/payments, made by the hub from an approved OA
-- payment request) or of a voucher (an expense claim paid to its claimant).
CREATE TABLE IF NOT EXISTS account (
    code varchar(20) PRIMARY KEY,
    name varchar(60) NOT NULL
);
INSERT INTO account (code, name) VALUES
    ('1002', '银行存款'), ('2202', '应付账款'), ('2211', '应付职工薪酬'),
    ('6602.01', '管理费用-差旅费'), ('6602.02', '管理费用-办公费'),
    ('6602.03', '管理费用-业务招待费'), ('6602.04', '管理费用-通讯费')
ON CONFLICT (code) DO NOTHING;

CREATE TABLE IF NOT EXISTS gl_voucher_interface (
    id             serial PRIMARY KEY,
    mdm_key        varchar(200) UNIQUE,              -- the hub's command key
    claim_no       varchar(30) NOT NULL,             -- the OA expense claim (BX-…)
    summary        varchar(200),
    claimant       varchar(20),
    dept_code      varchar(20),
    credit_account varchar(20) NOT NULL,
    amount         numeric(16,2) NOT NULL,
    status         varchar(20) NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'posted', 'failed')),
    voucher_no     varchar(30),
    error          text,
    created_at     timestamp NOT NULL DEFAULT localtimestamp
);

CREATE TABLE IF NOT EXISTS gl_voucher_interface_line (
    id            serial PRIMARY KEY,
    interface_id  integer NOT NULL REFERENCES gl_voucher_interface(id) ON DELETE CASCADE,
    line_no       integer NOT NULL,
    debit_account varchar(20) NOT NULL,
    amount        numeric(16,2) NOT NULL,
    invoice_no    varchar(40),
    summary       varchar(200)
);

CREATE SEQUENCE IF NOT EXISTS gl_voucher_no_seq MINVALUE 1 MAXVALUE 9999 CYCLE;

CREATE TABLE IF NOT EXISTS gl_voucher (
    id           serial PRIMARY KEY,
    voucher_no   varchar(30) NOT NULL UNIQUE          -- e.g. 记-2026-12-0001
                 DEFAULT ('记-' || to_char(current_date, 'YYYY-MM') || '-'
                          || lpad(nextval('gl_voucher_no_seq')::text, 4, '0')),
    period       char(7) NOT NULL DEFAULT to_char(current_date, 'YYYY-MM'),
    voucher_date date NOT NULL DEFAULT current_date,
    claim_no     varchar(30),
    interface_id integer UNIQUE REFERENCES gl_voucher_interface(id),
    summary      varchar(200),
    amount       numeric(16,2) NOT NULL,
    status       varchar(20) NOT NULL DEFAULT 'posted' CHECK (status IN ('posted', 'paid')),
    paid_amount  numeric(16,2),
    paid_at      timestamp,
    bank_ref     varchar(40),
    posted_at    timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE gl_voucher_no_seq OWNED BY gl_voucher.voucher_no;

CREATE TABLE IF NOT EXISTS gl_voucher_line (
    id           serial PRIMARY KEY,
    voucher_id   integer NOT NULL REFERENCES gl_voucher(id) ON DELETE CASCADE,
    line_no      integer NOT NULL,
    account_code varchar(20) NOT NULL REFERENCES account(code),
    summary      varchar(200),
    debit        numeric(16,2) NOT NULL DEFAULT 0,
    credit       numeric(16,2) NOT NULL DEFAULT 0,
    UNIQUE (voucher_id, line_no)
);

CREATE SEQUENCE IF NOT EXISTS payable_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS payable (
    id          serial PRIMARY KEY,
    payable_no  varchar(20) NOT NULL UNIQUE           -- e.g. AP00000001
                DEFAULT ('AP' || lpad(nextval('payable_no_seq')::text, 8, '0')),
    supplier_id integer NOT NULL REFERENCES supplier(id),
    po_id       integer NOT NULL REFERENCES purchase_order(id),
    po_no       varchar(20) NOT NULL,
    stock_in_id integer NOT NULL UNIQUE REFERENCES stock_in(id),
    stock_in_no varchar(20) NOT NULL,
    amount      numeric(16,2) NOT NULL,
    currency    char(3) NOT NULL DEFAULT 'CNY',
    due_date    date NOT NULL,
    status      varchar(20) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    paid_amount numeric(16,2) NOT NULL DEFAULT 0,
    paid_at     timestamp,
    created_at  timestamp NOT NULL DEFAULT localtimestamp
);
ALTER SEQUENCE payable_no_seq OWNED BY payable.payable_no;

CREATE SEQUENCE IF NOT EXISTS erp_payment_no_seq MINVALUE 1 MAXVALUE 99999999;

CREATE TABLE IF NOT EXISTS erp_payment (
    id          serial PRIMARY KEY,
    payment_no  varchar(20) NOT NULL UNIQUE           -- e.g. FK00000001
                DEFAULT ('FK' || lpad(nextval('erp_payment_no_seq')::text, 8, '0')),
    payable_id  integer REFERENCES payable(id),
    payable_no  varchar(20),
    voucher_id  integer REFERENCES gl_voucher(id),
    voucher_no  varchar(30),
    request_no  varchar(30),                          -- the OA payment request (PAY-…)
    payee       varchar(200),
    amount      numeric(16,2) NOT NULL CHECK (amount > 0),
    status      varchar(20) NOT NULL DEFAULT 'paid',
    paid_at     timestamp NOT NULL DEFAULT localtimestamp,
    bank_ref    varchar(40) NOT NULL,
    approved_by varchar(60),
    mdm_key     varchar(200) UNIQUE,
    CHECK (num_nonnulls(payable_id, voucher_id) = 1)
);
ALTER SEQUENCE erp_payment_no_seq OWNED BY erp_payment.payment_no;

-- A 金蝶云星空-style WebAPI (mdm/demo/erp_k3.py): a bill is saved, submitted, then audited,
-- three calls; the hub's command of several steps makes one bill however often it resumes.
CREATE SEQUENCE IF NOT EXISTS k3_bill_no_seq;
CREATE TABLE IF NOT EXISTS k3_bill (
    id          serial PRIMARY KEY,
    number      varchar(20) NOT NULL UNIQUE DEFAULT ('CGSQ' || lpad(nextval('k3_bill_no_seq')::text, 6, '0')),
    form_id     varchar(40) NOT NULL,
    status      varchar(10) NOT NULL DEFAULT 'saved' CHECK (status IN ('saved', 'submitted', 'audited')),
    model       jsonb NOT NULL,
    mdm_key     varchar(200) UNIQUE,
    created_at  timestamp NOT NULL DEFAULT localtimestamp,
    updated_at  timestamp NOT NULL DEFAULT localtimestamp
);
