-- The demo OA's and WMS's REST bookkeeping, the same in both databases.
-- Responses of PUTs carrying an Idempotency-Key, written in the same transaction as the row.
CREATE TABLE IF NOT EXISTS api_idempotency (
    key         text PRIMARY KEY,
    collection  text,
    record_key  text,
    response    jsonb NOT NULL,
    created_at  timestamptz DEFAULT now()
);

-- Every accepted PUT, in arrival order, replays included: what the system saw (fault figures).
CREATE TABLE IF NOT EXISTS api_receipt (
    id              bigserial PRIMARY KEY,
    collection      text NOT NULL,
    record_key      text NOT NULL,
    version         integer,
    idempotency_key text,
    replay          boolean NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
