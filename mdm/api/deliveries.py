"""Delivery endpoints: retry one delivery, replay records to a target (`/api/v1/deliveries…`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from mdm.api.auth import Admin, Reader
from mdm.api.database import Pg
from mdm.propagate.outbox import OUTBOX_CHANNEL
from mdm.propagate.replay import replay


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
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT id, golden_id, version, entity, business_key, target, operation, status, "
                "idempotency_key, attempts, response_status, target_id, last_error, payload, "
                "created_at, sent_at, acked_at FROM delivery WHERE id = %s", (delivery_id,)).fetchone()
        if row is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return row

    @router.post("/{delivery_id}/retry")
    def retry(delivery_id: int, conn: Pg, _: Admin) -> dict[str, Any]:
        """A dead or failed delivery is due now, with its attempts counted from zero (same
        idempotency key: it is the same version)."""
        with conn.transaction():
            row = conn.execute(
                "UPDATE delivery SET status = 'pending', attempts = 0, "
                "next_attempt_at = clock_timestamp() WHERE id = %s AND status IN ('dead', 'failed') "
                "RETURNING id", (delivery_id,)).fetchone()
            if row is None:
                found = conn.execute("SELECT status FROM delivery WHERE id = %s",
                                     (delivery_id,)).fetchone()
                if found is None:
                    raise HTTPException(404, f"no delivery {delivery_id}")
                raise HTTPException(409, f"delivery {delivery_id} is {found[0]}, not dead or failed")
            conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        return {"id": delivery_id, "status": "pending"}

    @router.post("/replay")
    def replay_records(body: ReplayRequest, request: Request, conn: Pg, _: Admin) -> dict[str, Any]:
        """Re-send the current version of the chosen records to a target (`mdm replay`)."""
        if body.since is not None and body.since.tzinfo is None:
            raise HTTPException(422, "since needs a UTC offset, e.g. 2026-11-01T08:00+08:00")
        try:
            result = replay(conn, request.app.state.project, body.entity, body.target, body.key,
                            body.since)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {"queued": result.queued, "quarantined": result.quarantined}

    return router
