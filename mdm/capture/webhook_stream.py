"""钉钉 Stream mode: a `format: dingtalk` webhook feed with `stream:` (mdm/config/feed_stream.py).

The hub opens the connection — `POST {gateway}/v1.0/gateway/connections/open` with the app's
credentials gives a WebSocket endpoint and a ticket — and 钉钉 pushes the approval events over
it, the same `bpms_instance_change` events as its HTTP callbacks, read by the same code
(webhook_formats.dingtalk_event) into the same inbox table. Frames, handlers and acks are the
official SDK's (dingtalk-stream); the connection loop is ours, because the SDK's own loop
(0.24.x) can be neither stopped nor told how long to wait between attempts.

Guarantees, as for every feed: an event is acknowledged only after its inbox transaction
committed; one the hub could not store is answered with an error, so 钉钉 sends it again; its
position is "h/" + 钉钉's eventId, so a redelivery is absorbed. Events are handled one at a
time, in the order they arrive (order per record). The fetch-back worker
(mdm/capture/webhook_fetch.py) reads full instances as it does for HTTP callbacks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any
from urllib.parse import quote_plus

import httpx
import psycopg
import websockets
from dingtalk_stream import AckMessage, Credential, DingTalkStreamClient, EventHandler
from dingtalk_stream.frames import EventMessage
from dingtalk_stream.version import VERSION_STRING

from mdm.capture.webhook import store
from mdm.capture.webhook_fetch import run_fetch_back
from mdm.capture.webhook_formats import Read, dingtalk_event
from mdm.config.feed_stream import DingTalkStream
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.feeds import FeedSpec
from mdm.config.loader import Project, expand_env

logger = logging.getLogger(__name__)
OPEN_PATH = "/v1.0/gateway/connections/open"
_readers: dict[str, threading.Thread] = {}  # source → its Stream mode reader (one per process)


def run(project: Project, spec: FeedSpec, hub_url: str, stop: threading.Event) -> None:
    """FEED_KINDS["webhook"].run: the fetch-back worker, and with `stream:` the Stream mode
    reader beside it (started once; it reconnects by itself and never raises)."""
    assert isinstance(spec, WebhookFeed)
    if spec.stream is not None:
        reader = _readers.get(spec.name)
        if reader is None or not reader.is_alive():
            reader = threading.Thread(target=read_stream, args=(project, spec, hub_url, stop),
                                      name=f"stream-{spec.name}", daemon=True)
            _readers[spec.name] = reader
            reader.start()
    run_fetch_back(project, spec, hub_url, stop)


def read_stream(project: Project, spec: WebhookFeed, hub_url: str,
                stop: threading.Event) -> None:
    assert spec.stream is not None
    where = f"cdc/{spec.name}.yaml"
    client = _Client(Credential(expand_env(spec.stream.client_id, where),
                                expand_env(spec.stream.client_secret, where)),
                     expand_env(spec.stream.gateway_url, where), spec.name)
    handler = _Store(spec, hub_url, project)
    client.register_all_event_handler(handler)
    try:
        asyncio.run(_serve(client, spec.stream, stop, spec.name))
    finally:
        handler.close()


class _Client(DingTalkStreamClient):  # type: ignore[misc]  # the SDK has no type hints
    """The SDK's client, opening its connection at the configured gateway."""

    def __init__(self, credential: Credential, gateway: str, source: str) -> None:
        super().__init__(credential, logger=logging.getLogger("dingtalk_stream"))
        self.gateway, self.source = gateway.rstrip("/"), source

    def open_connection(self) -> dict[str, Any] | None:
        body = {"clientId": self.credential.client_id,
                "clientSecret": self.credential.client_secret,
                "subscriptions": [{"type": "EVENT", "topic": "*"}],
                "ua": f"dingtalk-sdk-python/v{VERSION_STRING}-union mdm", "localIp": ""}
        try:
            response = httpx.post(self.gateway + OPEN_PATH, json=body, timeout=10)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("dingtalk stream: opening a connection failed source=%s "
                           "gateway=%s: %s", self.source, self.gateway, exc)
            return None
        if not isinstance(answer, dict) or not {"endpoint", "ticket"} <= answer.keys():
            logger.warning("dingtalk stream: the gateway's answer has no endpoint and ticket "
                           "source=%s", self.source)
            return None
        return answer


class _Store(EventHandler):  # type: ignore[misc]
    """Each event into the inbox (one transaction) before the SDK acknowledges it."""

    def __init__(self, spec: WebhookFeed, hub_url: str, project: Project | None = None) -> None:
        super().__init__()
        self.spec, self.hub_url, self.project = spec, hub_url, project
        self.conn: psycopg.Connection | None = None

    async def process(self, event: EventMessage) -> tuple[int, str]:
        headers = event.headers
        read = Read()
        data = event.data if isinstance(event.data, dict) else {}
        dingtalk_event(self.spec, read, str(headers.event_type or ""),
                       str(headers.event_id or headers.message_id), data)
        try:
            await asyncio.to_thread(self._store, read)
        except (psycopg.Error, OSError) as exc:
            self.close()
            logger.warning("dingtalk stream event not stored source=%s event_id=%s (钉钉 sends "
                           "it again): %s", self.spec.name, headers.event_id, exc)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "not stored"
        return AckMessage.STATUS_OK, "OK"

    def _store(self, read: Read) -> None:
        if not read.items:
            store(None, self.spec, read)  # logs the event types not kept
            return
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.hub_url, autocommit=True, connect_timeout=10)
        store(self.conn, self.spec, read, self.project)  # child lists split as for callbacks

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def _serve(client: _Client, stream: DingTalkStream, stop: threading.Event,
                 source: str) -> None:
    delay = 1.0
    while not stop.is_set():
        connection = await asyncio.to_thread(client.open_connection)
        if connection is not None:
            uri = f"{connection['endpoint']}?ticket={quote_plus(str(connection['ticket']))}"
            try:
                await _connected(client, uri, stop, source)
                delay = 1.0
            except (OSError, websockets.exceptions.WebSocketException) as exc:
                logger.warning("dingtalk stream connection lost source=%s: %s", source, exc)
        if not stop.is_set():
            await asyncio.to_thread(stop.wait, delay)
            delay = min(delay * 2, stream.reconnect_max_s)


async def _connected(client: _Client, uri: str, stop: threading.Event, source: str) -> None:
    async with websockets.connect(uri, open_timeout=10) as ws:
        client.websocket = ws
        logger.info("dingtalk stream connected source=%s", source)
        closer = asyncio.create_task(_close_when(stop, ws))
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    logger.warning("dingtalk stream: a frame that is not JSON source=%s", source)
                    continue
                # one at a time, in order: the ack goes out after the store (SDK route_message)
                if await client.route_message(message) == DingTalkStreamClient.TAG_DISCONNECT:
                    break
        finally:
            closer.cancel()


async def _close_when(stop: threading.Event, ws: Any) -> None:
    while not stop.is_set():  # polled: a thread parked on stop.wait would outlive the socket
        await asyncio.sleep(0.2)
    await ws.close()
