"""A flow task is open once per document and hop (task.hop, migration 0017), on the real stack:
two task hops firing on one pick task (the project's `shortage` for production planning and a
flow of this test's for the warehouse) open two tasks, each with its hop, team and summary, and
neither overwrites the other when the task is later picked; opening a hop's task again refreshes
that hop's task only, and every other type of task still de-duplicates per (type, entity, key,
system). Real PostgreSQL, Debezium, the demo systems' APIs."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.model.tasks import FLOW_TASK, RULE_VIOLATION, NewTask
from mdm.runtime.settings import REPO_ROOT
from mdm.store.repositories.tasks import open_task
from tests.conftest import running_stack
from tests.helpers import eventually, rows
from tests.integration.test_flow_picking_outbound import _list, _short_list, _task_of
from tests.integration.test_flow_purchase_approval import FLOW_DEADLINE

WAREHOUSE_FLOW = """flow: core_tasks
hops:
  - name: short_for_warehouse
    from: pick_task
    when: "status: short"
    if: {any: lines, where: "short_qty > 0"}
    task: {summary: "库存不足：拣货任务 {task_no} 请盘点 {lines.item_code}", team: warehouse}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    (project / "flows/core_tasks.yaml").write_text(WAREHOUSE_FLOW, encoding="utf-8")
    with running_stack(tmp_path_factory.mktemp("state"), project) as s:
        yield s


def _tasks(stack: DemoStack, task_no: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT * FROM task WHERE type = 'flow_task' AND entity = "
                "'pick_task' AND business_key = %s AND status = 'open' ORDER BY hop", (task_no,))


def test_two_task_hops_on_one_document_open_two_tasks_each_its_hops(stack: DemoStack):
    pick_list_no, component = _short_list(stack)
    assert eventually(lambda: _task_of(stack, pick_list_no), FLOW_DEADLINE)
    task = _task_of(stack, pick_list_no)
    assert task is not None and task["status"] == "short"
    assert eventually(lambda: len(_tasks(stack, task["task_no"])) == 2, FLOW_DEADLINE)
    first = _tasks(stack, task["task_no"])
    assert [(t["hop"], t["detail"]["hop"], t["detail"]["team"]) for t in first] == [
        ("core_tasks.short_for_warehouse", "core_tasks.short_for_warehouse", "warehouse"),
        ("production_picking.shortage", "production_picking.shortage", "production")]
    warehouse, production = first
    assert warehouse["summary"] == f"库存不足：拣货任务 {task['task_no']} 请盘点 {component}"
    assert "缺料" in production["summary"] and pick_list_no in production["summary"]
    # the pick: newer versions of the document, neither hop fires again; both tasks stay
    done = httpx.post(f"{stack.wms_url}/api/pick-tasks/{task['task_no']}/confirm",
                      json={"picked_by": "拣货员 周敏"}, timeout=30)
    assert done.status_code == 200, done.text
    assert eventually(lambda: _list(stack, pick_list_no)["lines"][0]["issued_qty"] == "30.000",
                      FLOW_DEADLINE)
    after = _tasks(stack, task["task_no"])
    assert [(t["id"], t["hop"], t["summary"]) for t in after] == [
        (t["id"], t["hop"], t["summary"]) for t in first]
    everyone = rows(stack.hub_url, "SELECT count(*) AS n FROM task WHERE type = 'flow_task' "
                    "AND business_key = %s", (task["task_no"],))
    assert everyone[0]["n"] == 2


def _task(type_: str, key: str, summary: str, hop: str = "") -> NewTask:
    return NewTask(type_, "pick_task", key, None, 1, "wms", "warning", summary, {}, hop)


def test_a_hops_task_refreshes_its_own_and_other_types_dedupe_as_before(stack: DemoStack):
    with psycopg.connect(stack.hub_url) as conn:  # rolled back at the end
        one = open_task(conn, _task(FLOW_TASK, "T-DEDUPE", "a", "f.one"))
        other = open_task(conn, _task(FLOW_TASK, "T-DEDUPE", "b", "f.other"))
        again = open_task(conn, _task(FLOW_TASK, "T-DEDUPE", "a again", "f.one"))
        assert one != other and again == one
        rule = open_task(conn, _task(RULE_VIOLATION, "T-DEDUPE", "rule"))
        assert open_task(conn, _task(RULE_VIOLATION, "T-DEDUPE", "rule again")) == rule
        found = conn.execute("SELECT id, hop, summary FROM task WHERE business_key = 'T-DEDUPE' "
                             "ORDER BY id").fetchall()
        assert found == [(one, "f.one", "a again"), (other, "f.other", "b"), (rule, "", "rule again")]
        conn.rollback()
