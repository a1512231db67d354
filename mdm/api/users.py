"""User administration for admins: `GET/POST /api/v1/users`, `POST /api/v1/users/{name}/disable`
and `…/tokens` (the same operations as `mdm users …`, audited under the admin's name)."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from mdm.api.auth import Admin
from mdm.api.database import Pg
from mdm.steward.users import UserError, add_user, disable_user, issue_token, list_users


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    role: Literal["steward", "auditor", "admin", "service"]
    display_name: str | None = None
    password: str | None = Field(None, description="At least 10 characters; none: token-only.")


def users_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/users", tags=["users"])

    @router.get("")
    def users(conn: Pg, _: Admin) -> list[dict[str, Any]]:
        """Every user with role, state and live tokens."""
        return list_users(conn)

    @router.post("", status_code=201)
    def add(body: NewUser, conn: Pg, who: Admin) -> dict[str, Any]:
        try:
            add_user(conn, body.username, body.role, body.password, body.display_name,
                     actor=who.username)
        except UserError as exc:
            raise HTTPException(409 if "already exists" in str(exc) else 400, str(exc)) from exc
        return {"username": body.username, "role": body.role}

    @router.post("/{username}/disable")
    def disable(username: str, conn: Pg, who: Admin) -> dict[str, Any]:
        if username == who.username:
            raise HTTPException(400, "you cannot disable yourself")
        try:
            disable_user(conn, username, actor=who.username)
        except UserError as exc:
            raise HTTPException(404 if "no user" in str(exc) else 409, str(exc)) from exc
        return {"username": username, "disabled": True}

    @router.post("/{username}/tokens", status_code=201)
    def token(username: str, conn: Pg, who: Admin, name: str = "api") -> dict[str, Any]:
        """A new API token, shown once."""
        try:
            return {"username": username, "token": issue_token(conn, username, name, actor=who.username)}
        except UserError as exc:
            raise HTTPException(404 if "no user" in str(exc) else 409, str(exc)) from exc

    return router
