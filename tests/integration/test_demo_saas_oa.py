"""`mdm demo --oa saas` on a real stack: the demo OA read the SaaS way. Its purchase requests
reach the hub by polling its HTTP API (cdc/oa_api.yaml) and its approvals call the hub back in
钉钉's encrypted callback format (cdc/oa_approvals.yaml); nothing captures the OA's purchase
request tables. An approved request still becomes one ERP purchase order whose number goes back
onto the request in OA, as in the database mode (tests/integration/test_flow_purchase_approval.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdm.config.loader import load_project
from mdm.demo.saas import project_with_saas_oa
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import eventually, rows

NEEDED_BY = (date.today() + timedelta(days=14)).isoformat()


@pytest.fixture(scope="module")
def saas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = project_with_saas_oa(REPO_ROOT, tmp_path_factory.mktemp("saas") / "project")
    with running_stack(tmp_path_factory.mktemp("stack"), project_dir=project,
                       oa_mode="saas") as s:
        yield s


def _request(stack: DemoStack, title: str) -> str:
    with httpx.Client(base_url=stack.oa_url, timeout=30) as oa:
        answer = oa.post("/api/purchase-requests", json={
            "title": title, "requester": "E0003", "dept_code": "D01", "vendor_code": "S0001",
            "lines": [{"material_code": "M-1002", "quantity": "12.5", "unit_price": "3.2000",
                       "needed_by": NEEDED_BY},
                      {"material_code": "M-1003", "quantity": "2", "unit_price": "88"}]})
        answer.raise_for_status()
        number = str(answer.json()["request_no"])
        oa.post(f"/api/purchase-requests/{number}/submit").raise_for_status()
    return number


def _approve(stack: DemoStack, number: str) -> None:
    httpx.post(f"{stack.oa_url}/api/purchase-requests/{number}/approve", timeout=30,
               json={"approver": "王经理", "comment": "同意"}).raise_for_status()


def _orders(stack: DemoStack, number: str) -> list[dict[str, Any]]:
    return rows(stack.erp_url, "SELECT po_no, supplier_id, approved_by FROM purchase_order "
                               "WHERE request_no = %s", (number,))


def _oa_request(stack: DemoStack, number: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.oa_url}/api/purchase-requests/{number}", timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def _golden(stack: DemoStack, entity: str, key: str) -> dict[str, Any] | None:
    found = rows(stack.hub_url, "SELECT g.attributes, v.cause_source AS source FROM "
                                "golden_record g JOIN golden_version v ON v.golden_id = g.id "
                                "AND v.version = g.version WHERE g.entity = %s AND "
                                "g.business_key = %s", (entity, key))
    return found[0] if found else None


def _inbox(stack: DemoStack, source: str, key: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT table_name, position, status FROM inbox WHERE source = %s "
                               "AND row_key = %s ORDER BY id", (source, key))


def test_the_default_demo_captures_the_oa_database_and_saas_mode_polls_and_calls_back(
        tmp_path: Path) -> None:
    default = load_project(REPO_ROOT)
    saas = load_project(project_with_saas_oa(REPO_ROOT, tmp_path / "project"))
    assert default.entities["purchase_request"].source == "oa"
    assert "oa_api" not in default.feeds and "oa_approvals" not in default.feeds
    assert saas.entities["purchase_request"].source == "oa_api"
    assert (saas.feeds["oa_api"].kind, saas.feeds["oa_approvals"].kind) == ("poll", "webhook")
    assert "public.oa_purchase_request" not in saas.captured_tables("oa")


def test_an_approved_saas_oa_request_becomes_one_erp_po_whose_number_goes_back_to_oa(
        saas: DemoStack) -> None:
    number = _request(saas, "SaaS 模式采购申请")
    assert eventually(lambda: (_golden(saas, "purchase_request", number) or {}).get(
        "attributes", {}).get("status") == "submitted", timeout=120), _inbox(saas, "oa_api", number)
    _approve(saas, number)
    assert eventually(lambda: _orders(saas, number), timeout=120), rows(
        saas.hub_url, "SELECT hop, status, last_error FROM flow_command ORDER BY id")
    assert eventually(lambda: _oa_request(saas, number).get("po_no"), timeout=120)
    [order] = _orders(saas, number)
    shown = _oa_request(saas, number)
    assert shown["po_no"] == order["po_no"] and order["approved_by"] == "王经理"
    assert shown["po_status"] == "已创建"
    # the request's versions came from the poll, with its lines; none from OA's database
    golden = _golden(saas, "purchase_request", number)
    assert golden is not None and golden["source"] == "oa_api"
    lines = golden["attributes"]["lines"]
    assert [(ln["material_code"], ln["quantity"]) for ln in lines] == [
        ("M-1002", "12.500"), ("M-1003", "2.000")]
    assert not rows(saas.hub_url, "SELECT 1 FROM inbox WHERE source = 'oa' AND table_name = "
                                  "'public.oa_purchase_request'")
    # the written-back number reaches golden too, by the next poll
    assert eventually(lambda: ((_golden(saas, "purchase_request", number) or {})
                               .get("attributes", {}).get("po_no")) == order["po_no"], timeout=120)


def test_each_approval_state_change_calls_the_hub_back_dingtalk_style(saas: DemoStack) -> None:
    number = _request(saas, "回调测试")
    instance = f"pi-{number}"
    assert eventually(lambda: (_golden(saas, "oa_approval", instance) or {}).get(
        "attributes", {}).get("type") == "start", timeout=120), _inbox(saas, "oa_approvals", instance)
    started = _golden(saas, "oa_approval", instance)
    assert started is not None and started["attributes"]["staff_id"] == "E0003"
    _approve(saas, number)
    assert eventually(lambda: (_golden(saas, "oa_approval", instance) or {}).get(
        "attributes", {}).get("result") == "agree", timeout=120)
    finished = _golden(saas, "oa_approval", instance)
    assert finished is not None and finished["source"] == "oa_approvals"
    assert finished["attributes"]["type"] == "finish"
    assert finished["attributes"]["staff_id"] == "王经理"
    assert eventually(lambda: _orders(saas, number), timeout=120)
    assert len(_inbox(saas, "oa_approvals", instance)) == 2  # start, finish: each once


def test_an_approval_while_the_hub_is_down_arrives_when_it_is_back_and_makes_one_po(
        saas: DemoStack) -> None:
    number = _request(saas, "停机期间审批")
    assert eventually(lambda: (_golden(saas, "purchase_request", number) or {}).get(
        "attributes", {}).get("status") == "submitted", timeout=120)
    saas.kill_hub()
    _approve(saas, number)  # the OA's callback finds no hub: it keeps trying
    saas.start_hub()
    assert eventually(lambda: _orders(saas, number), timeout=180)
    assert eventually(lambda: _oa_request(saas, number).get("po_no"), timeout=120)
    assert eventually(lambda: (_golden(saas, "oa_approval", f"pi-{number}") or {}).get(
        "attributes", {}).get("result") == "agree", timeout=120)
    assert len(_orders(saas, number)) == 1
    assert len(_inbox(saas, "oa_approvals", f"pi-{number}")) == 2
