"""`kind: webhook`: a system calls the hub back (POST /api/v1/webhooks/{source}).

A SaaS OA (钉钉 DingTalk, 企业微信 WeCom, 飞书 Feishu/Lark) has no database the hub could read:
it calls the hub when an approval changes state. `format:` names the platform's callback
scheme (signature, encryption, event shape; mdm/capture/webhook_crypto.py cites the sources);
`hmac` is a generic signed POST whose body is the document itself.

Secrets (token, aes_key, owner_key, encrypt_key, secret, fetch.app_key, fetch.app_secret) are
written `${VAR}` (environment or $MDM_SECRETS_FILE) or `${file:/path}` (a mounted secret) and
expanded when used: a literal secret in the project file is refused.

`format: dingtalk` with `stream:` receives 钉钉's events over its Stream mode (a connection the
hub opens, mdm/config/feed_stream.py) instead of HTTP callbacks.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mdm.config.feed_base import FeedBase
from mdm.config.feed_stream import DingTalkStream
from mdm.config.targets import Spec

FORMATS = ("dingtalk", "wecom", "feishu", "hmac")
# The approval events each platform sends when an instance changes state.
DEFAULT_EVENTS: dict[str, tuple[str, ...]] = {
    "dingtalk": ("bpms_instance_change",),
    "wecom": ("sys_approval_change",),
    "feishu": ("approval_instance",),
    "hmac": (),
}
DEFAULT_API: dict[str, str] = {
    "dingtalk": "https://oapi.dingtalk.com",
    "wecom": "https://qyapi.weixin.qq.com",
    "feishu": "https://open.feishu.cn",
}


SECRET_KEYS = ("token", "aes_key", "owner_key", "encrypt_key", "secret")
FETCH_SECRET_KEYS = ("app_key", "app_secret")
STREAM_SECRET_KEYS = ("client_id", "client_secret")
Secret = str  # a ${VAR} / ${file:/path} reference, checked by WebhookFeed._no_literal_secret


def _literal_secrets(data: Any) -> list[str]:
    """The secret keys written as a value rather than a ${…} reference (never the value)."""
    if not isinstance(data, dict):
        return []
    found = [k for k in SECRET_KEYS if isinstance(data.get(k), str) and "${" not in data[k]]
    fetch = data.get("fetch")
    if isinstance(fetch, dict):
        found += [f"fetch.{k}" for k in FETCH_SECRET_KEYS
                  if isinstance(fetch.get(k), str) and "${" not in fetch[k]]
    stream = data.get("stream")
    if isinstance(stream, dict):
        found += [f"stream.{k}" for k in STREAM_SECRET_KEYS
                  if isinstance(stream.get(k), str) and "${" not in stream[k]]
    return found


class FetchBack(Spec):
    """Where the full document is read back when the callback carries only its id."""

    api_base_url: str | None = Field(None, description=(
        "The platform's API (default: https://oapi.dingtalk.com, https://qyapi.weixin.qq.com, "
        "https://open.feishu.cn)."))
    app_key: Secret = Field(description="钉钉 AppKey, 企业微信 corpid, 飞书 App ID (${VAR}).")
    app_secret: Secret = Field(description="钉钉 AppSecret, 企业微信 the approval app's "
                               "secret, 飞书 App Secret (${VAR}).")
    fields: dict[str, str] = Field(default_factory=dict, description=(
        "Form field (control) name → the document's column, e.g. {金额: amount}; other form "
        "fields are not kept."))
    retries: int = Field(8, ge=0, le=100, description="Attempts after the first before the "
                         "callback is kept failed with the last error.")
    backoff_s: float = Field(1.0, gt=0, le=3600, description="First wait between attempts; "
                             "doubles each time.")
    max_backoff_s: float = Field(60.0, gt=0, le=86400, description="Longest wait.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="One HTTP call's timeout.")


class WebhookFeed(FeedBase):
    kind: Literal["webhook"]
    format: Literal["dingtalk", "wecom", "feishu", "hmac"] = Field(description=(
        "The callback scheme: dingtalk (HTTP event callback, encrypted), wecom (企业微信 "
        "callback, XML, encrypted), feishu (飞书 event subscription, X-Lark-Signature), hmac "
        "(HMAC-SHA256 over timestamp.body)."))
    table: str = Field(description="The documents' table name, as an entity's `table:` "
                       "names it (e.g. saas_oa.approval_instance).")
    token: Secret | None = Field(None, description="钉钉/企业微信 the callback Token; 飞书 the "
                                 "Verification Token (checked when given).")
    aes_key: Secret | None = Field(None, description="钉钉/企业微信 the 43-character "
                                   "EncodingAESKey.")
    owner_key: Secret | None = Field(None, description="钉钉 the AppKey (event subscription) or "
                                     "corpId; 企业微信 the corpid: the plaintext's tail is "
                                     "checked against it.")
    encrypt_key: Secret | None = Field(None, description="飞书 the Encrypt Key (signature and "
                                       "decryption).")
    secret: Secret | None = Field(None, description="hmac: the shared secret.")
    signature_header: str = Field("X-Signature", description="hmac: the signature's header "
                                  "(hex, optionally 'sha256=' prefixed).")
    timestamp_header: str = Field("X-Timestamp", description="hmac: the Unix-time header.")
    event_id_header: str | None = Field("X-Event-Id", description="hmac: the event id's "
                                        "header; without one the body's hash identifies it.")
    key_field: str = Field("id", description="hmac: the document field that is its key.")
    max_age_s: int = Field(300, ge=1, le=86400, description="Replay window: a callback whose "
                           "timestamp is further than this from now (past or future) is refused.")
    events: list[str] | None = Field(None, description=(
        "The event types kept (default: the platform's approval events); others are answered "
        "and not stored."))
    fetch: FetchBack | None = Field(None, description=(
        "Read the full instance back from the platform's API (the callback carries only its "
        "id); without it the callback's own fields are the document."))
    stream: DingTalkStream | None = Field(None, description=(
        "format dingtalk: receive the events over 钉钉's Stream mode (the hub connects out; no "
        "public URL, no token/aes_key/owner_key) instead of HTTP callbacks."))

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secret(cls, data: Any) -> Any:
        literal = _literal_secrets(data)
        if literal:  # the message names the key, never the value
            raise ValueError(f"{literal[0]}: a secret is not written in the project file: write "
                             "it as ${VAR} (environment or $MDM_SECRETS_FILE) or ${file:/path}"
                             + (f" (also {', '.join(literal[1:])})" if literal[1:] else ""))
        return data

    @model_validator(mode="after")
    def _secrets_of_the_format(self) -> WebhookFeed:
        needed = {"dingtalk": ("token", "aes_key", "owner_key"),
                  "wecom": ("token", "aes_key", "owner_key"),
                  "feishu": ("encrypt_key",), "hmac": ("secret",)}[self.format]
        if self.stream is not None:
            if self.format != "dingtalk":
                raise ValueError(f"stream: 钉钉's Stream mode is for format dingtalk, not "
                                 f"{self.format}")
            needed = ()  # the connection is authenticated by the app's credentials
        missing = [k for k in needed if getattr(self, k) is None]
        if missing:
            raise ValueError(f"format {self.format} needs {', '.join(missing)} (as ${{VAR}})")
        if self.fetch is not None and self.format == "hmac":
            raise ValueError("fetch: an hmac callback's body is the document; nothing to fetch")
        return self

    def event_types(self) -> tuple[str, ...]:
        return tuple(self.events) if self.events is not None else DEFAULT_EVENTS[self.format]

    def callbacks_table(self) -> str:
        """Where a callback waiting for its fetch-back is kept (no entity maps it)."""
        return f"{self.table}.callback"
