"""The fetch-back worker of webhook feeds with `fetch:` (FEED_KINDS["webhook"].run), a thread
of the capture process (`mdm run capture`).

Why there and not in the API: the API must answer the platform at once and owns no
background work; the capture process already runs each feed's reader in a restarting thread
with backoff, and the fetch is the "read the source" half of a webhook feed.

It reads the callbacks waiting in the inbox (mdm/store/repositories/webhook_callbacks.py: a
`<table>.callback` row with no document of the same instance stored after it), fetches each
instance from the platform's API (mdm/capture/webhook_api.py) and appends it as the document —
position = the callback's, so a crash between fetch and append refetches and the inbox absorbs
a second append. A transient failure (5xx, timeout) is tried again with backoff (in memory:
a restart tries at once); after `fetch.retries`, or on an error the platform reports for the
instance, the callback is kept failed with the last error (never lost, never retried forever).
Without `fetch:` there is nothing to do: the thread waits for the stop.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg

from mdm.capture.document_rows import append_documents
from mdm.capture.documents import document_with_children
from mdm.capture.inbox import append_batch
from mdm.capture.models import Batch, PoisonRecord
from mdm.capture.storable import dumps_lenient
from mdm.capture.webhook_api import PlatformApi
from mdm.config.feed_children import Splits, child_splits
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project, expand_env
from mdm.errors import TerminalError, TransientError
from mdm.store.repositories.webhook_callbacks import Waiting, waiting_callbacks

logger = logging.getLogger(__name__)
SCAN_S = 0.5  # how often the inbox is asked for callbacks waiting


@dataclass
class _Attempts:
    count: int = 0
    next_at: float = 0.0


def run_fetch_back(project: Project, spec: FeedSpec, hub_url: str,
                   stop: threading.Event) -> None:
    assert isinstance(spec, WebhookFeed)
    if spec.fetch is None:
        stop.wait()
        return
    where = f"cdc/{spec.name}.yaml"
    base = spec.fetch.api_base_url
    api = PlatformApi(spec, expand_env(spec.fetch.app_key, where),
                      expand_env(spec.fetch.app_secret, where),
                      expand_env(base, where) if base else None)
    attempts: dict[int, _Attempts] = {}
    splits = child_splits(spec, project.entities.values())
    try:
        with psycopg.connect(hub_url, autocommit=True) as conn:
            logger.info("webhook fetch-back running source=%s api=%s", spec.name, api.base)
            while not stop.is_set():
                for w in waiting_callbacks(conn, spec.name, spec.callbacks_table(), spec.table):
                    if stop.is_set():
                        break
                    _one(conn, api, spec, w, attempts.setdefault(w.id, _Attempts()), splits)
                stop.wait(SCAN_S)
    finally:
        api.close()


def _one(conn: psycopg.Connection, api: PlatformApi, spec: WebhookFeed, w: Waiting,
         tried: _Attempts, splits: Splits) -> None:
    assert spec.fetch is not None
    if tried.next_at > time.monotonic():
        return
    try:
        row = api.document(w.key)
    except (TransientError, TerminalError) as exc:
        tried.count += 1
        terminal = isinstance(exc, TerminalError) and tried.count > 1  # once with a new token
        if terminal or tried.count > spec.fetch.retries:
            _give_up(conn, spec, w, str(exc), tried.count)
            return
        delay = 0.0 if isinstance(exc, TerminalError) else min(
            spec.fetch.backoff_s * 2 ** (tried.count - 1), spec.fetch.max_backoff_s)
        tried.next_at = time.monotonic() + delay
        logger.warning("webhook fetch-back failed source=%s instance=%s attempt=%d retry_in=%.1fs: %s",
                       spec.name, w.key[:80], tried.count, delay, exc)
        return
    appended = append_documents(conn, spec.name, [
        document_with_children(splits, spec.name, spec.table, w.key, row, w.position)])
    logger.info("webhook fetched back source=%s instance=%s attempts=%d new=%d", spec.name,
                w.key[:80], tried.count + 1, appended.new)


def _give_up(conn: psycopg.Connection, spec: WebhookFeed, w: Waiting, error: str,
             count: int) -> None:
    raw = dumps_lenient({"callback_position": w.position, "instance_id": w.key, "error": error})
    batch = Batch()
    batch.add(PoisonRecord(spec.name, spec.table, raw, f"webhook fetch-back gave up after "
                           f"{count} attempts: {error}"[:1000], row_key=w.key))
    append_batch(conn, spec.name, batch)
    logger.error("webhook fetch-back gave up source=%s instance=%s attempts=%d: %s", spec.name,
                 w.key[:80], count, error)
