"""Reading an approval instance back from the platform's API (plain HTTP, httpx), flattened to
the document the entity maps: the instance's fields, `instance_id` its key, and the form values
named in `fetch.fields` as columns.

- 钉钉: GET {base}/gettoken?appkey&appsecret → access_token; POST
  {base}/topapi/processinstance/get?access_token {"process_instance_id"} →
  {"errcode": 0, "process_instance": {title, status, result, business_id, originator_userid,
  originator_dept_id, create_time, finish_time, form_component_values: [{name, value}]}}.
- 企业微信: GET {base}/cgi-bin/gettoken?corpid&corpsecret → access_token; POST
  {base}/cgi-bin/oa/getapprovaldetail?access_token {"sp_no"} → {"errcode": 0, "info": {sp_no,
  sp_name, sp_status, template_id, apply_time, applyer: {userid}, apply_data: {contents:
  [{control, title: [{text}], value: {text | new_number | new_money | …}}]}}}.
- 飞书: POST {base}/open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret} →
  tenant_access_token; GET {base}/open-apis/approval/v4/instances/{id} (Bearer) →
  {"code": 0, "data": {approval_code, approval_name, status, serial_number, user_id,
  department_id, start_time, end_time, form: "<JSON list of {name, value}>"}}.

A 5xx, a timeout or a refused connection is `TransientError` (tried again with backoff); a
platform error code (errcode/code ≠ 0: the instance is unknown, the app may not read it) is
`TerminalError` after the token has been renewed once.
"""
from __future__ import annotations

import json
import time
from typing import Any

import httpx

from mdm.config.feed_webhook import DEFAULT_API, WebhookFeed
from mdm.errors import TerminalError, TransientError


class PlatformApi:
    def __init__(self, spec: WebhookFeed, app_key: str, app_secret: str,
                 base_url: str | None = None) -> None:
        assert spec.fetch is not None
        self.spec, self.fetch = spec, spec.fetch
        self.base = (base_url or DEFAULT_API[spec.format]).rstrip("/")
        self.app_key, self.app_secret = app_key, app_secret
        self.client = httpx.Client(timeout=self.fetch.timeout_s)
        self._token: tuple[str, float] | None = None

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"{self.spec.format} API {path.split('?')[0]}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"{self.spec.format} API {path.split('?')[0]} answered "
                                 f"{response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"{self.spec.format} API answered {response.status_code} "
                                 "without JSON") from None
        code = body.get("errcode", body.get("code", 0)) if isinstance(body, dict) else -1
        if response.status_code >= 400 or code != 0:
            self._token = None  # renewed before the next attempt
            message = body.get("errmsg") or body.get("msg") if isinstance(body, dict) else body
            raise TerminalError(f"{self.spec.format} API {path.split('?')[0]} answered "
                                f"{response.status_code} code={code} {str(message or '')[:200]}")
        assert isinstance(body, dict)
        return body

    def token(self) -> str:
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        fmt = self.spec.format
        if fmt == "feishu":
            body = self._call("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                              json={"app_id": self.app_key, "app_secret": self.app_secret})
            token, ttl = body["tenant_access_token"], body.get("expire", 7200)
        else:
            params = ({"appkey": self.app_key, "appsecret": self.app_secret} if fmt == "dingtalk"
                      else {"corpid": self.app_key, "corpsecret": self.app_secret})
            body = self._call("GET", "/gettoken" if fmt == "dingtalk" else "/cgi-bin/gettoken",
                              params=params)
            token, ttl = body["access_token"], body.get("expires_in", 7200)
        self._token = (str(token), time.monotonic() + max(60.0, float(ttl) - 300))
        return str(token)

    def document(self, instance_id: str) -> dict[str, Any]:
        """The instance as the entity's row."""
        fmt, token = self.spec.format, self.token()
        if fmt == "dingtalk":
            body = self._call("POST", "/topapi/processinstance/get",
                              params={"access_token": token},
                              json={"process_instance_id": instance_id})
            return self._dingtalk(instance_id, body["process_instance"])
        if fmt == "wecom":
            body = self._call("POST", "/cgi-bin/oa/getapprovaldetail",
                              params={"access_token": token}, json={"sp_no": instance_id})
            return self._wecom(instance_id, body["info"])
        body = self._call("GET", f"/open-apis/approval/v4/instances/{instance_id}",
                          headers={"Authorization": f"Bearer {token}"})
        return self._feishu(instance_id, body["data"])

    def _form(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        return {self.fetch.fields[str(n)]: v for n, v in pairs if str(n) in self.fetch.fields}

    def _dingtalk(self, instance_id: str, p: dict[str, Any]) -> dict[str, Any]:
        row = {k: p.get(k) for k in ("title", "status", "result", "business_id",
                                     "originator_userid", "originator_dept_id", "create_time",
                                     "finish_time")}
        form = [(f.get("name"), f.get("value")) for f in p.get("form_component_values") or []]
        return {"instance_id": instance_id, **row, **self._form(form)}

    def _wecom(self, instance_id: str, info: dict[str, Any]) -> dict[str, Any]:
        row = {k: info.get(k) for k in ("sp_name", "sp_status", "template_id", "apply_time")}
        row["applyer_userid"] = (info.get("applyer") or {}).get("userid")
        pairs = []
        for c in (info.get("apply_data") or {}).get("contents") or []:
            title = next((t.get("text") for t in c.get("title") or []), None)
            value = c.get("value") or {}
            pairs.append((title, next((value[k] for k in ("text", "new_number", "new_money")
                                       if value.get(k) not in (None, "")), value or None)))
        return {"instance_id": instance_id, **row, **self._form(pairs)}

    def _feishu(self, instance_id: str, d: dict[str, Any]) -> dict[str, Any]:
        row = {k: d.get(k) for k in ("approval_code", "approval_name", "status",
                                     "serial_number", "user_id", "department_id",
                                     "start_time", "end_time")}
        try:
            form = json.loads(d.get("form") or "[]")
        except ValueError:
            form = []
        pairs = [(f.get("name"), f.get("value")) for f in form if isinstance(f, dict)]
        return {"instance_id": instance_id, **row, **self._form(pairs)}
