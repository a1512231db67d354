"""Propagation commands: `mdm replay ENTITY [KEY] --target T [--since T]` (through the hub's API)."""
from __future__ import annotations

from typing import Annotated, Any

import typer

from mdm.cli.client import call
from mdm.cli.hub import instant
from mdm.cli.main import console
from mdm.errors import MdmError


def replay_cmd(
    entity: Annotated[str, typer.Argument(help="Entity, e.g. supplier.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target to re-send to (targets/<name>.yaml).")],
    key: Annotated[str | None, typer.Argument(help="Business key of one record (default: all).")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only records changed at or after this instant (ISO 8601 with offset, e.g. "
             "2026-11-01T08:00+08:00).")] = None,
) -> None:
    """Re-send the current version of ENTITY's records (or one KEY) to a target.

    Each re-sent delivery has an idempotency key of its own, so the target applies it again;
    quarantined versions are not re-sent, and an older version never is: this is also how to
    send the current version when retrying an old dead delivery is refused (409). The running
    propagation process picks them up. Recorded in the audit log under the admin's name.
    Asks the running hub (token in MDM_TOKEN of an admin, address in MDM_API_URL).
    """
    body: dict[str, Any] = {"entity": entity, "target": target, "key": key,
                            "since": instant(since, "--since").isoformat() if since else None}
    result = call("POST", "/api/v1/deliveries/replay", json=body)
    what = f"{entity} {key}" if key else f"{entity} records" + (f" changed since {since}" if since else "")
    console.print(f"queued {result['queued']} deliveries to {target} ({what})")
    if result["quarantined"]:
        console.print(f"[yellow]{result['quarantined']} quarantined current version(s) not re-sent: "
                      "'mdm tasks list --type rule_violation' shows them[/yellow]")
    if key and result["queued"] == 0 and not result["quarantined"]:
        raise MdmError(f"no golden record {entity} {key!r}")


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
