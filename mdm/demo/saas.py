"""`mdm demo --oa saas`: the demo's OA read the SaaS way. Its purchase requests come from the
OA's HTTP API by polling (cdc/oa_api.yaml, kind poll) instead of its database, and every
approval state change calls the hub back in 钉钉's callback format (cdc/oa_approvals.yaml,
kind webhook). The project is the demo's with the overlay in mdm/demo/saas_project/ laid over
it; the demo OA serves the lists and sends the callbacks (mdm/demo/saas_oa.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

OA_MODES = ("database", "saas")
OVERLAY = Path(__file__).resolve().parent / "saas_project"
WEBHOOK_SOURCE = "oa_approvals"
# The demo's own secrets (a real 钉钉 app has its callback Token, a 43-character
# EncodingAESKey and its AppKey); both the hub and the demo OA take them from the environment.
DEMO_SECRETS = {
    "MDM_SAAS_DING_TOKEN": "mdm-demo-callback-token",
    "MDM_SAAS_DING_AES_KEY": "p2mcP3VxAkbcYHf4aRnsn5GBvoDXe6b1O+JBKhl64ws",
    "MDM_SAAS_DING_APP_KEY": "dingmdmdemo",
    "MDM_SAAS_OA_API_TOKEN": "mdm-demo-oa-api-token",
}
CALLBACK_URL_ENV = "MDM_SAAS_OA_CALLBACK_URL"  # set: the demo OA calls the hub back there


def project_with_saas_oa(project: Path, into: Path) -> Path:
    """A copy of `project` (made again each time) with the saas overlay's files laid over it:
    the purchase requests' entity and flow replaced, the poll and webhook sources added."""
    from mdm.config.loader import PROJECT_FOLDERS

    if into.exists():
        shutil.rmtree(into)
    for folder in PROJECT_FOLDERS:
        if (project / folder).is_dir():
            shutil.copytree(project / folder, into / folder)
    for path in sorted(OVERLAY.rglob("*.yaml")):
        dest = into / path.relative_to(OVERLAY)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return into


def saas_env(api_url: str) -> dict[str, str]:
    """What the hub and the demo OA need in their environment for saas mode."""
    return {**DEMO_SECRETS, CALLBACK_URL_ENV: f"{api_url}/api/v1/webhooks/{WEBHOOK_SOURCE}"}


def approval_callbacks(hub_url: str, request_no: str) -> str:
    """What the hub holds of a request's approval callbacks, as `mdm demo --oa saas` prints
    it: the oa_approval instance's versions (start, then finish with its result)."""
    import psycopg

    instance = f"pi-{request_no}"
    with psycopg.connect(hub_url, autocommit=True) as conn:
        versions = conn.execute(
            "SELECT v.version, v.attributes->>'type', v.attributes->>'result', "
            "v.attributes->>'staff_id' FROM golden_version v JOIN golden_record g ON "
            "g.id = v.golden_id WHERE g.entity = 'oa_approval' AND g.business_key = %s "
            "ORDER BY v.version", (instance,)).fetchall()
    if not versions:
        return f"  OA approval callbacks (钉钉 format): none stored yet for {instance}"
    shown = ", ".join(f"v{v} {kind}" + (f" {result}" if result else "") + f" by {who}"
                      for v, kind, result, who in versions)
    return (f"  OA approval callbacks (钉钉 format) → golden oa_approval {instance}: {shown}"
            f"   (mdm records oa_approval {instance})")
