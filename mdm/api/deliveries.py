"""Delivery endpoints: one delivery, retry it, replay records to a target (`/api/v1/deliveries…`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from mdm.api.auth import Admin, Reader
from mdm.api.database import Pg
from mdm.errors import InvalidParameter
from mdm.steward import redelivery


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: str
    target: str
    key: str | None = Field(None, description="One record's business key (default: all).")
    since: datetime | None = Field(None, description="Only records changed at or after this.")


def deliveries_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])

    @router.get("/{delivery_id}")
    def delivery(delivery_id: int, conn: Pg, _: Reader) -> dict[str, Any]:
        """One delivery: what was sent, to whom, how it went and the target's answer."""
        return redelivery.find_delivery(conn, delivery_id)

    @router.post("/{delivery_id}/retry")
    def retry(delivery_id: int, request: Request, conn: Pg, admin: Admin) -> dict[str, Any]:
        """Send a dead or failed delivery again, with fresh attempts: the record's current
        releasable version (this delivery when it carries it, with its idempotency key).
        409 when a newer version already reached the target (it would put old data back) or
        the delivery is not dead or failed. Audit-logged with the admin's name."""
        return redelivery.retry(conn, request.app.state.project, delivery_id,
                                admin.username).as_dict()

    @router.post("/replay")
    def replay_records(body: ReplayRequest, request: Request, conn: Pg,
                       admin: Admin) -> dict[str, Any]:
        """Re-send the current version of the chosen records to a target (`mdm replay`);
        audit-logged with the admin's name."""
        if body.since is not None and body.since.tzinfo is None:
            raise InvalidParameter("since", "since needs a UTC offset, e.g. 2026-11-01T08:00+08:00")
        result = redelivery.replay_records(conn, request.app.state.project, body.entity,
                                           body.target, admin.username, body.key, body.since)
        return {"queued": result.queued, "quarantined": result.quarantined}

    return router
