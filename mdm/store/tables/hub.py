"""The hub's data on its way through: the inbox of change events (and the source transactions
capture saw end), the mirror of captured rows, golden records with their versions and xrefs,
rule results per version, the outbox of deliveries and the versions held on a reference."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from mdm.store.tables.base import metadata

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
Index("source_tx_ended_ix", source_tx.c.ended_at)  # the retention pass (0015)

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

# The outbox: one delivery per (version, target), and a flow's commands (operation create or
# update, keyed by flow, hop and source document).
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
    # A flow's command (0016): the hop (flow.hop, flow.hop.back) whose mapping makes the
    # payload; NULL for a record's own upsert or retirement.
    Column("hop", Text),
    Column("progress", JSONB),  # a command of several calls: each done step's answer (0016)
)
Index("delivery_open_ix", delivery.c.target, delivery.c.next_attempt_at,
      postgresql_where=text("status IN ('pending', 'failed')"))
Index("delivery_record_ix", delivery.c.golden_id, delivery.c.target, delivery.c.version)
# An ack wakes the propagators when an open delivery requires an acknowledged record (0015).
Index("delivery_requires_ix", delivery.c.requires_id, postgresql_using="gin",
      postgresql_where=text("status IN ('pending', 'failed')"))

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
