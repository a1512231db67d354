"""audit chain keyed with a secret outside the database

Each audit entry now names the decision row it records (`decision_id`), and the hub seals
entries in `audit_seal`: an HMAC-SHA256 chain computed in Python with a key the database never
sees (mdm/steward/audit_seal.py). The unkeyed sha256 of migration 0004 stays as a content hash;
`audit_keyed` remembers which entries were written before this migration.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

# Entries written before this migration get the decision they recorded: the n-th entry with a
# given content is the n-th decision with that content (the 0004 trigger wrote one entry per
# decision). The append-only trigger is switched off for this one UPDATE only.
BACKFILL = r"""
ALTER TABLE audit_log ADD COLUMN decision_id bigint;
ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
WITH e AS (
    SELECT seq, row_number() OVER (PARTITION BY k ORDER BY seq) AS n, k FROM (
        SELECT seq, concat_ws(E'\x1f', task_id, actor, action, coalesce(reason, ''),
                              coalesce(golden_id::text, ''), coalesce(version::text, ''),
                              coalesce(before::text, 'null'), coalesce(after::text, 'null')) AS k
        FROM audit_log WHERE task_id IS NOT NULL) x),
d AS (
    SELECT id, row_number() OVER (PARTITION BY k ORDER BY id) AS n, k FROM (
        SELECT id, concat_ws(E'\x1f', task_id, actor, action, coalesce(reason, ''),
                             coalesce(golden_id::text, ''), coalesce(version::text, ''),
                             coalesce(before::text, 'null'), coalesce(after::text, 'null')) AS k
        FROM decision) y)
UPDATE audit_log a SET decision_id = d.id FROM e JOIN d USING (k, n) WHERE a.seq = e.seq;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
CREATE UNIQUE INDEX audit_log_decision_ix ON audit_log (decision_id) WHERE decision_id IS NOT NULL;
"""

UPGRADE = r"""
CREATE TABLE audit_keyed (
    legacy_upto bigint NOT NULL,      -- entries 1..legacy_upto predate the keyed chain
    upgraded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO audit_keyed (legacy_upto) SELECT coalesce(max(seq), 0) FROM audit_log;

CREATE TABLE audit_seal (
    seq       bigint PRIMARY KEY,     -- the audit_log entry sealed
    mac       text NOT NULL,          -- HMAC-SHA256(key, entry ‖ previous mac), hex
    key_id    text NOT NULL,          -- which key (a fingerprint, never the key)
    sealed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON audit_seal
    FOR EACH ROW EXECUTE FUNCTION mdm_audit_refuse();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION mdm_audit_refuse();
CREATE TRIGGER audit_keyed_append_only BEFORE UPDATE OR DELETE ON audit_keyed
    FOR EACH ROW EXECUTE FUNCTION mdm_audit_refuse();

DROP TRIGGER decision_audited ON decision;
DROP FUNCTION mdm_decision_audited();
DROP FUNCTION mdm_audit_append(text, text, text, bigint, bigint, integer, text, jsonb, jsonb);

-- As in 0004, plus the decision recorded and a notification the hub's sealers listen to
-- (delivered at commit). One writer at a time, so entries are numbered in commit order.
CREATE FUNCTION mdm_audit_append(p_actor text, p_action text, p_subject text, p_task_id bigint,
                                 p_golden_id bigint, p_version integer, p_reason text,
                                 p_before jsonb, p_after jsonb, p_decision_id bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
    ts timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_advisory_xact_lock(7423001);
    SELECT seq, hash INTO last_seq, last_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0) + 1;
    last_hash := coalesce(last_hash, repeat('0', 64));
    INSERT INTO audit_log (seq, at, actor, action, subject, task_id, golden_id, version, reason,
                           before, after, prev_hash, hash, decision_id) VALUES (
        last_seq, ts, p_actor, p_action, p_subject, p_task_id, p_golden_id, p_version, p_reason,
        p_before, p_after, last_hash,
        encode(sha256(convert_to(mdm_audit_text(last_seq, ts, p_actor, p_action, p_subject,
               p_task_id, p_golden_id, p_version, p_reason, p_before, p_after, last_hash), 'UTF8')),
               'hex'), p_decision_id);
    PERFORM pg_notify('mdm_audit', last_seq::text);
    RETURN last_seq;
END $$;

CREATE FUNCTION mdm_decision_audited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mdm_audit_append(NEW.actor, NEW.action, 'task ' || NEW.task_id, NEW.task_id,
                             NEW.golden_id, NEW.version, NEW.reason, NEW.before, NEW.after, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER decision_audited AFTER INSERT ON decision
    FOR EACH ROW EXECUTE FUNCTION mdm_decision_audited();
"""

DOWNGRADE = r"""
DROP TRIGGER decision_audited ON decision;
DROP FUNCTION mdm_decision_audited();
DROP FUNCTION mdm_audit_append(text, text, text, bigint, bigint, integer, text, jsonb, jsonb, bigint);
CREATE FUNCTION mdm_audit_append(p_actor text, p_action text, p_subject text, p_task_id bigint,
                                 p_golden_id bigint, p_version integer, p_reason text,
                                 p_before jsonb, p_after jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
    ts timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_advisory_xact_lock(7423001);
    SELECT seq, hash INTO last_seq, last_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0) + 1;
    last_hash := coalesce(last_hash, repeat('0', 64));
    INSERT INTO audit_log VALUES (
        last_seq, ts, p_actor, p_action, p_subject, p_task_id, p_golden_id, p_version, p_reason,
        p_before, p_after, last_hash,
        encode(sha256(convert_to(mdm_audit_text(last_seq, ts, p_actor, p_action, p_subject,
               p_task_id, p_golden_id, p_version, p_reason, p_before, p_after, last_hash), 'UTF8')),
               'hex'));
    RETURN last_seq;
END $$;
CREATE FUNCTION mdm_decision_audited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mdm_audit_append(NEW.actor, NEW.action, 'task ' || NEW.task_id, NEW.task_id,
                             NEW.golden_id, NEW.version, NEW.reason, NEW.before, NEW.after);
    RETURN NEW;
END $$;
CREATE TRIGGER decision_audited AFTER INSERT ON decision
    FOR EACH ROW EXECUTE FUNCTION mdm_decision_audited();
DROP TABLE audit_seal;
DROP TABLE audit_keyed;
DROP INDEX audit_log_decision_ix;
ALTER TABLE audit_log DROP COLUMN decision_id;
"""


def upgrade() -> None:
    op.execute(BACKFILL)
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
