"""Pydantic schemas of targets/*.yaml: the downstream systems and how each entity is written there.

Four kinds, one per integration method of the seed: `rest` (an API), `sql` (the database
directly, 数据库直连), `amqp` (message middleware: RabbitMQ) and `nats` (NATS JetStream). URLs,
tokens and passwords are written as ${ENV_VAR}; they are expanded when the target is opened
and never logged.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListMapping(Spec):
    """How the rows of one child list are written inside the list's field (a PO's lines with
    each line's material as the target knows it)."""

    fields: dict[str, str] = Field(
        description="item field: an attribute of the list's rows (or a nested list's name), "
        "or a row's reference rendered like a record's (`material_code: material.code`, "
        "`material_id: material.xref`).")
    children: dict[Identifier, ListMapping] = Field(
        default_factory=dict, description="Nested lists of each row, by list name, the same way.")


class TargetMapping(Spec):
    """How one entity is written to one target. Which keys apply depends on the target's kind."""

    fields: dict[str, str] = Field(
        default_factory=dict,
        description="target field: golden attribute (or child list name). Empty: every "
        "attribute and child list under its own name.")
    children: dict[Identifier, ListMapping] = Field(
        default_factory=dict, description="child list name → how its rows are written inside "
        "the field that maps the list (`lines: {fields: {material_code: material.code, qty: "
        "qty}}`). A list without one: each row as the hub holds it.")
    retire: Literal["flag", "delete"] = Field(
        "flag", description="flag: send active_field=false; delete: remove the target's row "
        "(rest: HTTP DELETE, sql: DELETE). Message targets always send the retirement.")
    rename: Literal["in_place", "recreate"] = Field(
        "in_place", description="When a record's business key changes (S0001 → S9001). "
        "in_place: the target renames its record (rest: PUT on the old key's resource with the "
        "new key in the body; sql: UPDATE … SET key = new WHERE key = old); recreate: for a "
        "target that cannot rename, the old key is retired there (as `retire:` says) and the "
        "new key upserted. Message targets always carry `previous_key` in the message.")
    active_field: str | None = Field(None, description="Target field set true/false by status.")
    path: str | None = Field(None, description="rest: collection path, e.g. /api/vendors.")
    table: str | None = Field(None, description="sql: the target table (or updatable view).")
    key: str | None = Field(None, description="sql: the target field that holds the business "
                            "key; the upsert matches on it (it needs a unique index).")
    version_field: str | None = Field(
        None, description="sql: a target column that receives the golden version; an older "
        "version never overwrites a newer one (guards replays).")
    write_back: dict[str, str] = Field(
        default_factory=dict, description="rest, sql: reply field (dotted path into the "
        "target's JSON answer, or a column of the written row) → an attribute this target owns "
        "(`owner:` on the attribute). The value comes back as a new golden version.")
    routing_key: str | None = Field(None, description="amqp: routing key (default: the entity).")
    subject: str | None = Field(
        None, description="nats: subject (default: <subject_prefix>.<entity>).")


class Backoff(Spec):
    initial_ms: int = Field(200, ge=1)
    max_ms: int = Field(60_000, ge=1)
    multiplier: float = Field(2.0, ge=1.0)


class Reconcile(Spec):
    interval_s: float = Field(60.0, gt=0, description="Seconds between two read-backs.")
    page_size: int = Field(100, ge=1, le=1000, description="Records per GET ?limit=&offset=.")


class TargetBase(Spec):
    """What every kind of target has: retries, back-pressure, rate, and optional mappings."""

    name: Identifier
    timeout_s: float = Field(10.0, gt=0, description="Per request / statement / publish.")
    max_attempts: int = Field(8, ge=1, description="After this many failures a delivery is dead.")
    backoff: Backoff = Backoff()
    concurrency: int = Field(8, ge=1, le=64, description="Deliveries in flight at once.")
    rate_limit_per_s: float | None = Field(
        None, gt=0, description="At most this many deliveries per second to this target.")
    entities: dict[Identifier, TargetMapping] = Field(
        default_factory=dict, description="entity → mapping, as an alternative to "
        "`targets:` in golden_records/<entity>.yaml (handy for message targets).")


class RestBatch(Spec):
    """The target's API takes several records in one call: POST <path><suffix> with a list."""

    suffix: str = Field("/_batch", description="Appended to the entity's path.")
    max_size: int = Field(50, ge=2, le=1000, description="Records per call.")


class RestTarget(TargetBase):
    """A downstream system reached over its REST API."""

    kind: Literal["rest"]
    base_url: str = Field(description="Base URL; ${ENV_VAR} allowed.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers, e.g. Authorization: Bearer "
        "${OA_TOKEN}; values may use ${ENV_VAR}.")
    batch: RestBatch | None = Field(None, description="Send records in batches (see RestBatch).")
    reconcile: Reconcile | None = Field(
        None, description="Read the target's records back over its API on a schedule and "
        "compare them with the golden values (for targets whose database the hub cannot capture).")


class SqlTarget(TargetBase):
    """A target's database written directly over SQLAlchemy (upsert by the target's key)."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://u:${PW}@host/oa.")


class AmqpTarget(TargetBase):
    """RabbitMQ: persistent messages on an exchange, one routing key per entity, publisher
    confirms. The message id is the delivery's idempotency key."""

    kind: Literal["amqp"]
    url: str = Field(description="amqp://user:password@host:5672/vhost; ${ENV_VAR} allowed.")
    exchange: str = Field("mdm.golden", description="Exchange (declared durable if absent).")
    exchange_type: Literal["topic", "direct", "fanout", "headers"] = "topic"


class NatsTarget(TargetBase):
    """NATS JetStream: acknowledged publishes; Nats-Msg-Id is the idempotency key, so the
    stream drops a re-sent message within its duplicate window."""

    kind: Literal["nats"]
    url: str = Field(description="nats://host:4222 (comma-separated for a cluster).")
    stream: str = Field("MDM", description="JetStream stream (created if absent).")
    subject_prefix: str = Field("mdm", description="Subjects are <prefix>.<entity> by default.")
    duplicate_window_s: float = Field(
        600, gt=0, description="The stream's duplicate window when the hub creates it.")


TargetSpec = Annotated[RestTarget | SqlTarget | AmqpTarget | NatsTarget,
                       Field(discriminator="kind")]
AnyTarget = RestTarget | SqlTarget | AmqpTarget | NatsTarget
KIND_KEYS = {"rest": ("path",), "sql": ("table", "key"), "amqp": (), "nats": ()}
