"""Documents that travel (flows/*.yaml): the links between a document and the ones a hop made
from it, and the commands waiting for their origin. A hop's commands are deliveries (hub.py's
`delivery`, with `hop` set)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, PrimaryKeyConstraint, Table, Text, func

from mdm.store.tables.base import metadata

# origin → the document a hop created from it (an OA request → its ERP purchase order), made
# when the created document is captured naming its origin (the hop's `link.by`).
document_link = Table(
    "document_link",
    metadata,
    Column("flow", Text, nullable=False),
    Column("hop", Text, nullable=False),
    Column("origin_id", BigInteger, nullable=False),  # golden record of the origin
    Column("linked_id", BigInteger, nullable=False),  # golden record of the created document
    Column("linked_version", Integer, nullable=False),  # its version that made the link
    Column("command_id", BigInteger),  # the create command (delivery) that made it, if any
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    PrimaryKeyConstraint("flow", "hop", "origin_id", "linked_id"),
)
Index("document_link_linked_ix", document_link.c.linked_id)

# A command waiting for its origin document (a WMS receipt's stock-in for a PO the hub has not
# seen yet): the delivery is `held` until a version of `entity` with `business_key` arrives.
command_hold = Table(
    "command_hold",
    metadata,
    Column("delivery_id", BigInteger, primary_key=True),
    Column("flow", Text, nullable=False),
    Column("hop", Text, nullable=False),
    Column("held_id", BigInteger, nullable=False),  # golden record whose command waits
    Column("entity", Text, nullable=False),  # the awaited origin's entity and business key
    Column("business_key", Text, nullable=False),
    Column("held_since", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("task_id", BigInteger),  # the unknown_reference task, once opened
)
Index("command_hold_origin_ix", command_hold.c.entity, command_hold.c.business_key)
