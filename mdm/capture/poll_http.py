"""HTTP for a poll feed: one client per feed (base URL, auth header, timeout), at most
`rate_limit_per_s` requests a second, and the API's failures translated once: connection
problems, timeouts, 5xx, 408, 425 and 429 are ApiUnavailable (a TransientError: retried with
backoff); other 4xx and answers that are not the JSON configured are ApiRefused (recorded as
the feed's last error with the API's own message, retried at the poll interval)."""
from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from mdm.config.feed_poll import PollFeed
from mdm.config.loader import expand_env
from mdm.config.urls import redact
from mdm.errors import TerminalError, TransientError

TRANSIENT_STATUS = {408, 425, 429}


class ApiUnavailable(TransientError):
    """The API cannot answer now (unreachable, timeout, 5xx, 408/425/429)."""


class ApiRefused(TerminalError):
    """The API refused the request (4xx) or answered what the feed cannot read."""


class PollClient:
    def __init__(self, spec: PollFeed, stop: threading.Event,
                 transport: httpx.BaseTransport | None = None) -> None:
        where = f"cdc/{spec.name}.yaml"
        headers = {k: expand_env(v, where) for k, v in spec.headers.items()}
        if spec.auth is not None:
            token = expand_env(spec.auth.token, where)
            headers[spec.auth.header] = f"{spec.auth.scheme} {token}".strip()
        self.base_url = expand_env(spec.base_url, where).rstrip("/")
        self.shown = redact(self.base_url)
        self.client = httpx.Client(timeout=spec.timeout_s, headers=headers, transport=transport)
        self.spacing = 1.0 / spec.rate_limit_per_s
        self.next_at = 0.0
        self.stop = stop
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """The JSON answer of GET base_url + path ? params."""
        self._wait_turn()
        self.requests += 1
        where = f"GET {self.shown}{path}"
        try:
            answer = self.client.get(self.base_url + path, params=params)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(f"{where}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"{where}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code in TRANSIENT_STATUS:
            raise ApiUnavailable(f"{where}: HTTP {answer.status_code} {_message(answer)}")
        if answer.status_code >= 400:
            raise ApiRefused(f"{where}: HTTP {answer.status_code} {_message(answer)}")
        try:
            return answer.json()
        except ValueError as exc:
            raise ApiRefused(f"{where}: the answer is not JSON ({answer.text[:120]!r})") from exc

    def _wait_turn(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            self.stop.wait(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.spacing


def _message(answer: httpx.Response) -> str:
    """The API's own words: a JSON message/msg/error/detail field, else the text's start."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    if isinstance(body, dict):
        for name in ("message", "msg", "error", "detail", "errmsg", "Message"):
            if body.get(name):
                return str(body[name])[:300]
    return str(body)[:300]


def at_path(body: Any, dotted: str) -> Any:
    """The value at a dotted path (`data.items`; `$` for the answer itself); KeyError if absent."""
    if dotted == "$":
        return body
    value = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value
