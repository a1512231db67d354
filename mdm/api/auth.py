"""Who may call what. Every /api/v1 endpoint and every page needs a signed-in user — an API
token (`Authorization: Bearer …`) or a browser session (cookie) — and the role decides what
they may do. A request that changes something under a browser session must carry that
session's CSRF token (`X-CSRF-Token` header or `csrf` form field). /healthz, /readyz and
/metrics stay open for load balancers and Prometheus (they carry counts, not master data)."""
from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from mdm.api.database import raw
from mdm.steward.users import Principal, by_session, by_token

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


def caller_of(request: Request) -> Caller | None:
    engine: Engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    with engine.connect() as conn:
        pg = raw(conn)
        if scheme.lower() == "bearer" and token.strip():
            found = by_token(pg, token.strip())
            pg.commit()  # last_used_at
            return None if found is None else Caller(found, None)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session = by_session(pg, cookie)
            if session is not None:
                return Caller(session[0], session[1])
    return None


def csrf_ok(caller: Caller, presented: str | None) -> bool:
    return caller.csrf is None or (presented is not None and hmac.compare_digest(caller.csrf, presented))


def require(*roles: str) -> Callable[[Request], Principal]:
    def check(request: Request) -> Principal:
        caller = caller_of(request)
        if caller is None:
            raise HTTPException(401, "sign in: send 'Authorization: Bearer <token>' "
                                     "('mdm users token NAME' issues one), or sign in at /login",
                                headers={"WWW-Authenticate": "Bearer"})
        if request.method not in SAFE_METHODS and not csrf_ok(caller, request.headers.get("x-csrf-token")):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
        if caller.who.role not in roles:
            raise HTTPException(403, f"{caller.who.username} is a {caller.who.role}; this needs "
                                     f"{' or '.join(roles)}")
        return caller.who
    return check


Reader = Annotated[Principal, Depends(require(*READ))]
Decider = Annotated[Principal, Depends(require(*DECIDE))]
Admin = Annotated[Principal, Depends(require(*ADMINISTER))]
Ingester = Annotated[Principal, Depends(require(*INGEST))]
