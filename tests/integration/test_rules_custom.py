"""A project whose WMS database is not captured (reconciled over its API instead) and whose
rules include one that raises at run time. Real PostgreSQL, Debezium, great-expectations."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mdm.bench.project_files import without_sources
from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.rules.reconcile import reconcile_once
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import eventually, execute, rows

RAISING_RULE = """
  - name: raises_at_run_time
    expectation_type: expect_column_values_to_be_between
    kwargs: {column: spec, min_value: 0}     # text against a number: GX raises at run time
"""


def _project(root: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, root / folder)
    # the WMS database is out of reach: read its API instead (and lose what it is the record of)
    without_sources(root, {"wms"})
    with (root / "targets/wms.yaml").open("a", encoding="utf-8") as f:
        f.write("reconcile: {interval_s: 1, page_size: 40}\n")
    text = (root / "rules/material.yaml").read_text(encoding="utf-8")
    (root / "rules/material.yaml").write_text(
        text.replace("expectations:\n", "expectations:" + RAISING_RULE, 1), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = _project(tmp_path_factory.mktemp("project"))
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project) as s:
        yield s


def test_a_rule_that_raises_is_an_error_result_and_the_pipeline_flows(custom):
    execute(custom.erp_url, "UPDATE material SET spec = 'Φ12 新规格' WHERE code = 'M-1001'")
    wait_idle(custom.erp_url, custom.hub_url, timeout=120)
    [record] = rows(custom.hub_url, "SELECT g.id, g.version, v.quality FROM golden_record g "
                    "JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version "
                    "WHERE g.entity = 'material' AND g.business_key = 'M-1001'")
    [result] = rows(custom.hub_url, "SELECT * FROM rule_result WHERE golden_id = %s AND "
                    "version = %s AND rule = 'raises_at_run_time'", (record["id"], record["version"]))
    assert result["outcome"] == "error" and "same type" in result["detail"]
    assert record["quality"] == "ok"  # a broken rule judges nothing
    oa = rows(custom.pg.url("oa"), "SELECT spec FROM oa_material WHERE material_code = 'M-1001'")
    assert oa[0]["spec"] == "Φ12 新规格"


def test_reconciliation_over_the_api_catches_a_hand_edit_in_wms(custom, monkeypatch):
    wait_idle(custom.erp_url, custom.hub_url, timeout=120)
    # two read-backs over hub-written data find nothing (passes of our own, not a wait for
    # the background one's)
    monkeypatch.setenv("MDM_WMS_URL", custom.wms_url)
    project = load_project(custom.project_dir)
    for _ in range(2):
        compared, diverged = reconcile_once(project, project.targets["wms"], custom.hub_url)
        assert compared > 0 and diverged == 0
    assert rows(custom.hub_url, "SELECT * FROM task WHERE type = 'divergence'") == []
    execute(custom.pg.url("wms"), "UPDATE wms_supplier SET supplier_name = '仓库里改的' "
                                  "WHERE supplier_no = 'S0002'")

    def found() -> list:
        return rows(custom.hub_url, "SELECT * FROM task WHERE type = 'divergence' "
                    "AND business_key = 'S0002' AND status = 'open'")

    assert eventually(lambda: bool(found()))
    [task] = found()
    assert task["system"] == "wms" and task["detail"]["seen_by"] == "reconcile"
    assert task["detail"]["fields"][0]["target"] == "仓库里改的"
    assert len(rows(custom.hub_url, "SELECT * FROM task WHERE type = 'divergence'")) == 1
