"""Who may call what. Every /api/v1 endpoint and every page needs a signed-in user — an API
token (`Authorization: Bearer …`) or a browser session (cookie) — and the role decides what
they may do. A request that changes something under a browser session must carry that
session's CSRF token (`X-CSRF-Token` header or `csrf` form field). /healthz, /readyz and
/metrics stay open for load balancers and Prometheus (they carry counts, not master data).

Authentication happens in the Guard middleware (mdm.api.guard), before routing, before any
body is read and before the route takes its database connection; these dependencies only
check the role it found."""
from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from mdm.api.database import raw
from mdm.errors import Forbidden, Unauthorized
from mdm.steward.users import Principal, by_session, by_token

UNAUTHORISED = ("sign in: send 'Authorization: Bearer <token>' ('mdm users token NAME' issues "
                "one), or sign in at /login")

READ = ("steward", "auditor", "admin")  # records, history, lineage, tasks, the audit log
DECIDE = ("steward", "admin")  # resolve tasks
ADMINISTER = ("admin",)  # retry and replay deliveries, users, configuration
INGEST = ("service",)  # post change events (Debezium Server's HTTP sink); nothing else
SESSION_COOKIE = "mdm_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Caller:
    who: Principal
    csrf: str | None  # the session's CSRF token; None when signed in with an API token


def authenticate(engine: Engine, authorization: str, cookie: str | None) -> Caller | None:
    """Who presents these credentials: one short-lived pooled connection, given back before
    the route takes its own (so a request never holds two, and a flood of strangers none)."""
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    if not bearer and not cookie:
        return None
    if "\x00" in bearer or (cookie and "\x00" in cookie):
        return None
    with engine.connect() as conn:
        pg = raw(conn)
        if bearer:
            found = by_token(pg, bearer)
            pg.commit()  # last_used_at
            return None if found is None else Caller(found, None)
        assert cookie is not None
        session = by_session(pg, cookie)
        pg.commit()
        return None if session is None else Caller(session[0], session[1])


def caller_of(request: Request) -> Caller | None:
    """The caller the Guard middleware authenticated before routing (no database here)."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    return caller


def csrf_ok(caller: Caller, presented: str | None) -> bool:
    return caller.csrf is None or (presented is not None and hmac.compare_digest(caller.csrf, presented))


def require(*roles: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    async def check(request: Request) -> Principal:  # async: no thread, no connection
        caller = caller_of(request)
        if caller is None:
            raise Unauthorized(UNAUTHORISED)
        if request.method not in SAFE_METHODS and not csrf_ok(caller, request.headers.get("x-csrf-token")):
            raise Forbidden("CSRF token missing or wrong: reload the page and try again", "csrf")
        if caller.who.role not in roles:
            raise Forbidden(f"{caller.who.username} is a {caller.who.role}; this needs "
                            f"{' or '.join(roles)}")
        return caller.who
    return check


Reader = Annotated[Principal, Depends(require(*READ))]
Decider = Annotated[Principal, Depends(require(*DECIDE))]
Admin = Annotated[Principal, Depends(require(*ADMINISTER))]
Ingester = Annotated[Principal, Depends(require(*INGEST))]
