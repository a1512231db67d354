-- The demo OA (协同办公) database: its own tables, fed by the hub over REST.
-- `id` is the OA's own surrogate key; the business code is the upsert key.
-- `mdm_version` records the golden-record version last written by the hub.

CREATE TABLE IF NOT EXISTS oa_vendor (
    id                 serial PRIMARY KEY,
    vendor_code        varchar(20) NOT NULL UNIQUE,
    vendor_name        varchar(200) NOT NULL,
    short_name         varchar(60),
    contact            varchar(60),
    phone              varchar(30),
    address            varchar(300),
    credit_limit       numeric(14,2),
    payment_terms_days integer,
    established_on     date,
    last_audit_at      timestamptz,
    remark             text,
    bank_accounts      jsonb,
    tax_ids            jsonb,
    enabled            boolean NOT NULL DEFAULT true,
    mdm_version        integer,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS oa_staff (
    id          serial PRIMARY KEY,
    staff_no    varchar(20) NOT NULL UNIQUE,
    staff_name  varchar(60) NOT NULL,
    gender      char(1),
    dept_code   varchar(20),
    title       varchar(60),
    mobile      varchar(20),
    email       varchar(120),
    hire_date   date,
    enabled     boolean NOT NULL DEFAULT true,
    mdm_version integer,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS oa_dept (
    id           serial PRIMARY KEY,
    dept_code    varchar(20) NOT NULL UNIQUE,
    dept_name    varchar(100) NOT NULL,
    parent_code  varchar(20),
    manager_code varchar(20),
    enabled      boolean NOT NULL DEFAULT true,
    mdm_version  integer,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS oa_customer (
    id            serial PRIMARY KEY,
    customer_code varchar(20) NOT NULL UNIQUE,
    customer_name varchar(200) NOT NULL,
    region        varchar(40),
    credit_limit  numeric(14,2),
    tax_id        varchar(30),
    enabled       boolean NOT NULL DEFAULT true,
    mdm_version   integer,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS oa_material (
    id             serial PRIMARY KEY,
    material_code  varchar(30) NOT NULL UNIQUE,
    material_name  varchar(200) NOT NULL,
    spec           varchar(200),
    uom            varchar(10),
    standard_price numeric(14,4),
    category       varchar(60),
    wms_status     varchar(20),   -- the warehouse's status, carried over by the hub
    enabled        boolean NOT NULL DEFAULT true,
    mdm_version    integer,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE oa_material ADD COLUMN IF NOT EXISTS wms_status varchar(20);  -- demo state of older releases


-- Staff basics that OA's HR module reads, written by the hub straight into this database
-- (targets/oa_db.yaml, kind sql: the seed's 数据库直连), not through OA's API.
CREATE TABLE IF NOT EXISTS oa_hr_employee (
    emp_id      serial PRIMARY KEY,
    emp_no      varchar(20) NOT NULL UNIQUE,
    emp_name    varchar(60) NOT NULL,
    dept_id     integer,
    hire_date   date,
    on_job      boolean NOT NULL DEFAULT true,
    mdm_version integer,
    synced_at   timestamptz NOT NULL DEFAULT now()
);


-- Purchase requests (采购申请): born in OA, approved in its workflow (draft → submitted →
-- approved | rejected, mdm/demo/oa_requests.py). OA is their system of record; the hub turns an
-- approved one into an ERP purchase order and writes the order's number and status back
-- (PATCH /api/purchase-requests/{request_no}: po_no, po_status).
CREATE SEQUENCE IF NOT EXISTS oa_purchase_request_no_seq MINVALUE 1 MAXVALUE 9999 CYCLE;

CREATE TABLE IF NOT EXISTS oa_purchase_request (
    id               serial PRIMARY KEY,
    request_no       varchar(30) NOT NULL UNIQUE    -- e.g. PR-20261202-0001
                     DEFAULT ('PR-' || to_char(current_date, 'YYYYMMDD') || '-'
                              || lpad(nextval('oa_purchase_request_no_seq')::text, 4, '0')),
    title            varchar(200) NOT NULL,
    requester        varchar(20),
    dept_code        varchar(20),
    vendor_code      varchar(20),
    status           varchar(20) NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    submitted_at     timestamptz,
    approver         varchar(60),
    approved_at      timestamptz,
    approval_comment text,
    po_no            varchar(20),                   -- written back by the hub
    po_status        varchar(40),                   -- written back by the hub
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE oa_purchase_request_no_seq OWNED BY oa_purchase_request.request_no;

CREATE TABLE IF NOT EXISTS oa_purchase_request_line (
    id            serial PRIMARY KEY,
    request_id    integer NOT NULL REFERENCES oa_purchase_request(id) ON DELETE CASCADE,
    line_no       integer NOT NULL,
    material_code varchar(30) NOT NULL,
    quantity      numeric(14,3) NOT NULL,
    unit_price    numeric(14,4) NOT NULL,
    needed_by     date,
    UNIQUE (request_id, line_no)
);


-- Expense claims (费用报销, flow 5): born in OA, approved in its workflow like purchase requests
-- (mdm/demo/oa_finance.py). The approval sets erp_status 已审批; the hub writes the ERP
-- voucher's number and states back (PATCH /api/expense-claims/{claim_no}: voucher_no,
-- erp_status 已记账/已付款, paid_amount, paid_at, bank_ref). Invoice OCR and tax checks stay in OA.
CREATE SEQUENCE IF NOT EXISTS oa_expense_claim_no_seq MINVALUE 1 MAXVALUE 9999 CYCLE;

CREATE TABLE IF NOT EXISTS oa_expense_claim (
    id               serial PRIMARY KEY,
    claim_no         varchar(30) NOT NULL UNIQUE    -- e.g. BX-20261202-0001
                     DEFAULT ('BX-' || to_char(current_date, 'YYYYMMDD') || '-'
                              || lpad(nextval('oa_expense_claim_no_seq')::text, 4, '0')),
    title            varchar(200) NOT NULL,
    claimant         varchar(20) NOT NULL,          -- staff number
    dept_code        varchar(20),
    total_amount     numeric(16,2) NOT NULL,
    status           varchar(20) NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    submitted_at     timestamptz,
    approver         varchar(60),
    approved_at      timestamptz,
    approval_comment text,
    erp_status       varchar(20),                   -- 已审批, then 已记账 / 已付款 (the hub)
    voucher_no       varchar(30),                   -- written back by the hub
    paid_amount      numeric(16,2),
    paid_at          timestamp,
    bank_ref         varchar(40),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE oa_expense_claim_no_seq OWNED BY oa_expense_claim.claim_no;

CREATE TABLE IF NOT EXISTS oa_expense_claim_line (
    id           serial PRIMARY KEY,
    claim_id     integer NOT NULL REFERENCES oa_expense_claim(id) ON DELETE CASCADE,
    line_no      integer NOT NULL,
    expense_type varchar(20) NOT NULL,              -- 差旅费, 办公费, 业务招待费 …
    amount       numeric(16,2) NOT NULL CHECK (amount > 0),
    invoice_no   varchar(40),
    description  varchar(200),
    UNIQUE (claim_id, line_no)
);


-- Payment requests (付款申请, flow 6): pushed by the hub from an open ERP payable (POST
-- /api/payment-requests with an Idempotency-Key, kept as mdm_key), arriving submitted for
-- approval; approve / reject like purchase requests. The hub writes the ERP payment back
-- (PATCH: payment_no, pay_status 已付款, paid_at, bank_ref).
CREATE SEQUENCE IF NOT EXISTS oa_payment_request_no_seq MINVALUE 1 MAXVALUE 9999 CYCLE;

CREATE TABLE IF NOT EXISTS oa_payment_request (
    id               serial PRIMARY KEY,
    request_no       varchar(30) NOT NULL UNIQUE    -- e.g. PAY-20261202-0001
                     DEFAULT ('PAY-' || to_char(current_date, 'YYYYMMDD') || '-'
                              || lpad(nextval('oa_payment_request_no_seq')::text, 4, '0')),
    title            varchar(200) NOT NULL,
    payable_no       varchar(20) NOT NULL,
    po_no            varchar(20),
    stock_in_no      varchar(20),
    supplier_code    varchar(20) NOT NULL,
    amount           numeric(16,2) NOT NULL,
    due_date         date,
    status           varchar(20) NOT NULL DEFAULT 'submitted'
                     CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    submitted_at     timestamptz DEFAULT now(),
    approver         varchar(60),
    approved_at      timestamptz,
    approval_comment text,
    payment_no       varchar(20),                   -- written back by the hub
    pay_status       varchar(20),
    paid_at          timestamp,
    bank_ref         varchar(40),
    mdm_key          varchar(200) UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE oa_payment_request_no_seq OWNED BY oa_payment_request.request_no;
