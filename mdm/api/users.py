"""User administration for admins: `GET/POST /api/v1/users`, `POST /api/v1/users/{name}/disable`,
`…/unlock`, and tokens: issue, list (with last use), revoke one (the same operations as
`mdm users …`, audited under the admin's name)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mdm.api.auth import Admin
from mdm.api.database import Id, Pg
from mdm.errors import InvalidRequest
from mdm.steward.signin import unlock
from mdm.steward.users import (
    MAX_TOKEN_DAYS,
    add_user,
    disable_user,
    issue,
    list_tokens,
    list_users,
    revoke_token,
)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\s\x00]+$",
                          description="One word, e.g. li.na.")
    role: Literal["steward", "auditor", "admin", "service"]
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=10, max_length=1000,
                                 description="At least 10 characters; none: token-only.")


def users_router() -> APIRouter:
    """Refusals come from the use cases (NotFound 404, AlreadyExists and Conflict 409,
    InvalidRequest 400) and are answered by mdm.api.errors."""
    router = APIRouter(prefix="/api/v1/users", tags=["users"])

    @router.get("")
    def users(_: Admin, conn: Pg) -> list[dict[str, Any]]:
        """Every user with role, state (disabled, locked after failed sign-ins) and live tokens."""
        return list_users(conn)

    @router.post("", status_code=201)
    def add(body: NewUser, who: Admin, conn: Pg) -> dict[str, Any]:
        add_user(conn, body.username, body.role, body.password, body.display_name,
                 actor=who.username)
        return {"username": body.username, "role": body.role}

    @router.post("/{username}/disable")
    def disable(username: str, who: Admin, conn: Pg) -> dict[str, Any]:
        if username == who.username:
            raise InvalidRequest("you cannot disable yourself", "username")
        disable_user(conn, username, actor=who.username)
        return {"username": username, "disabled": True}

    @router.post("/{username}/unlock")
    def unlock_user(username: str, who: Admin, conn: Pg) -> dict[str, Any]:
        """Lift the lockout after failed sign-ins (and forget the name's failures)."""
        was_locked = unlock(conn, username, actor=who.username)
        return {"username": username, "was_locked": was_locked}

    @router.post("/{username}/tokens", status_code=201)
    def token(username: str, request: Request, who: Admin, conn: Pg,
              name: Annotated[str, Query(min_length=1, max_length=100)] = "api",
              days: Annotated[int | None, Query(ge=1, le=MAX_TOKEN_DAYS, description=(
                  "Lifetime in days (default MDM_API_TOKEN_DAYS, 90)."))] = None) -> dict[str, Any]:
        """A new API token, shown once, with its id and expiry."""
        lifetime = days or request.app.state.settings.api.token_days
        made = issue(conn, username, name, actor=who.username, days=lifetime)
        return {"username": username, "token": made.token, "id": made.id, "prefix": made.prefix,
                "expires_at": made.expires_at}

    @router.get("/{username}/tokens")
    def tokens(username: str, _: Admin, conn: Pg) -> list[dict[str, Any]]:
        """The user's tokens, newest first: state (live, expired, revoked), expiry, last use."""
        return list_tokens(conn, username)

    @router.post("/{username}/tokens/{token_id}/revoke")
    def revoke(username: str, token_id: Id, who: Admin, conn: Pg) -> dict[str, Any]:
        """Revoke one token: it stops working at once."""
        revoke_token(conn, username, token_id, actor=who.username)
        return {"username": username, "id": token_id, "revoked": True}

    return router
