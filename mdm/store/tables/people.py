"""What people do and who they are: steward tasks and their decisions, the hash-chained audit
ledger with its keyed seals, change requests for the ERP team, and the API's users, tokens,
browser sessions and sign-in failures."""
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
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from mdm.store.tables.base import metadata

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
    Column("hop", Text, nullable=False, server_default=text("''")),  # a flow task's hop (0017)
)
Index("task_open_uq", task.c.type, task.c.entity, task.c.business_key, task.c.system, task.c.hop,
      unique=True, postgresql_where=text("status = 'open'"))
Index("task_open_draft_uq", task.c.type, task.c.entity, task.c.golden_id, task.c.system,
      task.c.hop, unique=True, postgresql_where=text("status = 'open' AND business_key IS NULL"))
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
