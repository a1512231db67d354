"""The hub's tables (SQLAlchemy Core), one module per part of the hub; Alembic migrations in
store/migrations create them, and this package is what env.py and the autogenerate comparison
read (`metadata`). tests/integration/test_schema_metadata.py keeps it equal to the migrated
schema.

- hub.py: inbox → source_row (mirror of captured rows) → golden_record / golden_version / xref
  → rule_result, delivery, reference_hold
- capture.py: capture_state, capture_table, snapshot_request, snapshot_progress, feed_state
- flows.py: document_link (a document → the documents hops made from it), command_hold
- people.py: task, decision, the audit chain, change_request, the API's users and sign-ins
"""
from __future__ import annotations

from mdm.store.tables.base import metadata
from mdm.store.tables.capture import (
    capture_state,
    capture_table,
    feed_state,
    snapshot_progress,
    snapshot_request,
)
from mdm.store.tables.flows import command_hold, document_link
from mdm.store.tables.hub import (
    delivery,
    golden_record,
    golden_version,
    inbox,
    reference_hold,
    rule_result,
    source_row,
    source_tx,
    xref,
)
from mdm.store.tables.people import (
    api_token,
    app_user,
    audit_keyed,
    audit_log,
    audit_seal,
    change_request,
    decision,
    signin_failure,
    task,
    web_session,
)

__all__ = [
    "metadata",
    "inbox",
    "source_tx",
    "source_row",
    "golden_record",
    "golden_version",
    "xref",
    "delivery",
    "reference_hold",
    "rule_result",
    "document_link",
    "command_hold",
    "capture_state",
    "capture_table",
    "feed_state",
    "snapshot_request",
    "snapshot_progress",
    "task",
    "decision",
    "audit_log",
    "audit_keyed",
    "audit_seal",
    "change_request",
    "app_user",
    "api_token",
    "web_session",
    "signin_failure",
]
