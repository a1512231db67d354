"""Who may call what. Every /api/v1 endpoint and every page needs a signed-in user: an API
token (`Authorization: Bearer …`); the role decides what they may do. /healthz, /readyz and
/metrics stay open for load balancers and Prometheus (they carry counts, not master data)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from mdm.steward.users import Principal, by_token

READ = ("steward", "auditor", "admin")  # records, history, lineage, tasks, the audit log
DECIDE = ("steward", "admin")  # resolve tasks
ADMINISTER = ("admin",)  # retry and replay deliveries, users


def principal_of(request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        found = by_token(conn.connection.driver_connection, token.strip())  # type: ignore[arg-type]
        conn.commit()
    return found


def require(*roles: str) -> Callable[[Request], Principal]:
    def check(request: Request) -> Principal:
        who = principal_of(request)
        if who is None:
            raise HTTPException(401, "sign in: send 'Authorization: Bearer <token>' "
                                     "('mdm users token NAME' issues one)",
                                headers={"WWW-Authenticate": "Bearer"})
        if who.role not in roles:
            raise HTTPException(403, f"{who.username} is a {who.role}; this needs "
                                     f"{' or '.join(roles)}")
        return who
    return check


Reader = Annotated[Principal, Depends(require(*READ))]
Decider = Annotated[Principal, Depends(require(*DECIDE))]
Admin = Annotated[Principal, Depends(require(*ADMINISTER))]
