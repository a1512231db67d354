"""The REST propagator: PUT (or DELETE) one record at a time to a target's API.

httpx's exceptions are translated here, once: connection problems, timeouts, 5xx, 408 and
429 are transient (retried with backoff); other 4xx are terminal (the delivery is dead).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from mdm.config.loader import Project, expand_env
from mdm.config.models import RestTarget
from mdm.propagate.outbox import Delivery, Outcome

logger = logging.getLogger(__name__)
TRANSIENT_STATUS = {408, 425, 429}


class RestPropagator:
    def __init__(self, target: RestTarget, project: Project,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        where = f"targets/{target.name}.yaml"
        self.target = target
        self.project = project
        self.base_url = expand_env(target.base_url, where).rstrip("/")
        headers = {k: expand_env(v, where) for k, v in target.headers.items()}
        self.client = httpx.AsyncClient(
            timeout=target.timeout_s, headers=headers, transport=transport,
            limits=httpx.Limits(max_connections=target.concurrency),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _url(self, d: Delivery) -> str:
        mapping = self.project.entities[d.entity].targets[self.target.name]
        return f"{self.base_url}{mapping.path}/{quote(d.business_key, safe='')}"

    async def deliver(self, d: Delivery) -> Outcome:
        mapping = self.project.entities[d.entity].targets[self.target.name]
        headers = {"Idempotency-Key": d.idempotency_key, "X-MDM-Version": str(d.version),
                   "X-MDM-Entity": d.entity}
        try:
            if d.operation == "retire" and mapping.retire == "delete":
                response = await self.client.delete(self._url(d), headers=headers)
            else:
                response = await self.client.put(self._url(d), json=d.payload, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome(d, acked=False, error=f"timeout after {self.target.timeout_s}s ({exc!r})")
        except httpx.TransportError as exc:
            return Outcome(d, acked=False, error=f"cannot reach {self.base_url}: {exc!r}")
        return self._outcome(d, response)

    def _outcome(self, d: Delivery, response: httpx.Response) -> Outcome:
        code = response.status_code
        if code < 300:
            return Outcome(d, acked=True, status_code=code, target_id=_target_id(response))
        detail = response.text[:300]
        terminal = 400 <= code < 500 and code not in TRANSIENT_STATUS
        return Outcome(d, acked=False, terminal=terminal, status_code=code,
                       error=f"HTTP {code}: {detail}")


def _target_id(response: httpx.Response) -> str | None:
    if not response.content:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"])
    return None
