"""Webhook callbacks → the inbox (`POST /api/v1/webhooks/{source}`, cdc/<source>.yaml with
`kind: webhook`).

The callback is verified and read (mdm/capture/webhook_formats.py), written durable in the
inbox in one transaction, and only then answered — well within the platforms' deadlines (钉钉
and 飞书 a few seconds, 企业微信 5 s): nothing slow happens in the request. Its position is
"h/" + the platform's event id (飞书) or a hash of the signed message (钉钉, 企业微信, hmac
without an event-id header), so a callback the platform sends again — after a timeout, or
because the hub was down — is absorbed: stored once.

With `fetch:` the callback is kept in the table `<table>.callback` (no entity maps it) until
the capture process's fetch-back worker (mdm/capture/webhook_fetch.py) has read the full
instance from the platform's API and stored it as the document; without it the callback's own
fields are the document. A verified callback the hub cannot map (no instance id, an hmac
document without its key) is kept `failed` with the reason and answered, so the platform does
not resend it forever; event types the feed does not keep (`events:`) are answered, logged,
and not stored.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.capture.document_rows import append_documents
from mdm.capture.documents import Document, document_with_children
from mdm.capture.models import Batch, ChangeEvent, PoisonRecord
from mdm.capture.storable import dumps_lenient
from mdm.capture.webhook_formats import READERS, Item, Read, Refused, Request
from mdm.config.feed_children import Splits, child_splits
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.loader import Project, expand_env
from mdm.errors import ConfigError
from mdm.model.inbox import CONTENT_POSITION_PREFIX

logger = logging.getLogger(__name__)


class UnknownWebhook(LookupError):
    """No cdc/<source>.yaml with kind: webhook."""


@dataclass(frozen=True)
class Received:
    answer: Any
    events: int  # items stored (new or absorbed)
    new: int
    failed: int  # kept failed with their reason
    ignored: tuple[str, ...]


def webhook_spec(project: Project, source: str) -> WebhookFeed:
    spec = project.feeds.get(source)
    if not isinstance(spec, WebhookFeed):
        raise UnknownWebhook(f"no webhook source {source[:60]!r}; configured: "
                             f"{sorted(n for n, s in project.feeds.items() if isinstance(s, WebhookFeed))}")
    return spec


def secrets_of(spec: WebhookFeed) -> Any:
    where = f"cdc/{spec.name}.yaml"

    def secret(reference: str | None) -> str:
        if reference is None:
            raise Refused(503, "configuration", f"{where}: a secret of format {spec.format} "
                          "is not configured")
        try:
            return expand_env(reference, where)
        except ConfigError as exc:
            logger.error("webhook secret missing source=%s: %s", spec.name, exc)
            raise Refused(503, "configuration", f"{where}: a secret is not set on the hub "
                          "(see its log)") from exc
    return secret


def verify(spec: WebhookFeed, request: Request, now: float | None = None) -> Read:
    """The callback read, or Refused (nothing to store)."""
    if spec.stream is not None:
        raise Refused(409, "configuration", f"cdc/{spec.name}.yaml receives 钉钉 Stream mode "
                      "events (stream:): it takes no HTTP callbacks")
    return READERS[spec.format](spec, secrets_of(spec), request, now)


def documents_of(spec: WebhookFeed, items: list[Item],
                 splits: Splits | None = None) -> list[Document | ChangeEvent | PoisonRecord]:
    """Each item as its document (split into its child rows when `splits` has its table), its
    change event, or the failed record keeping it."""
    table = spec.table if spec.fetch is None else spec.callbacks_table()
    found: list[Document | ChangeEvent | PoisonRecord] = []
    for item in items:
        position = CONTENT_POSITION_PREFIX + item.event_id
        raw = dumps_lenient({"position": position, "table": table, "event_type": item.event_type,
                             "row_key": item.key, "row": item.fields})
        found.append(document_with_children(splits or {}, spec.name, table, item.key,
                                            item.fields, position, raw=raw))
    return found


def batch_of(spec: WebhookFeed, items: list[Item]) -> Batch:
    """The items' change events and failed records, child lists not split."""
    batch = Batch()
    for found in documents_of(spec, items):
        assert not isinstance(found, Document)  # no splits, no documents
        batch.add(found)
    return batch


def store(conn: psycopg.Connection | None, spec: WebhookFeed, read: Read,
          project: Project | None = None) -> Received:
    """Append a verified callback's items to the inbox (one transaction); a callback without
    items needs no connection (None). With `project`, a document whose entity has child lists
    is split into its rows (mdm/capture/documents.py)."""
    for kind in read.ignored:
        logger.info("webhook event not kept source=%s event_type=%s", spec.name, kind[:80])
    if not read.items:
        return Received(read.answer, 0, 0, 0, tuple(read.ignored))
    assert conn is not None
    splits = child_splits(spec, project.entities.values()) if project is not None else {}
    appended = append_documents(conn, spec.name, documents_of(spec, read.items, splits))
    logger.info("webhook stored source=%s events=%d new=%d failed=%d", spec.name,
                len(read.items), appended.new, appended.failed)
    return Received(read.answer, len(read.items), appended.new, appended.failed,
                    tuple(read.ignored))


def receive(conn: psycopg.Connection, project: Project, source: str, request: Request,
            now: float | None = None) -> Received:
    spec = webhook_spec(project, source)
    return store(conn, spec, verify(spec, request, now), project)
