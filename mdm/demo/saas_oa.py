"""The demo OA as a SaaS OA (`mdm demo --oa saas`, mdm/demo/saas.py): "modified since" lists
of its purchase requests for the hub's poll, and 钉钉-format approval callbacks to the hub.

    GET /api/saas/purchase-requests?modified_since=<iso>&after_id=<id>&limit=<n>
    GET /api/saas/purchase-request-lines?…   (each line with its request's modified time)
        → {"data": {"items": [...]}}, ordered by (modified_at, id); with after_id:
          (modified_at, id) > (modified_since, after_id), else modified_at >= modified_since.
          `Authorization: Bearer $MDM_SAAS_OA_API_TOKEN` when that is set.

With $MDM_SAAS_OA_CALLBACK_URL set, each approval state change (submit → an instance started,
approve / reject → finished with result agree / refuse) is called back as 钉钉's HTTP event
callback bpms_instance_change: the event AES-encrypted with the EncodingAESKey, signed
(msg_signature over token, timestamp, nonce and the encrypted text), POSTed as
{"encrypt": …}. A callback the hub does not take (down, 5xx) is sent again with backoff,
re-signed with a new timestamp but the same event, so the hub stores it once; callbacks go out
in the order the changes were made. In memory: a demo OA stopped with callbacks unsent loses
them (a real platform keeps retrying for hours).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool

from mdm.capture.webhook_crypto import wx_encrypt, wx_signature
from mdm.demo.saas import CALLBACK_URL_ENV
from mdm.demo.target_schema import ConnectionPool
from mdm.demo.target_store import jsonable
from mdm.demo.target_values import ApiError

logger = logging.getLogger(__name__)
LISTS = "/api/saas"
REQUEST_COLUMNS = ("r.id, r.request_no, r.title, r.requester, r.dept_code, r.vendor_code, "
                   "r.status, r.submitted_at, r.approver, r.approved_at, r.approval_comment, "
                   "r.po_no, r.po_status")
# list → (the query's FROM, its columns, the modified time, the id), keyset-paged
QUERIES = {
    "purchase-requests": ("oa_purchase_request r", REQUEST_COLUMNS, "r.updated_at", "r.id"),
    "purchase-request-lines": ("oa_purchase_request_line l JOIN oa_purchase_request r "
                               "ON r.id = l.request_id",
                               "l.id, l.request_id, l.line_no, l.material_code, l.quantity, "
                               "l.unit_price, l.needed_by", "r.updated_at", "l.id"),
}
ACTIONS = ("submit", "approve", "reject")
PROCESS_CODE = "PROC-MDM-PURCHASE"


def add_saas_routes(app: FastAPI, pool: ConnectionPool) -> None:
    """The lists (always); the callbacks when $MDM_SAAS_OA_CALLBACK_URL is set."""

    @app.get(LISTS + "/{listed}")
    async def modified_since(listed: str, request: Request) -> dict[str, Any]:
        """Records modified since a time, keyset-paged (see the module's docstring)."""
        token = os.environ.get("MDM_SAAS_OA_API_TOKEN")
        if token and request.headers.get("Authorization") != f"Bearer {token}":
            raise ApiError(401, "invalid or missing token")
        if listed not in QUERIES:
            raise ApiError(404, f"no such list: {listed} (lists: {', '.join(QUERIES)})")
        q = request.query_params
        try:
            since = datetime.fromisoformat(q["modified_since"]) if "modified_since" in q else None
            after = int(q["after_id"]) if "after_id" in q else None
            limit = min(max(int(q.get("limit", "100")), 1), 10_000)
        except ValueError as exc:
            raise ApiError(400, f"bad parameter: {exc}") from exc
        items = await run_in_threadpool(page, pool, listed, since, after, limit)
        return {"data": {"items": items}}

    url = os.environ.get(CALLBACK_URL_ENV)
    if url:
        add_callbacks(app, pool, CallbackSender(url))


def page(pool: ConnectionPool, listed: str, since: datetime | None, after: int | None,
         limit: int) -> list[dict[str, Any]]:
    source, columns, modified, key = QUERIES[listed]
    where, params = "", {"limit": limit, "since": since, "after": after}
    if since is not None:
        where = (f"WHERE ({modified}, {key}) > (%(since)s, %(after)s)" if after is not None
                 else f"WHERE {modified} >= %(since)s")
    sql = (f"SELECT {columns}, {modified} AS modified_at FROM {source} {where} "
           f"ORDER BY {modified}, {key} LIMIT %(limit)s")
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, params).fetchall()
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


def add_callbacks(app: FastAPI, pool: ConnectionPool, sender: CallbackSender) -> None:
    """After a purchase request's submit / approve / reject succeeded (committed), queue its
    callback."""

    @app.middleware("http")
    async def call_back(request: Request,
                        call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        parts = [p for p in request.url.path.split("/") if p]
        if (request.method == "POST" and response.status_code == 200 and len(parts) == 4
                and parts[:2] == ["api", "purchase-requests"] and parts[3] in ACTIONS):
            event = await run_in_threadpool(approval_event, pool, parts[2], parts[3])
            if event is not None:
                sender.send(event)
        return response


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def approval_event(pool: ConnectionPool, request_no: str, action: str) -> dict[str, Any] | None:
    """The bpms_instance_change event of the request's approval as it now is."""
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT title, requester, approver, submitted_at, approved_at, "
                          "updated_at FROM oa_purchase_request WHERE request_no = %s",
                          (request_no,)).fetchone()
    if row is None:
        return None
    event: dict[str, Any] = {
        "EventType": "bpms_instance_change", "processInstanceId": f"pi-{request_no}",
        "processCode": PROCESS_CODE, "corpId": os.environ.get("MDM_SAAS_DING_APP_KEY", ""),
        "title": f"采购申请 {request_no} {row['title']}",
        "createTime": _ms(row["submitted_at"])}
    if action == "submit":
        event.update(type="start", staffId=row["requester"])
    else:
        event.update(type="finish", result="agree" if action == "approve" else "refuse",
                     staffId=row["approver"],
                     finishTime=_ms(row["approved_at"] or row["updated_at"]))
    return event


class CallbackSender:
    """Sends the callbacks one at a time, in order, each until the hub takes it (2xx)."""

    def __init__(self, url: str, max_backoff_s: float = 5.0) -> None:
        self.url, self.max_backoff_s = url, max_backoff_s
        self.token = os.environ["MDM_SAAS_DING_TOKEN"]
        self.aes_key = os.environ["MDM_SAAS_DING_AES_KEY"]
        self.app_key = os.environ["MDM_SAAS_DING_APP_KEY"]
        self.waiting: queue.Queue[dict[str, Any]] = queue.Queue()
        self.sent = 0
        threading.Thread(target=self._run, daemon=True, name="saas-callbacks").start()

    def send(self, event: dict[str, Any]) -> None:
        self.waiting.put(event)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                self._deliver(client, self.waiting.get())

    def _deliver(self, client: httpx.Client, event: dict[str, Any]) -> None:
        # encrypted once: a resend is the same message (the hub keys a callback on it)
        encrypted = wx_encrypt(self.aes_key, json.dumps(event, ensure_ascii=False), self.app_key)
        delay, attempt = 0.2, 1
        while True:
            stamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(8)
            query = {"msg_signature": wx_signature(self.token, stamp, nonce, encrypted),
                     "timestamp": stamp, "nonce": nonce}
            try:
                answer = client.post(self.url, params=query, json={"encrypt": encrypted})
                if answer.status_code < 300:
                    self.sent += 1
                    logger.info("callback taken instance=%s attempts=%d",
                                event["processInstanceId"], attempt)
                    return
                problem = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            logger.warning("callback not taken instance=%s attempt=%d retry_in=%.1fs: %s",
                           event["processInstanceId"], attempt, delay, problem)
            time.sleep(delay)
            delay, attempt = min(delay * 2, self.max_backoff_s), attempt + 1
