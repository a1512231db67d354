"""Process settings, from the environment (and command-line overrides). Built in functions,
never at import time, so tests inject their own."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mdm.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_STATE = Path(".mdm") / "demo" / "demo.json"


@dataclass(frozen=True)
class ApiLimits:
    """The API's limits under load and attack; each is `MDM_API_<NAME>` in the environment
    (e.g. MDM_API_POOL_SIZE=20). See README, "Hardening: the API under load and attack"."""

    pool_size: int = 10  # requests served at once, each with one hub connection at most
    pool_timeout_s: float = 10.0  # a request waits this long for its turn, then 503 + Retry-After
    statement_timeout_ms: int = 30_000  # one API query at most, then 503
    max_body_bytes: int = 1 << 20  # request bodies (413 beyond)
    max_ingest_body_bytes: int = 64 << 20  # POST /api/v1/ingest/debezium
    token_days: int = 90  # lifetime of a new API token
    signin_free_failures: int = 5  # failed sign-ins (per user, per address) before delays
    signin_first_delay_s: int = 1  # the first delay; each further failure doubles it
    signin_max_delay_s: int = 900  # … up to this
    signin_lockout_failures: int = 20  # a user's failures in a row: locked until an admin unlocks
    signin_window_s: int = 3600  # failures older than this are forgotten (not a lockout)
    signin_concurrency: int = 4  # sign-ins at once (argon2, 64 MiB each); their own connections

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ApiLimits:
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"MDM_API_{f.name.upper()}"
            if name in env:
                kind = float if f.type in (float, "float") else int
                try:
                    values[f.name] = kind(env[name])
                except ValueError:
                    raise ConfigError(name, [f"{name}={env[name]!r} is not a number"]) from None
                if values[f.name] <= 0:
                    raise ConfigError(name, [f"{name} must be above 0"])
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    state_dir: Path
    database_url: str | None
    api_host: str = "127.0.0.1"
    api_port: int = 8700
    # The audit chain's key and where its head is recorded, outside the database (README:
    # "Hardening: an audit log that proves itself"); None: in state_dir.
    audit_key_file: Path | None = None
    audit_head_file: Path | None = None
    api: ApiLimits = field(default_factory=lambda: ApiLimits())

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError("MDM_DATABASE_URL", [
                "the hub database is not set: export MDM_DATABASE_URL=postgresql://user:pw@host/db "
                "(or start 'mdm demo' in this folder)"])
        return self.database_url

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.state_dir / "audit.key"

    @property
    def audit_head_path(self) -> Path:
        return self.audit_head_file or self.state_dir / "audit-head"


def demo_state(folder: Path | None = None) -> dict[str, str] | None:
    """What a running `mdm demo` started from `folder` (default: cwd) wrote about itself."""
    path = (folder or Path.cwd()) / DEMO_STATE
    if not path.exists():
        return None
    data: dict[str, str] = json.loads(path.read_text())
    return data


def load_settings() -> Settings:
    project = Path(os.environ.get("MDM_PROJECT_DIR", ".")).resolve()
    state = Path(os.environ.get("MDM_STATE_DIR", project / ".mdm")).resolve()
    url = os.environ.get("MDM_DATABASE_URL")
    demo = demo_state() if url is None else None
    if url is None:
        url = demo.get("hub_url") if demo else None
        # In the folder of a running demo, its ERP/OA/WMS addresses fill the project's ${…}.
        for key, name in (("erp_url", "MDM_ERP_URL"), ("oa_url", "MDM_OA_URL"),
                          ("wms_url", "MDM_WMS_URL"), ("oa_db_url", "MDM_OA_DB_URL"),
                          ("wms_db_url", "MDM_WMS_DB_URL"), ("erp_api_url", "MDM_ERP_API_URL")):
            if demo and demo.get(key):
                os.environ.setdefault(name, demo[key])
    return Settings(
        project_dir=project, state_dir=state, database_url=url,
        api_host=os.environ.get("MDM_API_HOST", "127.0.0.1"),
        api_port=int(os.environ.get("MDM_API_PORT", "8700")),
        api=ApiLimits.from_env(),
        audit_key_file=_audit_path("MDM_AUDIT_KEY_FILE", demo, "audit_key_file"),
        audit_head_file=_audit_path("MDM_AUDIT_HEAD_FILE", demo, "audit_head_file"),
    )


def _audit_path(variable: str, demo: dict[str, str] | None, name: str) -> Path | None:
    """The environment's path, else (in a running demo's folder) the demo's."""
    value = os.environ.get(variable) or (demo or {}).get(name)
    return Path(value).expanduser().resolve() if value else None
