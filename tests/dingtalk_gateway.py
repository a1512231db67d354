"""A stand-in for 钉钉's Stream mode gateway, on loopback (the real one cannot be reached here).

It speaks the protocol as the official SDK (dingtalk-stream, frames.py and stream.py) and 钉钉's
Stream mode documentation have it: `POST /v1.0/gateway/connections/open` with clientId,
clientSecret and subscriptions answers {endpoint, ticket}; the app connects to
`endpoint?ticket=…` by WebSocket; events are frames {specVersion, type: EVENT, headers:
{messageId, eventType, eventId, eventBornTime, …}, data: "<JSON text>"}; the app answers each
with an ack {code, headers: {messageId}, message}. What is not acknowledged with code 200 is
sent again: on the next connection, and after `retry_s` on this one — as 钉钉 does.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class StreamGateway:
    def __init__(self, client_id: str, client_secret: str, retry_s: float = 1.0) -> None:
        self.client_id, self.client_secret, self.retry_s = client_id, client_secret, retry_s
        self.tickets: set[str] = set()
        self.pending: dict[str, dict[str, Any]] = {}  # messageId → frame, until acked with 200
        self.acks: list[dict[str, Any]] = []
        self.opens = 0
        self.refused_opens = 0
        self.on_ack: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.connection: ServerConnection | None = None
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._run_loop, args=(started,), daemon=True).start()
        started.wait(30)
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    # -- the HTTP half: opening a connection --------------------------------------------------
    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                status, answer = gateway._open(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _open(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1.0/gateway/connections/open":
            return 404, {"code": "NotFound"}
        if (body.get("clientId"), body.get("clientSecret")) != (self.client_id, self.client_secret):
            with self.lock:
                self.refused_opens += 1
            return 401, {"code": "InvalidAuthentication", "message": "clientId or clientSecret"}
        if {"type": "EVENT", "topic": "*"} not in body.get("subscriptions", []):
            return 400, {"code": "InvalidParameter", "message": "no EVENT subscription"}
        ticket = uuid.uuid4().hex
        with self.lock:
            self.tickets.add(ticket)
            self.opens += 1
        return 200, {"endpoint": f"ws://127.0.0.1:{self.ws_port}/connect", "ticket": ticket}

    # -- the WebSocket half ---------------------------------------------------------------------
    def _run_loop(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.ws_server = await serve(self._connected, "127.0.0.1", 0)
            self.ws_port = self.ws_server.sockets[0].getsockname()[1]
            started.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _connected(self, ws: ServerConnection) -> None:
        ticket = (ws.request.path.split("ticket=", 1) + [""])[1] if ws.request else ""
        with self.lock:
            if ticket not in self.tickets:
                await ws.close(4001, "bad ticket")
                return
            self.tickets.discard(ticket)
            self.connection = ws
            waiting = list(self.pending.values())
        try:
            for frame in waiting:  # what the app never acknowledged, sent again
                await ws.send(json.dumps(frame))
            await self._acks(ws)
        finally:
            with self.lock:
                if self.connection is ws:
                    self.connection = None

    async def _acks(self, ws: ServerConnection) -> None:
        async for raw in ws:
            ack = json.loads(raw)
            message_id = ack.get("headers", {}).get("messageId")
            with self.lock:
                self.acks.append(ack)
                frame = self.pending.get(message_id) if ack.get("code") == 200 else None
                if frame is not None:
                    del self.pending[message_id]
            if frame is not None and self.on_ack is not None:
                self.on_ack(frame, ack)
            elif ack.get("code") != 200 and message_id in self.pending:
                self.loop.call_later(self.retry_s, self._resend, message_id)

    def _resend(self, message_id: str) -> None:
        with self.lock:
            frame, ws = self.pending.get(message_id), self.connection
        if frame is not None and ws is not None:
            self.loop.create_task(ws.send(json.dumps(frame)))

    # -- what a test does -------------------------------------------------------------------------
    def push(self, event_type: str, data: dict[str, Any], event_id: str | None = None) -> str:
        """One event as 钉钉 pushes it; its messageId. Sent now if an app is connected, else on
        its next connection."""
        message_id = uuid.uuid4().hex
        now = int(time.time() * 1000)
        frame = {"specVersion": "1.0", "type": "EVENT",
                 "headers": {"appId": "app-1", "connectionId": "c-1", "topic": "*",
                             "contentType": "application/json", "messageId": message_id,
                             "time": str(now), "eventType": event_type,
                             "eventId": event_id or uuid.uuid4().hex, "eventBornTime": str(now),
                             "eventCorpId": "dingcorp", "eventUnifiedAppId": "app-1"},
                 "data": json.dumps(data, ensure_ascii=False)}
        with self.lock:
            self.pending[message_id] = frame
            ws = self.connection
        if ws is not None:
            asyncio.run_coroutine_threadsafe(ws.send(json.dumps(frame)), self.loop)
        return message_id

    def acked(self, message_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for a in self.acks if a.get("headers", {}).get("messageId") == message_id]

    def drop(self) -> None:
        """Close the app's connection from the gateway's side (钉钉 restarting a node)."""
        with self.lock:
            ws = self.connection
        if ws is not None:
            asyncio.run_coroutine_threadsafe(ws.close(1001, "going away"), self.loop).result(10)

    def stop(self) -> None:
        self.http.shutdown()

        async def close() -> None:
            # Server.close() only schedules its _close(): stopping the loop right after left
            # that coroutine never awaited, and its warning failed a later test of the session.
            self.ws_server.close()
            await self.ws_server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
