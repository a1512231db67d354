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
