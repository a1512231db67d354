"""The hub's tables (SQLAlchemy Core). Alembic migrations in store/migrations create them.

inbox → source_row (mirror of captured rows) → golden_record / golden_version / xref → delivery;
then the steward's side (rule results, tasks, decisions, the audit chain) and the API's users.
tests/integration/test_schema_metadata.py keeps this file equal to the migrated schema.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

# Every captured change event, appended by capture; processing marks it done or failed.
inbox = Table(
    "inbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("position", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("row_key", Text, nullable=False),
    Column("op", Text, nullable=False),
    Column("tx_id", BigInteger),
    Column("lsn", BigInteger),
    Column("commit_ts", DateTime(timezone=True)),
    Column("is_snapshot", Boolean, nullable=False, server_default=text("false")),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("raw", Text),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("error", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("processed_at", DateTime(timezone=True)),
    UniqueConstraint("source", "position", "table_name", "row_key", name="inbox_event_uq"),
)
Index("inbox_pending_ix", inbox.c.id, postgresql_where=text("status = 'pending'"))
Index("inbox_failed_ix", inbox.c.id, postgresql_where=text("status = 'failed'"))

# Transactions whose END record capture has seen: processing takes only complete ones.
source_tx = Table(
    "source_tx",
    metadata,
    Column("source", Text, nullable=False),
    Column("tx_id", BigInteger, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "tx_id"),
)

# The hub's mirror of each captured row, with the position of the event that last wrote it.
source_row = Table(
    "source_row",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("row_key", Text, nullable=False),
    Column("parent_key", Text),
    Column("data", JSONB, nullable=False),
    Column("position", Text, nullable=False),
    Column("is_deleted", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("source", "table_name", "row_key"),
)
Index("source_row_parent_ix", source_row.c.source, source_row.c.table_name, source_row.c.parent_key)

golden_record = Table(
    "golden_record",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("entity", Text, nullable=False),
    Column("source_key", Text, nullable=False),
    Column("business_key", Text),  # NULL: a draft, no key yet (0014)
    Column("attributes", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    UniqueConstraint("entity", "source_key", name="golden_record_source_uq"),
)
Index("golden_record_business_key_ix", golden_record.c.entity, golden_record.c.business_key)

# Immutable history: one row per version, with its validity interval and its cause.
golden_version = Table(
    "golden_version",
    metadata,
    Column("golden_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("entity", Text, nullable=False),
    Column("business_key", Text),  # NULL: a draft, no key yet (0014)
    Column("attributes", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("cause_kind", Text, nullable=False),
    Column("cause_source", Text),
    Column("cause_table", Text),
    Column("cause_row_key", Text),
    Column("cause_op", Text),
    Column("cause_lsn", BigInteger),
    Column("cause_tx_id", BigInteger),
    Column("cause_commit_ts", DateTime(timezone=True)),
    Column("cause_inbox_id", BigInteger),
    Column("cause_task_id", BigInteger),  # a steward decision's task (cause_kind = decision)
    Column("cause_actor", Text),
    # ok | warning | quarantined (an error rule failed: not propagated) | approved (released)
    Column("quality", Text, nullable=False, server_default=text("'ok'")),
    Column("checks", JSONB),  # names of the rules this version passed
    PrimaryKeyConstraint("golden_id", "version"),
)
Index("golden_version_tx_ix", golden_version.c.cause_source, golden_version.c.cause_tx_id)
Index("golden_version_valid_ix", golden_version.c.golden_id, golden_version.c.valid_from)

xref = Table(
    "xref",
    metadata,
    Column("golden_id", BigInteger, nullable=False),
    Column("system", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("golden_id", "system"),
)
Index("xref_system_key_ix", xref.c.system, xref.c.key)

# The outbox: one delivery per (version, target).
delivery = Table(
    "delivery",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("golden_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("entity", Text, nullable=False),
    Column("business_key", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("payload", JSONB),  # what was sent; written when the push is made
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", SmallInteger, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("last_error", Text),
    Column("response_status", SmallInteger),
    Column("target_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("sent_at", DateTime(timezone=True)),
    Column("acked_at", DateTime(timezone=True)),
    # What it waits for (0013): referenced records (golden id, target, least version) that
    # must be acknowledged at those targets before it is claimed.
    Column("requires_id", ARRAY(BigInteger)),
    Column("requires_at", ARRAY(Text)),
    Column("requires_version", ARRAY(Integer)),
)
Index("delivery_open_ix", delivery.c.target, delivery.c.next_attempt_at,
      postgresql_where=text("status IN ('pending', 'failed')"))
Index("delivery_record_ix", delivery.c.golden_id, delivery.c.target, delivery.c.version)

# Versions held on an unknown reference (0013): per record, each reference of its current
# version (quality 'held') that points at a record the hub does not know yet.
reference_hold = Table(
    "reference_hold",
    metadata,
    Column("golden_id", BigInteger, nullable=False),
    Column("attribute", Text, nullable=False),  # list.attribute for a child list's
    Column("referenced_entity", Text, nullable=False),
    Column("referenced_key", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("entity", Text, nullable=False),
    Column("business_key", Text),  # NULL: a draft, no key yet (0014)
    Column("system", Text, nullable=False),
    Column("quality", Text, nullable=False),  # the version's quality before the hold
    Column("held_since", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("task_id", BigInteger),  # the unknown_reference task, once opened
    PrimaryKeyConstraint("golden_id", "attribute", "referenced_key"),
)
Index("reference_hold_referenced_ix", reference_hold.c.referenced_entity,
      reference_hold.c.referenced_key)
Index("reference_hold_due_ix", reference_hold.c.held_since,
      postgresql_where=text("task_id IS NULL"))

# What capture last saw per source: the basis of capture lag.
capture_state = Table(
    "capture_state",
    metadata,
    Column("source", Text, primary_key=True),
    Column("last_event_at", DateTime(timezone=True)),
    Column("last_commit_ts", DateTime(timezone=True)),
    Column("last_lsn", BigInteger),
    Column("events_total", BigInteger, nullable=False, server_default=text("0")),
    Column("last_latency_ms", Integer),
    Column("slot_retained_bytes", BigInteger),
    Column("slot_lag_bytes", BigInteger),
    Column("slot_checked_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)

# The tables capture read per source when it last started (migration 0012): a table the
# project maps from now on gets an incremental snapshot of its own (mdm/capture/snapshots.py).
capture_table = Table(
    "capture_table",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "table_name"),
)

# Incremental snapshots asked for (new tables, `mdm resync`); capture sends them one at a time.
snapshot_request = Table(
    "snapshot_request",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),  # new_tables | resync
    Column("entity", Text),
    Column("keys", JSONB),
    Column("tables", ARRAY(Text), nullable=False),
    Column("conditions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("requested_by", Text),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("sent_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
    CheckConstraint("reason IN ('new_tables', 'resync')", name="snapshot_request_reason_ck"),
    CheckConstraint("status IN ('pending', 'sent', 'running', 'done', 'failed')",
                    name="snapshot_request_status_ck"),
)
Index("snapshot_request_open_ix", snapshot_request.c.source, snapshot_request.c.id,
      postgresql_where=text("status IN ('pending', 'sent', 'running')"))

# Per table, the latest initial and incremental snapshot as capture sees them.
snapshot_progress = Table(
    "snapshot_progress",
    metadata,
    Column("source", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("kind", Text, nullable=False),  # initial | incremental
    Column("state", Text, nullable=False),  # pending | running | done | aborted
    Column("rows", BigInteger, nullable=False, server_default=text("0")),
    Column("request_id", BigInteger),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("source", "table_name", "kind"),
    CheckConstraint("kind IN ('initial', 'incremental')", name="snapshot_progress_kind_ck"),
    CheckConstraint("state IN ('pending', 'running', 'done', 'aborted')",
                    name="snapshot_progress_state_ck"),
)

# Rule results that did not pass, one row per (version, rule, offending value). Passing rules
# are listed on the version itself (golden_version.checks), so every result is kept per version.
rule_result = Table(
    "rule_result",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("golden_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("entity", Text, nullable=False),
    Column("business_key", Text),  # NULL: a draft, no key yet (0014)
    Column("rule", Text, nullable=False),
    Column("kind", Text, nullable=False),  # expectation | check
    Column("attribute", Text),
    Column("severity", Text, nullable=False),  # error | warning
    Column("outcome", Text, nullable=False),  # failed | error (the rule itself raised)
    Column("observed", JSONB),
    Column("expectation", JSONB, nullable=False),
    Column("detail", Text),
    Column("checked_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)
Index("rule_result_version_ix", rule_result.c.golden_id, rule_result.c.version)

# Work for a steward: a rule violation, a divergence, (later) a dead delivery … At most one open
# task per (type, record, system): a repeated finding updates it instead of piling up.
task = Table(
    "task",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("type", Text, nullable=False),  # rule_violation | divergence
    Column("entity", Text, nullable=False),
    Column("business_key", Text),  # NULL: a draft, no key yet (0014)
    Column("golden_id", BigInteger),
    Column("version", Integer),
    Column("system", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'open'")),  # open | resolved | waived
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("resolution", Text),
)
Index("task_open_uq", task.c.type, task.c.entity, task.c.business_key, task.c.system,
      unique=True, postgresql_where=text("status = 'open'"))
Index("task_open_draft_uq", task.c.type, task.c.entity, task.c.golden_id, task.c.system,
      unique=True, postgresql_where=text("status = 'open' AND business_key IS NULL"))
Index("task_status_ix", task.c.status, task.c.created_at)
Index("task_key_clash_ix", task.c.golden_id,
      postgresql_where=text("type = 'key_clash' AND status = 'open'"))

# Every decision on a task: who, when, what, why, and what it changed.
decision = Table(
    "decision",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("reason", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("golden_id", BigInteger),
    Column("version", Integer),  # the version the decision released or created
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)
Index("decision_task_ix", decision.c.task_id)
Index("decision_time_ix", decision.c.decided_at)
Index("decision_version_ix", decision.c.golden_id, decision.c.version)

# The append-only, hash-chained ledger of decisions (0004), sealed with a keyed HMAC chain
# (0011). Its rows are written by the SQL function mdm_audit_append, fired by a trigger on
# decision; the functions and the append-only triggers live only in the migrations, because
# autogenerate neither reflects nor compares triggers and functions.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # numbered by the writer
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text),
    Column("task_id", BigInteger),
    Column("golden_id", BigInteger),
    Column("version", Integer),
    Column("reason", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),  # unkeyed sha256 of the entry: a content hash
    Column("decision_id", BigInteger),  # the decision row recorded (NULL: not a decision)
)
Index("audit_log_decision_ix", audit_log.c.decision_id, unique=True,
      postgresql_where=text("decision_id IS NOT NULL"))

# Entries 1..legacy_upto were written before the keyed chain existed (one row, append-only).
audit_keyed = Table(
    "audit_keyed",
    metadata,
    Column("legacy_upto", BigInteger, nullable=False),
    Column("upgraded_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)

# The keyed seal of each audit entry: HMAC-SHA256(key, entry ‖ previous mac), computed in Python.
audit_seal = Table(
    "audit_seal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # the audit_log entry
    Column("mac", Text, nullable=False),
    Column("key_id", Text, nullable=False),  # a fingerprint of the key, never the key
    Column("sealed_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
)

# A system's value a steward accepted, for the ERP team; applied_at/erp_tx_id once written to
# the ERP, error when that failed.
change_request = Table(
    "change_request",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False),
    Column("entity", Text, nullable=False),
    Column("business_key", Text, nullable=False),
    Column("golden_id", BigInteger),
    Column("system", Text, nullable=False),
    Column("attribute", Text),
    Column("field", Text),
    Column("golden_value", JSONB),
    Column("requested_value", JSONB),
    Column("requested_by", Text, nullable=False),
    Column("reason", Text),
    Column("status", Text, nullable=False, server_default=text("'open'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("applied_at", DateTime(timezone=True)),
    Column("erp_tx_id", BigInteger),
    Column("error", Text),
)
Index("change_request_status_ix", change_request.c.status, change_request.c.id)

# The API's users, their tokens and browser sessions; sign-in failures for lockouts.
app_user = Table(
    "app_user",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text),
    Column("role", Text, nullable=False),
    Column("password_hash", Text),  # argon2id; NULL: token-only (services)
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("disabled_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('steward', 'auditor', 'admin', 'service')", name="app_user_role"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("app_user.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),  # sha256 of the token
    Column("prefix", Text, nullable=False),  # its first characters, to recognise it
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
)
Index("api_token_user", api_token.c.user_id)

web_session = Table(
    "web_session",
    metadata,
    Column("id_hash", Text, primary_key=True),  # sha256 of the cookie's value
    Column("user_id", BigInteger, ForeignKey("app_user.id"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Failed sign-ins in a row, per user name tried and per client address.
signin_failure = Table(
    "signin_failure",
    metadata,
    Column("kind", Text, nullable=False),  # user | address
    Column("subject", Text, nullable=False),  # the name tried, or the address
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("blocked_until", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("locked_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("kind", "subject"),
    CheckConstraint("kind IN ('user', 'address')", name="signin_failure_kind"),
)
