"""The CLI's way to a running hub: its REST API, signed in with the token in MDM_TOKEN (the line
`mdm demo` prints, or `mdm users token NAME`). The address is MDM_API_URL, else the running
demo's (from this folder), else http://127.0.0.1:8700."""
from __future__ import annotations

import os
from typing import Any

import httpx

from mdm.errors import MdmError
from mdm.runtime.settings import demo_state


def api_url() -> str:
    if os.environ.get("MDM_API_URL"):
        return os.environ["MDM_API_URL"].rstrip("/")
    demo = demo_state()
    if demo and demo.get("api_url"):
        return demo["api_url"].rstrip("/")
    return "http://127.0.0.1:8700"


def call(method: str, path: str, **kwargs: Any) -> Any:
    token = os.environ.get("MDM_TOKEN")
    if not token:
        raise MdmError("MDM_TOKEN is not set: paste the 'export MDM_TOKEN=…' line that 'mdm demo' "
                       "printed, or issue a token with 'mdm users token NAME'")
    url = api_url()
    try:
        response = httpx.request(method, f"{url}{path}", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as exc:
        raise MdmError(f"cannot reach the hub at {url} ({exc}); is it running? "
                       "(set MDM_API_URL to its address)") from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:300]
        raise MdmError(f"the hub refused ({response.status_code}): {detail}")
    return response.json()
