"""The REST propagator: PUT (or DELETE) one record at a time to a target's API, or, where the
target's API takes batches (`batch:` in its file), POST up to `max_size` records in one call.

A record whose business key changed since the target last acknowledged it (a rename) is sent
alone: PUT on the old key's resource with the new key in the body, so the target renames its
record (404: it holds none under the old key, the new one is upserted); a target that cannot
(`rename: recreate`, or it answers 409) gets the old key retired and the new one upserted.

httpx's exceptions and the target's statuses are translated here, once (`status_error`,
`transport_error`): connection problems, timeouts, 5xx, 408, 425 and 429 are TargetUnavailable
(retried with backoff); other 4xx are TargetRefused (the delivery is dead).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from itertools import groupby
from typing import Any
from urllib.parse import quote

import httpx

from mdm.config.loader import Project, expand_env
from mdm.config.flow_payload import answer_at, fill
from mdm.config.flows import HopTo
from mdm.config.targets import RestTarget, TargetMapping
from mdm.errors import TargetRefused, TargetUnavailable
from mdm.propagate.base import failed, key_field, redact
from mdm.model.deliveries import Delivery, Outcome
from mdm.propagate.outbox import write_back_values

logger = logging.getLogger(__name__)
TRANSIENT_STATUS = {408, 425, 429}


class RestPropagator:
    def __init__(self, target: RestTarget, project: Project,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        where = f"targets/{target.name}.yaml"
        self.target = target
        self.project = project
        self.base_url = expand_env(target.base_url, where).rstrip("/")
        self.where = redact(self.base_url)  # what errors and logs may show
        headers = {k: expand_env(v, where) for k, v in target.headers.items()}
        self.client = httpx.AsyncClient(
            timeout=target.timeout_s, headers=headers, transport=transport,
            limits=httpx.Limits(max_connections=target.concurrency),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        semaphore = asyncio.Semaphore(self.target.concurrency)

        async def one(d: Delivery) -> Outcome:
            async with semaphore:
                return await self.deliver(d)

        async def batch(ds: list[Delivery]) -> list[Outcome]:
            async with semaphore:
                return await self.deliver_batch(ds)

        if self.target.batch is None:
            return list(await asyncio.gather(*(one(d) for d in deliveries)))
        size = self.target.batch.max_size
        # renames and a flow's commands go one by one
        batched = [d for d in deliveries if d.previous_key is None and d.hop is None]
        chunks: list[list[Delivery]] = []
        for _, group in groupby(sorted(batched, key=lambda d: d.entity), key=lambda d: d.entity):
            items = list(group)
            chunks += [items[i:i + size] for i in range(0, len(items), size)]
        renames = [d for d in deliveries if d.previous_key is not None or d.hop is not None]
        results = await asyncio.gather(*(batch(c) for c in chunks))
        by_id = {o.delivery.id: o for chunk in results for o in chunk}
        by_id.update({o.delivery.id: o for o in await asyncio.gather(*(one(d) for d in renames))})
        return [by_id[d.id] for d in deliveries]

    async def deliver_batch(self, ds: Sequence[Delivery]) -> list[Outcome]:
        """POST <path><suffix> {"items": [...]}; the answer has one result per item, in order:
        {"results": [{"status": 200, "id": ...} | {"status": 422, "detail": ...}]}."""
        assert self.target.batch is not None
        mapping = self.project.entities[ds[0].entity].targets[self.target.name]
        url = f"{self.base_url}{mapping.path}{self.target.batch.suffix}"
        items = [{"key": d.business_key, "version": d.version, "idempotency_key": d.idempotency_key,
                  "operation": "delete" if d.operation == "retire" and mapping.retire == "delete"
                  else "upsert", "payload": d.payload} for d in ds]
        try:
            response = await self.client.post(url, json={"items": items},
                                               headers={"X-MDM-Entity": ds[0].entity})
        except httpx.TransportError as exc:
            error = self.transport_error(exc)
            return [failed(d, error) for d in ds]
        if response.status_code >= 300:
            return [self._outcome(d, response) for d in ds]
        return _batch_outcomes(self.target.name, ds, response, mapping)

    def _url(self, d: Delivery, key: str | None = None) -> str:
        mapping = self.project.entities[d.entity].targets[self.target.name]
        return f"{self.base_url}{mapping.path}/{quote(key or d.business_key, safe='')}"

    async def deliver(self, d: Delivery) -> Outcome:
        headers = {"Idempotency-Key": d.idempotency_key, "X-MDM-Version": str(d.version),
                   "X-MDM-Entity": d.entity}
        if d.hop is not None:
            return await self._command(d, headers)
        mapping = self.project.entities[d.entity].targets[self.target.name]
        try:
            if d.previous_key is not None:
                headers["X-MDM-Previous-Key"] = d.previous_key
                response = await self._rename(d, mapping, headers)
            elif d.operation == "retire" and mapping.retire == "delete":
                response = await self.client.delete(self._url(d), headers=headers)
            else:
                response = await self.client.put(self._url(d), json=d.payload, headers=headers)
        except httpx.TransportError as exc:
            return failed(d, self.transport_error(exc))
        return self._outcome(d, response)

    async def _command(self, d: Delivery, headers: dict[str, str]) -> Outcome:
        """A flow's command: create (POST <path>; the target assigns the key and answers it
        as `id`) or update by link (PATCH <path>/<key> with the hop's fields). The
        Idempotency-Key is the command's: a retry after a crash or a lost answer finds the
        document the first attempt made instead of making a second."""
        assert d.hop is not None
        if d.refused is not None:
            return failed(d, TargetRefused(self.target.name, d.refused))
        hop, back = self.project.command_of(d.hop)
        mapping = hop.back if back else hop.to
        assert mapping is not None
        path = mapping.path or ""
        headers = {**headers, "X-MDM-Hop": d.hop}
        if not back and hop.to is not None and hop.to.steps:
            return await self._steps(d, hop.to, headers)
        try:
            if d.operation == "create":
                response = await self.client.post(f"{self.base_url}{path}", json=d.payload,
                                                  headers=headers)
            else:
                response = await self.client.patch(
                    f"{self.base_url}{path}/{quote(d.business_key, safe='')}", json=d.payload,
                    headers=headers)
        except httpx.TransportError as exc:
            return failed(d, self.transport_error(exc))
        if response.status_code >= 300:  # the system's own message, as its users read it
            body = _json(response)
            detail = body.get("detail") if isinstance(body, dict) and body.get("detail") else None
            return failed(d, status_error(self.target.name, response.status_code,
                                          detail or response.text[:300]))
        return Outcome(d, acked=True, status_code=response.status_code,
                       target_id=_target_id(_json(response)))

    async def _steps(self, d: Delivery, to: HopTo, headers: dict[str, str]) -> Outcome:
        """A create of several calls, in order, from the first not done yet (`progress`):
        each with its own idempotency key, so a step redone after a crash is answered as
        before; a failing step keeps what the earlier ones answered for the retry."""
        assert to.steps is not None
        done = dict(d.progress or {})
        for step in to.steps:
            if step.name in done:
                continue
            body = fill(step.body, done, d.payload)
            try:
                response = await self.client.request(
                    step.method, f"{self.base_url}{step.path}", json=body,
                    headers={**headers, "Idempotency-Key": f"{d.idempotency_key}-{step.name}",
                             "X-MDM-Step": step.name})
            except httpx.TransportError as exc:
                return replace(failed(d, self.transport_error(exc)), progress=done)
            if response.status_code >= 300:
                answer = _json(response)
                detail = answer.get("detail") if isinstance(answer, dict) else None
                error = status_error(self.target.name, response.status_code,
                                     f"step {step.name}: {detail or response.text[:300]}")
                return replace(failed(d, error), progress=done)
            done[step.name] = _json(response)
        key = answer_at(done.get(to.key_from.split(".")[0]), to.key_from.split(".", 1)[1]) \
            if to.key_from and "." in to.key_from else None
        return Outcome(d, acked=True, status_code=200, target_id=None if key is None else str(key),
                       progress=done)

    def transport_error(self, exc: httpx.TransportError) -> TargetUnavailable:
        """A request that got no answer (unreachable, reset, timed out): for later."""
        if isinstance(exc, httpx.TimeoutException):
            return TargetUnavailable(self.target.name,
                                     f"timeout after {self.target.timeout_s}s ({exc!r})")
        return TargetUnavailable(self.target.name, f"cannot reach {self.where}: {exc!r}")

    async def _rename(self, d: Delivery, mapping: TargetMapping,
                      headers: dict[str, str]) -> httpx.Response:
        """The record is at the target under d.previous_key: rename it there (PUT on the old
        resource, the body carrying the new key), or retire the old key and upsert the new."""
        assert d.previous_key is not None
        old = d.previous_key
        if d.operation == "retire" and mapping.retire == "delete":
            return await self.client.delete(self._url(d, old), headers=headers)
        field = key_field(self.project, d.entity, self.target.name)
        if mapping.rename == "in_place" and field is not None and field in d.payload:
            response = await self.client.put(self._url(d, old), json=d.payload, headers=headers)
            if response.status_code == 404:  # nothing under the old key (any more): upsert
                return await self.client.put(self._url(d), json=d.payload, headers=headers)
            if response.status_code != 409:  # 409: the target refuses the rename itself
                return response
            logger.info("rename refused entity=%s key=%s previous_key=%s target=%s: retiring "
                        "the old key instead", d.entity, d.business_key, old, self.target.name)
        retired = await self._retire_old(d, mapping, field, headers)
        if retired.status_code >= 300 and retired.status_code != 404:
            return retired
        return await self.client.put(self._url(d), json=d.payload, headers=headers)

    async def _retire_old(self, d: Delivery, mapping: TargetMapping, field: str | None,
                          headers: dict[str, str]) -> httpx.Response:
        """Retire the record's old key at the target: DELETE, or (retire: flag) the record's
        values under its old key with the active field false."""
        assert d.previous_key is not None
        once = {**headers, "Idempotency-Key": f"{d.idempotency_key}-retire-{d.previous_key}"}
        if mapping.retire == "delete" or mapping.active_field is None:
            return await self.client.delete(self._url(d, d.previous_key), headers=once)
        body = {**d.payload, mapping.active_field: False}
        if field is not None and field in body:
            body[field] = d.previous_key
        return await self.client.put(self._url(d, d.previous_key), json=body, headers=once)

    def _outcome(self, d: Delivery, response: httpx.Response) -> Outcome:
        code = response.status_code
        if code < 300:
            body = _json(response)
            mapping = self.project.entities[d.entity].targets[self.target.name]
            return Outcome(d, acked=True, status_code=code, target_id=_target_id(body),
                           write_back=write_back_values(mapping, body, d.owned))
        return failed(d, status_error(self.target.name, code, response.text[:300]))


def status_error(target: str, code: int, detail: object,
                 in_batch: bool = False) -> TargetRefused | TargetUnavailable:
    """What an answer other than 2xx means: a 4xx other than 408, 425 and 429 refuses the
    delivery; anything else (5xx, those three, an unexpected 3xx, a batch result without a
    status) says "later"."""
    reason = f"HTTP {code}{' (in batch)' if in_batch else ''}: {detail}"
    if 400 <= code < 500 and code not in TRANSIENT_STATUS:
        return TargetRefused(target, reason, code)
    return TargetUnavailable(target, reason, code)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _target_id(body: Any) -> str | None:
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"])
    return None


def _batch_outcomes(target: str, ds: Sequence[Delivery], response: httpx.Response,
                    mapping: TargetMapping) -> list[Outcome]:
    try:
        results = response.json()["results"]
        if not isinstance(results, list) or len(results) != len(ds):
            raise ValueError(f"{len(results)} results for {len(ds)} items")
    except (ValueError, KeyError, TypeError) as exc:  # the target acked something unreadable
        error = TargetUnavailable(target, f"unreadable batch answer: {exc}", response.status_code)
        return [failed(d, error) for d in ds]
    outcomes = []
    for d, result in zip(ds, results, strict=True):
        try:
            code = int(result.get("status", 0))
        except (ValueError, TypeError, AttributeError):
            outcomes.append(failed(d, TargetUnavailable(
                target, f"unreadable batch result: {str(result)[:200]}", response.status_code)))
            continue
        if 200 <= code < 300:
            outcomes.append(Outcome(d, acked=True, status_code=code, target_id=_target_id(result),
                                    write_back=write_back_values(mapping, result, d.owned)))
        else:
            outcomes.append(failed(d, status_error(target, code, result.get("detail"),
                                                   in_batch=True)))
    return outcomes
