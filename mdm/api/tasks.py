"""Task endpoints: list, show and resolve steward tasks (`/api/v1/tasks…`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from mdm.api.auth import Decider, Reader
from mdm.api.database import Id, Limit, Offset, Pg
from mdm.errors import Forbidden
from mdm.model.tasks import TaskFilter
from mdm.steward import change_requests, workbench
from mdm.store.repositories import tasks


class Resolution(BaseModel):
    """A steward's decision on a task."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "approve_edited", "push", "change_request", "retry", "waive"] = Field(
        description="approve: release a quarantined version; approve_edited: a new version with "
        "`values`; push: send the golden value to the diverged target again; change_request: "
        "accept the target's value as a change request to the ERP; retry: a dead "
        "delivery is due again; waive: close with a `reason`.")
    actor: str | None = Field(None, description="Deprecated: the decision is the signed-in "
                              "user's; if given, it must be that user's name.")
    reason: str | None = None
    values: dict[str, Any] | None = Field(None, description="approve_edited: attribute → value.")


def tasks_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

    @router.get("")
    def list_tasks(_: Reader, conn: Pg, status: str | None = "open", type: str | None = None,
                   entity: str | None = None, system: str | None = None,
                   since: datetime | None = None, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """Tasks, newest first (status=all for every status), and open counts per type."""
        found = tasks.list_tasks(conn, TaskFilter(
            None if status == "all" else status, type, entity, system, since, limit, offset))
        return {"open": tasks.count_open(conn), "tasks": found}

    @router.get("/{task_id}")
    def show_task(task_id: Id, _: Reader, conn: Pg) -> dict[str, Any]:
        return workbench.find_task(conn, task_id)

    @router.post("/{task_id}/resolve")
    def resolve(task_id: Id, body: Resolution, request: Request, who: Decider,
                conn: Pg) -> dict[str, Any]:
        """Decide a task as the signed-in steward (or admin)."""
        if body.actor is not None and body.actor != who.username:
            raise Forbidden(f"signed in as {who.username}: you cannot decide as {body.actor}",
                            "actor")
        return workbench.decide(conn, request.app.state.project, task_id, body.action,
                                who.username, body.reason, body.values).as_dict()

    return router


def change_requests_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["tasks"])

    @router.get("/change-requests")
    def list_change_requests(_: Reader, conn: Pg, status: str = "open") -> list[dict[str, Any]]:
        """System values stewards accepted, for the ERP team (status=all for every one)."""
        return change_requests.list_requests(conn, None if status == "all" else status)

    @router.get("/change-requests.csv", response_class=Response, responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "The change requests as CSV."}})
    def export_change_requests(_: Reader, conn: Pg, status: str = "open") -> Response:
        """The same as CSV (UTF-8 with BOM, opens in Excel with the Chinese intact)."""
        body = change_requests.as_csv(change_requests.list_requests(conn, None if status == "all" else status))
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="change-requests.csv"'})

    return router
