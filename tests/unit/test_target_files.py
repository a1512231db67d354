"""targets/*.yaml: the four kinds, mappings in either file, secrets that never reach a log."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mdm.config.loader import expand_env, load_project
from mdm.errors import ConfigError
from mdm.propagate.base import RateLimiter, envelope, redact
from mdm.model.deliveries import Delivery
from tests.helpers import edit_file

EVENTS = """name: events
kind: amqp
url: ${MDM_AMQP_URL}
entities:
  supplier: {routing_key: vendors}
  material: {fields: {code: code, price: standard_price}}
"""


def test_a_message_target_file_maps_entities_and_fills_every_attribute(project: Path):
    (project / "targets/events.yaml").write_text(EVENTS, encoding="utf-8")
    loaded = load_project(project)
    assert loaded.targets["events"].kind == "amqp"
    supplier = loaded.entities["supplier"]
    mapping = supplier.targets["events"]
    assert mapping.routing_key == "vendors"
    # no `fields:` → every attribute and child list under its own name
    assert mapping.fields == {n: n for n in [*supplier.attributes, *supplier.children]}
    assert loaded.entities["material"].targets["events"].fields == {"code": "code", "price": "standard_price"}
    assert "events" not in loaded.entities["customer"].targets


def test_demo_sql_target_writes_staff_basics(project: Path):
    loaded = load_project(project)
    mapping = loaded.entities["employee"].targets["oa_db"]
    assert (loaded.targets["oa_db"].kind, mapping.table, mapping.key) == ("sql", "oa_hr_employee", "emp_no")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    table: oa_hr_employee\n", "", r"targets/oa_db.yaml.*entities.employee.table: required for a sql target"),
    ("    active_field: on_job\n", "", r"entities.employee.active_field: retire: flag needs active_field"),
    ("kind: sql", "kind: kafka", r"targets/oa_db.yaml.*kind"),
    ("  employee:\n", "  employe:\n", r"entities.employe: not an entity in golden_records/"),
])
def test_bad_target_files_name_the_file_and_key(project: Path, old: str, new: str, expected: str):
    edit_file(project / "targets/oa_db.yaml", old, new)
    with pytest.raises(ConfigError, match=expected):
        load_project(project)


def test_a_mapping_declared_in_both_places_is_refused(project: Path):
    with (project / "golden_records/employee.yaml").open("a", encoding="utf-8") as f:
        f.write("  oa_db:\n    table: t\n    key: k\n    active_field: a\n    fields: {k: code}\n")
    with pytest.raises(ConfigError, match=r"targets/oa_db.yaml.*entities.employee: already mapped "
                                          r"in golden_records/employee.yaml"):
        load_project(project)


def test_rest_path_is_required(project: Path):
    edit_file(project / "golden_records/supplier.yaml", "path: /api/vendors", "")
    with pytest.raises(ConfigError, match=r"golden_records/supplier.yaml.*targets.oa.path: required for a rest target"):
        load_project(project)


def test_secrets_come_from_environment_secrets_file_or_mounted_file(tmp_path: Path, monkeypatch):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# OA\nOA_TOKEN='s3cret-from-file'\n\nDB_PW=pw\n", encoding="utf-8")
    mounted = tmp_path / "amqp_password"
    mounted.write_text("mounted-pw\n", encoding="utf-8")
    monkeypatch.setenv("MDM_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("DB_PW", "env-wins")
    assert expand_env("Bearer ${OA_TOKEN}", "targets/oa.yaml") == "Bearer s3cret-from-file"
    assert expand_env("postgresql://u:${DB_PW}@h/db", "x") == "postgresql://u:env-wins@h/db"
    assert expand_env(f"amqp://u:${{file:{mounted}}}@h/", "x") == "amqp://u:mounted-pw@h/"
    with pytest.raises(ConfigError, match=r"targets/oa.yaml.*environment variable NOPE is not set "
                                          r"\(nor in .*secrets.env\)"):
        expand_env("${NOPE}", "targets/oa.yaml")
    with pytest.raises(ConfigError, match=r"secret file .*missing cannot be read"):
        expand_env(f"${{file:{tmp_path / 'missing'}}}", "x")
    secrets.write_text("not a line\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"secrets.env.*line 1: expected NAME=value"):
        expand_env("${OA_TOKEN}", "x")


def test_urls_in_errors_and_logs_have_no_password():
    assert redact("postgresql://mdm:hunter2@db.example:5432/oa") == "postgresql://mdm:***@db.example:5432/oa"
    assert redact("amqp://guest:guest@127.0.0.1/") == "amqp://guest:***@127.0.0.1/"
    assert redact("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


def test_envelope_carries_what_a_consumer_needs_to_dedupe_and_order():
    d = Delivery(7, 42, 3, "supplier", "S0001", "events", "retire", {"name": "甲"}, "mdm-g42-v3-events", 0)
    assert envelope(d) == {"entity": "supplier", "key": "S0001", "golden_id": 42, "version": 3,
                           "operation": "retire", "status": "retired",
                           "idempotency_key": "mdm-g42-v3-events", "data": {"name": "甲"}}


def test_rate_limiter_waits_for_tokens(monkeypatch):
    clock = [100.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr("mdm.propagate.base.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("mdm.propagate.base.asyncio.sleep", fake_sleep)

    async def run() -> None:
        limiter = RateLimiter(per_s=10)
        await limiter.acquire(10)  # a second's burst is free
        assert slept == []
        await limiter.acquire(5)  # then 5 more need half a second
        assert sum(slept) == pytest.approx(0.5)

    asyncio.run(run())


def test_write_back_needs_an_attribute_the_target_owns(project: Path):
    loaded = load_project(project)
    assert loaded.entities["material"].owned == {"wms_status": "wms"}
    assert loaded.entities["material"].targets["wms"].write_back == {"stock_status": "wms_status"}

    edit_file(project / "golden_records/material.yaml", "owner: wms", "owner: oa")
    with pytest.raises(ConfigError, match=r"material.yaml.*targets.wms.write_back.stock_status: "
                                          r"'wms_status' must be an attribute of material with owner: wms"):
        load_project(project)
    edit_file(project / "golden_records/material.yaml", "owner: oa", "owner: erp_typo")
    with pytest.raises(ConfigError, match=r"attributes.wms_status.owner: 'erp_typo' is not a target"):
        load_project(project)


def test_a_broker_target_cannot_write_back(project: Path):
    (project / "targets/events.yaml").write_text(
        "name: events\nkind: amqp\nurl: amqp://x\nentities:\n  material: {write_back: {s: wms_status}}\n",
        encoding="utf-8")
    with pytest.raises(ConfigError, match=r"targets/events.yaml.*entities.material.write_back: "
                                          r"a amqp target does not answer"):
        load_project(project)
