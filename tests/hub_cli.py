"""The mdm CLI run as a person runs it against a running stack's hub: a subprocess signed in
(MDM_TOKEN) as a user of a given role, the API's address in MDM_API_URL."""
from __future__ import annotations

import subprocess
import sys
from typing import Any


def run_mdm(stack: Any, *args: str, role: str | None = "auditor") -> subprocess.CompletedProcess[str]:
    """`mdm ARGS…` against `stack`'s API, signed in as `role`.kim (None: no token at all)."""
    env = {k: v for k, v in stack.env().items() if k != "MDM_TOKEN"}
    env.update(MDM_API_URL=stack.api_url, COLUMNS="250")
    if role is not None:
        env["MDM_TOKEN"] = stack.token(f"{role}.kim", role)
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)
