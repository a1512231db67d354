"""`stream:` of a `format: dingtalk` webhook feed: 钉钉's Stream mode instead of HTTP callbacks.

In Stream mode the hub opens the connection (a WebSocket to 钉钉's gateway, through the
official dingtalk-stream SDK) and 钉钉 pushes the same approval events over it: no public URL,
no callback token or AES key — the app's own credentials authenticate the connection. An event
is acknowledged only after it is durable in the inbox; 钉钉 redelivers what was not
acknowledged (mdm/capture/webhook_stream.py).
"""
from __future__ import annotations

from pydantic import Field

from mdm.config.targets import Spec

GATEWAY = "https://api.dingtalk.com"


class DingTalkStream(Spec):
    client_id: str = Field(description="The app's AppKey (Client ID), as ${VAR}.")
    client_secret: str = Field(description="The app's AppSecret (Client Secret), as ${VAR}.")
    gateway_url: str = Field(GATEWAY, description=(
        "Where connections are opened (POST /v1.0/gateway/connections/open); 钉钉's own "
        "unless a dedicated deployment (专属钉钉) has another."))
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description=(
        "Longest wait between two attempts to (re)open the connection; the wait starts at "
        "1 s and doubles."))
