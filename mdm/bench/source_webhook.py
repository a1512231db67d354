"""`mdm bench --sources`, webhook: signed POSTs (`format: hmac`, the body is the document) to the
hub's `POST /api/v1/webhooks/{source}`, one event per POST, from a few concurrent callers as
a platform sends them. Commit → golden starts at the POST (the document's sent_us, stamped
just before it is sent)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from mdm.bench.source_kinds import LatencyFrom, document, entity_file, pace
from mdm.capture.webhook_crypto import hmac_signature
from mdm.demo.stack import DemoStack

SOURCE_NAME = "bench_hook"
SECRET = "mdm-bench-webhook-secret"  # the bench's own, on loopback
CALLERS = 8  # concurrent POSTs in the burst
ATTEMPTS = 20  # a 503 (the API's pool busy) or a lost connection is sent again, as a platform does
SOURCE = f"""\
name: {SOURCE_NAME}
kind: webhook
format: hmac
description: mdm bench --sources, signed POSTs whose body is the document
table: bench_hook.item
secret: ${{MDM_BENCH_HOOK_SECRET}}
key_field: id
"""


class WebhookDriver:
    kind = "webhook"
    variant = ""
    label = "webhook (hmac POST /api/v1/webhooks)"
    entity = "bench_hook_item"
    latency_from: LatencyFrom = "sent_us"
    note = (f"one document per POST, {CALLERS} concurrent callers in the burst; answered once "
            "durable in the inbox")

    def __init__(self) -> None:
        self.url = ""
        self.stack: DemoStack | None = None
        self._local = threading.local()

    def unavailable(self) -> str | None:
        return None

    def project_files(self) -> dict[str, str]:
        return {f"cdc/{SOURCE_NAME}.yaml": SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "signed POSTs", SOURCE_NAME, "bench_hook.item")}

    def env(self) -> dict[str, str]:
        return {"MDM_BENCH_HOOK_SECRET": SECRET}

    def start(self, stack: DemoStack) -> None:
        self.stack = stack  # its API's port is chosen when the hub starts, after this

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        assert self.stack is not None
        self.url = f"{self.stack.api_url}/api/v1/webhooks/{SOURCE_NAME}"
        wait = pace(rate)
        if rate:
            with httpx.Client(timeout=30) as client:
                return sum(self._post(client, k, phase, wait, n) for n, k in enumerate(keys))
        clients: list[httpx.Client] = []
        lock = threading.Lock()

        def one(item: tuple[int, int]) -> bool:
            client = getattr(self._local, "client", None)
            if client is None:
                client = self._local.client = httpx.Client(timeout=30)
                with lock:
                    clients.append(client)
            return self._post(client, item[1], phase, wait, item[0])

        try:
            with ThreadPoolExecutor(CALLERS) as pool:
                return sum(pool.map(one, enumerate(keys)))
        finally:
            for client in clients:
                client.close()
            self._local = threading.local()

    def _post(self, client: httpx.Client, key: int, phase: str, wait: Callable[[int], None],
              n: int) -> bool:
        wait(n)
        doc = document(key, phase)
        for attempt in range(ATTEMPTS):
            body = json.dumps(doc, ensure_ascii=False).encode()
            stamp = str(int(time.time()))
            try:
                answer = client.post(self.url, content=body, headers={
                    "Content-Type": "application/json", "X-Timestamp": stamp,
                    "X-Event-Id": f"bench-{phase}-{key}",
                    "X-Signature": hmac_signature(SECRET, stamp, body)})
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                return True
            if answer is not None and answer.status_code not in (429, 503):
                return False
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        return False

    def stop(self) -> None:
        pass
