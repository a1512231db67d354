"""What deliveries and exports guarantee, on the real stack (embedded PostgreSQL, Debezium, the
demo OA and WMS): a retry never puts old data back and is audit-logged; a hand edit restoring an
older value is a divergence; a target's answer PostgreSQL cannot store fails that delivery only;
the change-request CSV carries no live formula; secrets in target URLs never show, and
multi-host URLs work. The project is the demo's plus three targets: `leaky` (a REST API whose
URL carries ?access_token=, unreachable), `cluster` (NATS, a two-host URL) and `hr_multi` (SQL
over a libpq two-host URL whose first host is down)."""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from mdm.runtime.postgres import SUPERUSER, free_port
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import SMALL_SEED
from tests.helpers import eventually, execute, rows

TOKEN, PASSWORD = "s3cret-tok-4711", "s3cret-pw-4711"


def _extra_targets(project: Path, pg_port: int) -> None:
    dead = free_port()  # nothing listens there
    (project / "targets" / "leaky.yaml").write_text(f"""\
name: leaky
kind: rest
base_url: http://127.0.0.1:{dead}/api?access_token=${{MDM_LEAKY_TOKEN}}&lang=zh
max_attempts: 1
entities:
  department: {{path: /departments, active_field: enabled}}
""", encoding="utf-8")
    (project / "targets" / "cluster.yaml").write_text(f"""\
name: cluster
kind: nats
url: nats://mdm:{PASSWORD}@127.0.0.1:{dead},127.0.0.1:{free_port()}
entities: {{}}
""", encoding="utf-8")
    (project / "targets" / "hr_multi.yaml").write_text(f"""\
name: hr_multi
kind: sql
url: postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{dead},127.0.0.1:{pg_port}/extra
entities:
  employee:
    table: hr_copy
    key: emp_no
    active_field: on_job
    fields: {{emp_no: code, emp_name: name}}
""", encoding="utf-8")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.env"
    secrets.write_text(f"MDM_LEAKY_TOKEN={TOKEN}\n", encoding="utf-8")
    secrets.chmod(0o644)  # readable by others: the hub must say so at start
    s = DemoStack(tmp_path_factory.mktemp("stack"), project_dir=project,
                  extra_env={"MDM_SECRETS_FILE": str(secrets)})
    try:
        s.start_databases(**SMALL_SEED)
        s.pg.create_database("extra")
        execute(s.pg.url("extra"), "CREATE TABLE IF NOT EXISTS hr_copy (id serial PRIMARY KEY, "
                                   "emp_no text UNIQUE NOT NULL, emp_name text, on_job boolean)")
        _extra_targets(project, s.pg.port)
        s.start_targets()
        s.start_hub()
        wait_idle(s.erp_url, s.hub_url, timeout=240)
        yield s
    finally:
        s.stop()
        s.pg.remove()


# -- helpers ---------------------------------------------------------------------------------


def _settle(stack: DemoStack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _arm(url: str, **spec: Any) -> None:
    httpx.post(f"{url}/_faults", json=spec, timeout=10).raise_for_status()


def _record(stack: DemoStack, entity: str, key: str) -> dict[str, Any]:
    return rows(stack.hub_url, "SELECT * FROM golden_record WHERE entity = %s AND business_key = %s",
                (entity, key))[0]


def _deliveries(stack: DemoStack, entity: str, key: str, target: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT d.* FROM delivery d JOIN golden_record g ON g.id = d.golden_id "
                "WHERE g.entity = %s AND g.business_key = %s AND d.target = %s ORDER BY d.id",
                (entity, key, target))


def _dead_of_version(stack: DemoStack, entity: str, key: str, target: str) -> dict[str, Any] | None:
    """The dead delivery of the record's current version to `target`, once there is one."""
    version = _record(stack, entity, key)["version"]
    found = [d for d in _deliveries(stack, entity, key, target)
             if d["version"] == version and d["status"] == "dead"]
    return found[0] if found else None


def _wait_dead(stack: DemoStack, entity: str, key: str, target: str) -> dict[str, Any]:
    _settle(stack)
    assert eventually(lambda: _dead_of_version(stack, entity, key, target) is not None, 60), \
        _deliveries(stack, entity, key, target)
    dead = _dead_of_version(stack, entity, key, target)
    assert dead is not None
    return dead


def _oa_vendor(stack: DemoStack, key: str) -> dict[str, Any]:
    return rows(stack.pg.url("oa"), "SELECT * FROM oa_vendor WHERE vendor_code = %s", (key,))[0]


def _open_tasks(stack: DemoStack, type_: str, entity: str, key: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM task WHERE type = %s AND entity = %s AND "
                "business_key = %s AND status = 'open'", (type_, entity, key))


def _audit(stack: DemoStack, action: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM audit_log WHERE action = %s ORDER BY seq", (action,))


def _hub_log(stack: DemoStack) -> str:
    return (stack.state_dir / "hub.log").read_text(encoding="utf-8", errors="replace")


# -- item 4: a retry never puts old data back --------------------------------------------------


def test_retrying_an_old_dead_delivery_after_a_newer_version_was_acked_is_refused(stack):
    key = "S0011"
    _arm(stack.oa_url, fail_next=1, status=422, keys=[key])
    execute(stack.erp_url, f"UPDATE supplier SET name = '旧名甲' WHERE code = '{key}'")
    dead = _wait_dead(stack, "supplier", key, "oa")
    execute(stack.erp_url, f"UPDATE supplier SET name = '新名甲' WHERE code = '{key}'")
    _settle(stack)
    assert _oa_vendor(stack, key)["vendor_name"] == "新名甲"

    reply = stack.client().post(f"/api/v1/deliveries/{dead['id']}/retry")
    assert reply.status_code == 409, reply.text
    assert "older data" in reply.json()["detail"]
    _settle(stack)
    assert _oa_vendor(stack, key)["vendor_name"] == "新名甲"
    assert rows(stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                (dead["id"],))[0]["status"] == "dead"


def test_a_retry_sends_the_current_version_in_place_of_an_older_one_and_is_audited(stack):
    key = "S0012"
    _arm(stack.oa_url, fail_next=2, status=422, keys=[key])
    execute(stack.erp_url, f"UPDATE supplier SET name = '旧名乙' WHERE code = '{key}'")
    older = _wait_dead(stack, "supplier", key, "oa")
    execute(stack.erp_url, f"UPDATE supplier SET name = '新名乙' WHERE code = '{key}'")
    newer = _wait_dead(stack, "supplier", key, "oa")
    assert newer["version"] > older["version"]

    reply = stack.client().post(f"/api/v1/deliveries/{older['id']}/retry")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"id": newer["id"], "status": "pending", "version": newer["version"],
                            "retried": older["id"], "replaced": True}
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                                   (newer["id"],))[0]["status"] == "acked", 60)
    _settle(stack)
    assert _oa_vendor(stack, key)["vendor_name"] == "新名乙"
    assert rows(stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                (older["id"],))[0]["status"] == "superseded"
    [entry] = [e for e in _audit(stack, "delivery_retry") if e["after"]["delivery_id"] == newer["id"]]
    assert entry["actor"] == "mdm-test" and entry["before"]["delivery_id"] == older["id"]

    replayed = stack.client().post("/api/v1/deliveries/replay",
                                   json={"entity": "supplier", "target": "oa", "key": key})
    assert replayed.status_code == 200 and replayed.json()["queued"] == 1, replayed.text
    [replay] = [e for e in _audit(stack, "replay") if e["after"]["key"] == key]
    assert replay["actor"] == "mdm-test" and replay["after"]["queued"] == 1
    _settle(stack)
    assert _oa_vendor(stack, key)["vendor_name"] == "新名乙"


# -- item 5: an older value restored by hand is a divergence -----------------------------------


def test_a_hand_edit_back_to_an_older_delivered_value_opens_a_divergence_task(stack):
    key = "S0013"
    for name in ("第一版名称", "第二版名称"):
        execute(stack.erp_url, f"UPDATE supplier SET name = '{name}' WHERE code = '{key}'")
        _settle(stack)  # each version acked at OA before the next
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    assert _oa_vendor(stack, key)["vendor_name"] == "第二版名称"
    assert _open_tasks(stack, "divergence", "supplier", key) == []  # the echoes opened nothing

    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = '第一版名称' "
                                f"WHERE vendor_code = '{key}'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    [task] = _open_tasks(stack, "divergence", "supplier", key)
    assert task["system"] == "oa" and task["detail"]["kind"] == "edited"
    [field] = task["detail"]["fields"]
    assert (field["field"], field["golden"], field["target"]) == (
        "vendor_name", "第二版名称", "第一版名称")


# -- item 7: an answer PostgreSQL cannot store fails that delivery alone -------------------------


def test_a_nul_in_a_targets_error_body_fails_that_delivery_readably_and_the_rest_flow(stack):
    key, other = "S0014", "S0015"
    exits_before = _hub_log(stack).count("propagate exited")
    _arm(stack.oa_url, fail_next=1, status=422, keys=[key], body="refused\x00 vendor: 名称\x00非法")
    execute(stack.erp_url, f"UPDATE supplier SET name = 'NUL测试', phone = '021-1' WHERE code = '{key}'")
    dead = _wait_dead(stack, "supplier", key, "oa")
    assert "\x00" not in dead["last_error"]
    assert "refused\\u0000 vendor: 名称\\u0000非法" in dead["last_error"]
    [task] = _open_tasks(stack, "dead_delivery", "supplier", key)
    assert task["detail"]["delivery_id"] == dead["id"]

    execute(stack.erp_url, f"UPDATE supplier SET name = 'NUL之后' WHERE code = '{other}'")
    _settle(stack)
    assert _oa_vendor(stack, other)["vendor_name"] == "NUL之后"  # OA's loop goes on
    wms = rows(stack.pg.url("wms"), "SELECT supplier_no, supplier_name FROM wms_supplier "
               "WHERE supplier_no = ANY(%s)", ([key, other],))
    assert {r["supplier_no"]: r["supplier_name"] for r in wms} == {key: "NUL测试", other: "NUL之后"}
    assert _hub_log(stack).count("propagate exited") == exits_before  # no crash, no restart


@pytest.mark.parametrize(("key", "answer", "why"), [
    ("M-1011", '"在库\\u0000待检"', "NUL"),
    ("M-1012", "1e999", "inf"),
])
def test_a_write_back_value_postgres_cannot_store_fails_that_delivery_and_the_rest_flow(
        stack, key, answer, why):
    exits_before = _hub_log(stack).count("propagate exited")
    _arm(stack.wms_url, fail_next=1, status=200, keys=[key],
         body=f'{{"id": 1, "key": "{key}", "status": "updated", "stock_status": {answer}}}')
    execute(stack.erp_url, f"UPDATE material SET name = name || '·回写' WHERE code = '{key}'")
    dead = _wait_dead(stack, "material", key, "wms")
    assert why in dead["last_error"] and "wms_status" in dead["last_error"], dead["last_error"]
    assert "\x00" not in dead["last_error"]
    oa = rows(stack.pg.url("oa"), "SELECT material_name FROM oa_material WHERE material_code = %s",
              (key,))[0]
    assert oa["material_name"].endswith("·回写")  # OA got the same version
    execute(stack.erp_url, "UPDATE material SET spec = coalesce(spec, '') || '+' WHERE code = 'M-1013'")
    _settle(stack)
    assert _deliveries(stack, "material", "M-1013", "wms")[-1]["status"] == "acked"  # WMS goes on
    assert _hub_log(stack).count("propagate exited") == exits_before


# -- item 12: no live formula in the change-request CSV -----------------------------------------


def test_a_formula_typed_into_oa_reaches_the_change_request_csv_neutralised(stack, tmp_path):
    key, formula = "S0016", '=HYPERLINK("http://evil.example/x","点我")'
    execute(stack.pg.url("oa"), f"UPDATE oa_vendor SET vendor_name = '{formula.replace(chr(39), chr(39) * 2)}' "
                                f"WHERE vendor_code = '{key}'")
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa")
    [task] = _open_tasks(stack, "divergence", "supplier", key)
    steward = stack.client("steward.li", "steward")
    decided = steward.post(f"/api/v1/tasks/{task['id']}/resolve",
                           json={"action": "change_request", "reason": "@OA 的名称为准"})
    assert decided.status_code == 200, decided.text

    exported = steward.get("/api/v1/change-requests.csv")
    assert exported.status_code == 200
    [row] = [r for r in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))
             if r["business_key"] == key]
    assert row["requested_value"] == "'" + formula
    assert row["reason"] == "'@OA 的名称为准"

    path = tmp_path / "requests.csv"
    env = dict(os.environ, MDM_TOKEN=stack.token(), MDM_API_URL=stack.api_url)
    done = subprocess.run([sys.executable, "-m", "mdm.cli.main", "tasks", "change-requests",
                           "--csv", str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [cli_row] = [r for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8").lstrip("\ufeff")))
                 if r["business_key"] == key]
    assert cli_row["requested_value"] == "'" + formula


# -- item 13: secrets in URLs, multi-host URLs, the secrets file --------------------------------


def test_a_token_in_a_target_url_never_shows_in_errors_the_api_or_the_configuration(stack):
    dead = rows(stack.hub_url, "SELECT id, last_error FROM delivery WHERE target = 'leaky'")
    assert dead and all(d["last_error"] for d in dead)
    assert all(TOKEN not in d["last_error"] and "access_token=***" in d["last_error"] for d in dead)
    auditor = stack.client("auditor.chen", "auditor")
    listed = auditor.get("/api/v1/deliveries", params={"target": "leaky"})
    one = auditor.get(f"/api/v1/deliveries/{dead[0]['id']}")
    assert listed.status_code == one.status_code == 200
    assert TOKEN not in listed.text and TOKEN not in one.text
    tasks = rows(stack.hub_url, "SELECT summary, detail::text AS detail FROM task "
                 "WHERE type = 'dead_delivery' AND system = 'leaky'")
    assert tasks and all(TOKEN not in t["summary"] + t["detail"] for t in tasks)

    config = stack.client().get("/api/v1/config")
    assert config.status_code == 200, config.text
    assert TOKEN not in config.text and PASSWORD not in config.text
    targets = {t["name"]: t for t in config.json()["targets"]}
    assert targets["cluster"]["address"]["resolved"].startswith("nats://mdm:***@127.0.0.1:")
    assert "," in targets["cluster"]["address"]["resolved"]
    assert "access_token=***" in targets["leaky"]["address"]["resolved"]
    assert "${MDM_LEAKY_TOKEN}" in targets["leaky"]["address"]["written"]


def test_a_sql_target_with_a_multi_host_url_starts_and_delivers(stack):
    employees = rows(stack.hub_url, "SELECT business_key, attributes ->> 'name' AS name "
                     "FROM golden_record WHERE entity = 'employee'")
    copied = {r["emp_no"]: r["emp_name"] for r in rows(stack.pg.url("extra"),
                                                       "SELECT emp_no, emp_name FROM hr_copy")}
    assert copied == {e["business_key"]: e["name"] for e in employees}


def test_a_secrets_file_others_may_read_is_named_at_start(stack):
    log = _hub_log(stack)
    assert "insecure secrets file" in log and "chmod 600" in log
    assert TOKEN not in log
