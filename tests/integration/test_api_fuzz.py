"""Fuzz the whole API from its own OpenAPI document with schemathesis, as each role and as a
stranger, on the real stack (uvicorn-served API, real hub database): no 5xx, no status code,
content type, header or body that its schema does not document. Every operation the document
lists is tested — nothing is excluded; `test_every_operation_was_fuzzed` checks the count.

The run is bounded (a few examples per operation, fixed seed) to stay near two minutes in all.
The admin's run goes last: it may add and disable users, retry and replay deliveries."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

# A stack of its own, not the session's shared one (tests/conftest.py): as `service` it posts
# bodies of its own making to the ingest endpoint, whose made-up LSNs can move the hub's capture
# position for `erp` past the ERP's WAL (wait_idle would then return early for the modules after
# it; the shared run broke so), and as admin it retries, replays and resolves whatever ids it draws.
ROLES = ("anonymous", "auditor", "service", "steward", "admin")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
# Real names most of the time, so the fuzzer gets past 404s into the handlers' own code.
CONFIG = """
[dictionaries.entities]
values = ["supplier", "material", "employee", "customer", "department"]
[dictionaries.keys]
values = ["S0001", "S0002", "M0001", "E0001", "1"]
[dictionaries.attributes]
values = ["name", "code", "credit_limit"]
[dictionaries.targets]
values = ["oa", "wms"]
[parameters]
"path.entity" = { dictionary = "entities", probability = 0.7 }
"path.key" = { dictionary = "keys", probability = 0.6 }
"path.attribute" = { dictionary = "attributes", probability = 0.5 }
"query.target" = { dictionary = "targets", probability = 0.5 }
"""
_runs: dict[str, str] = {}


def _fuzz(stack, role: str, folder: Path) -> subprocess.CompletedProcess[str]:
    config = folder / "schemathesis.toml"
    config.write_text(CONFIG)
    headers = [] if role == "anonymous" else ["-H", f"Authorization: Bearer {stack.token(f'fuzz.{role}', role)}"]
    return subprocess.run(
        [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
         "--no-color", "--config-file", str(config), "run", f"{stack.api_url}/openapi.json",
         *headers, "--max-examples", "8", "--seed", "11", "--workers", "1",
         "--checks", ",".join(CHECKS), "--request-timeout", "60", "--continue-on-failure"],
        capture_output=True, text=True, timeout=600, cwd=folder)


@pytest.mark.parametrize("role", ROLES)
def test_fuzzing_as_each_role_finds_no_server_error_and_no_schema_break(stack, role, tmp_path):
    done = _fuzz(stack, role, tmp_path)
    _runs[role] = done.stdout
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-2000:]


def test_every_operation_was_fuzzed(stack):
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert set(_runs) == set(ROLES)  # the role runs above went first
    for role, output in _runs.items():
        tested = re.search(r"Tested:\s+(\d+)", output)
        assert tested and int(tested.group(1)) == operations, (role, output[-3000:])
