"""audit log: an append-only, hash-chained ledger of every decision

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# The text each entry's hash covers; mdm/steward/audit.py rebuilds it to verify the chain.
UPGRADE = r"""
CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    subject   text,
    task_id   bigint,
    golden_id bigint,
    version   integer,
    reason    text,
    before    jsonb,
    after     jsonb,
    prev_hash text NOT NULL,
    hash      text NOT NULL
);

CREATE FUNCTION mdm_audit_text(seq bigint, at timestamptz, actor text, action text, subject text,
                               task_id bigint, golden_id bigint, version integer, reason text,
                               before jsonb, after jsonb, prev_hash text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT concat_ws(E'\x1f', seq::text,
                     to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                     actor, action, coalesce(subject, ''), coalesce(task_id::text, ''),
                     coalesce(golden_id::text, ''), coalesce(version::text, ''),
                     coalesce(reason, ''), coalesce(before::text, 'null'),
                     coalesce(after::text, 'null'), prev_hash)
$$;

-- Appends one entry: the next sequence number, chained to the previous entry's hash. One
-- writer at a time (a transaction-scoped advisory lock), so the chain never forks.
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

CREATE FUNCTION mdm_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING HINT = 'entries are only ever added (mdm_audit_append); mdm audit verify checks the chain';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION mdm_audit_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mdm_audit_refuse();

-- Every decision — a steward's, an admin's, or the system closing a task — is an entry.
CREATE FUNCTION mdm_decision_audited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mdm_audit_append(NEW.actor, NEW.action, 'task ' || NEW.task_id, NEW.task_id,
                             NEW.golden_id, NEW.version, NEW.reason, NEW.before, NEW.after);
    RETURN NEW;
END $$;
CREATE TRIGGER decision_audited AFTER INSERT ON decision
    FOR EACH ROW EXECUTE FUNCTION mdm_decision_audited();

SELECT mdm_audit_append(actor, action, 'task ' || task_id, task_id, golden_id, version, reason,
                        before, after)
FROM (SELECT * FROM decision ORDER BY id) d;
"""

DOWNGRADE = """
DROP TRIGGER decision_audited ON decision;
DROP FUNCTION mdm_decision_audited();
DROP TABLE audit_log;
DROP FUNCTION mdm_audit_refuse();
DROP FUNCTION mdm_audit_append(text, text, text, bigint, bigint, integer, text, jsonb, jsonb);
DROP FUNCTION mdm_audit_text(bigint, timestamptz, text, text, text, bigint, bigint, integer, text,
                             jsonb, jsonb, text);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
