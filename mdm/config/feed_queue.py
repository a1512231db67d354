"""`kind: amqp | nats`: the hub consumes a queue (RabbitMQ) or a JetStream consumer (NATS).

Each message is one document (a WMS's stock level, say): `message:` says which table it is
(fixed, or by a header / the subject or routing key / a body field), where its fields are in
the JSON body, its key, its operation (upsert unless a field marks a delete), its id (what a
redelivered or re-sent message is recognised by) and, optionally, an order field that makes
the messages of one record sortable. A batch of messages is durable in the inbox before it is
acknowledged; mdm/capture/queue.py reads them.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mdm.config.feed_base import FeedBase
from mdm.config.targets import Spec

Scalar = str | int | bool
DELETE_MARKERS: tuple[Scalar, ...] = ("delete", "deleted", "d")


def _qualified(value: str) -> str:
    return value if "." in value else f"public.{value}"


class TableBy(Spec):
    """The table of each message from one of its values, through a map."""

    header: str | None = Field(None, description="Message header holding the value (AMQP "
                               "header / NATS header), e.g. x-entity.")
    subject: bool = Field(False, description="true: the value is the NATS subject or the "
                          "AMQP routing key (stock.level).")
    field: str | None = Field(None, description="Dotted path of a body field holding the "
                              "value (meta.type).")
    tables: dict[str, str] = Field(min_length=1, description="value → table (schema.table; "
                                   "`public.` when it has no dot), e.g. {stock: wms.stock_level}. "
                                   "A message whose value is not here is kept failed.")

    @model_validator(mode="after")
    def _one_source(self) -> TableBy:
        given = [n for n, v in (("header", self.header), ("subject", self.subject),
                                ("field", self.field)) if v]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of header, subject: true or field (got "
                             f"{', '.join(given) or 'none'})")
        return self

    @field_validator("tables")
    @classmethod
    def _qualify(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: _qualified(v) for k, v in value.items()}


class OpSpec(Spec):
    """How a message says what happened to its record."""

    field: str | None = Field(None, description="Dotted path of the body field holding the "
                              "operation; none: every message is an upsert.")
    delete: list[Scalar] = Field(default_factory=lambda: list(DELETE_MARKERS),
                                 description="Values of `field` that mean the record was "
                                 "deleted (true for a boolean marker); any other value is an "
                                 "upsert.")


class IdSpec(Spec):
    """Where a message's id is (a redelivered or re-sent message with the same id is stored
    once)."""

    from_: Literal["auto", "message_id", "header", "field", "sequence"] = Field(
        "auto", alias="from", description="auto: AMQP's message_id property (else a hash of "
        "the body), NATS's Nats-Msg-Id header (else the stream sequence); message_id: the AMQP "
        "property / Nats-Msg-Id only (a message without it is kept failed); header: the header "
        "named by `name`; field: the body field at dotted path `name`; sequence: the NATS "
        "stream sequence (nats only).")
    name: str | None = Field(None, description="The header's name or the field's dotted path "
                             "for from: header | field.")

    @model_validator(mode="after")
    def _named(self) -> IdSpec:
        if self.from_ in ("header", "field") and not self.name:
            raise ValueError(f"from: {self.from_} needs name: (the {self.from_}'s "
                             f"{'name' if self.from_ == 'header' else 'dotted path'})")
        if self.from_ not in ("header", "field") and self.name:
            raise ValueError(f"name: is only for from: header | field (from: {self.from_})")
        return self


class MessageSpec(Spec):
    """How one message becomes one document (a change event of one record)."""

    table: str | None = Field(None, description="The table of every message (schema.table; "
                              "`public.` when it has no dot), as the entity's `table:` names "
                              "it. None (and no table_by): the table of the one entity that "
                              "takes this feed as source.")
    table_by: TableBy | None = Field(None, description="The table of each message from a "
                                     "header, the subject / routing key or a body field.")
    fields: str | None = Field(None, description="Dotted path of the sub-object holding the "
                               "document's fields (data); none: the whole JSON body.")
    key: str | list[str] | None = Field(None, description="The document field(s) holding the "
                                        "record's key (a list: a composite key, joined with "
                                        "'|'); none: the entity's primary_key.")
    op: OpSpec = Field(default_factory=OpSpec, description="The operation: a body field and "
                       "its delete markers; default every message is an upsert.")
    id: IdSpec = Field(default_factory=IdSpec, description="Where the message id is (for "
                       "dedupe): {from: auto | message_id | header | field | sequence, name}.")
    order: str | None = Field(None, description="Dotted path of a body field holding the "
                              "record's version or sequence (a non-negative integer, or text "
                              "that sorts): the position sorts per record, so a late "
                              "redelivery of an older message is refused as stale. None: "
                              "messages apply in the order they reach the inbox.")

    @field_validator("table")
    @classmethod
    def _qualify(cls, value: str | None) -> str | None:
        return None if value is None else _qualified(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else value
        if names is not None and (not names or not all(names)):
            raise ValueError("expected a field name or a non-empty list of field names")
        return value

    @model_validator(mode="after")
    def _one_table(self) -> MessageSpec:
        if self.table and self.table_by:
            raise ValueError("expected table: or table_by:, not both")
        return self


class AmqpQueue(Spec):
    """The RabbitMQ queue the hub consumes."""

    name: str = Field(min_length=1, description="Queue name (wms.stock).")
    declare: bool = Field(True, description="Declare the queue durable if absent; false: it "
                          "must exist (checked passively), declared by its owner.")
    prefetch: int = Field(1000, ge=1, le=65535, description="Unacknowledged messages the "
                          "broker hands the hub at once (a batch holds at most this many).")


class NatsConsumer(Spec):
    """The JetStream stream and durable pull consumer the hub reads."""

    stream: str = Field(min_length=1, description="The stream (created by its owner, with "
                        "file storage; see the README on durability).")
    durable: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$", description="Durable "
                                "consumer name (created if absent, explicit acks); default "
                                "mdm_<feed name>.")
    subject: str | None = Field(None, description="Subject filter (wms.stock.>); none: every "
                                "subject of the stream.")
    ack_wait_s: float = Field(30, gt=0, le=86400, description="Seconds before JetStream "
                              "redelivers a message the hub has not acknowledged (after a "
                              "crash).")
    max_deliver: int = Field(-1, description="Deliveries of one message before JetStream gives "
                             "up on it; -1 (default): no limit, since a message given up on "
                             "is lost (the hub keeps unreadable ones failed and acks them).")

    @field_validator("max_deliver")
    @classmethod
    def _deliveries(cls, value: int) -> int:
        if value != -1 and value < 1:
            raise ValueError("expected -1 (no limit) or at least 1")
        return value


class QueueFeed(FeedBase):
    kind: Literal["amqp", "nats"]
    url: str = Field(description="amqp://user:password@host:5672/vhost or nats://host:4222 "
                     "(comma-separated for a cluster); ${ENV_VAR} allowed.")
    queue: AmqpQueue | None = Field(None, description="kind: amqp — the queue: {name, "
                                    "declare, prefetch}.")
    jetstream: NatsConsumer | None = Field(None, description="kind: nats — the stream and "
                                           "durable consumer: {stream, durable, subject, "
                                           "ack_wait_s, max_deliver}.")
    message: MessageSpec = Field(default_factory=MessageSpec, description="How a message "
                                 "becomes a document: table, fields, key, op, id, order.")
    batch_size: int = Field(500, ge=1, le=10000, description="Messages written to the inbox "
                            "in one transaction, then acknowledged together.")
    batch_wait_ms: int = Field(50, ge=0, le=60000, description="How long a batch waits to "
                               "fill after its first message.")

    @model_validator(mode="after")
    def _kind_block(self) -> QueueFeed:
        block, other = (("queue", "jetstream") if self.kind == "amqp"
                        else ("jetstream", "queue"))
        if getattr(self, other) is not None:
            raise ValueError(f"{other}: is for kind: {'nats' if other == 'jetstream' else 'amqp'}"
                             f" (this feed is kind: {self.kind})")
        if getattr(self, block) is None:
            hint = "{name: wms.stock}" if block == "queue" else "{stream: WMS, subject: wms.stock.>}"
            raise ValueError(f"kind: {self.kind} needs {block}: {hint}")
        if self.kind == "amqp" and self.message.id.from_ == "sequence":
            raise ValueError("message.id.from: sequence is the NATS stream sequence; AMQP has "
                             "none (use message_id, header or field)")
        return self

    @property
    def consumer_name(self) -> str:
        return (self.jetstream.durable if self.jetstream and self.jetstream.durable
                else f"mdm_{self.name}")
