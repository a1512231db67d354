"""A create of several calls (金蝶云星空's WebAPI: Save, Submit, Audit) on the real stack: an
approved OA request becomes a bill in the demo ERP's K3-style API in three calls; a refusal of
the third leaves a submitted bill and a task with the ERP's message, and the retry goes on
from the refused call — the earlier ones are not sent again — to an audited bill, one bill."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import eventually, rows
from tests.integration.test_flow_purchase_approval import FLOW_DEADLINE, _act, _request

FLOW = """flow: k3_requisition
hops:
  - name: bill
    from: purchase_request
    when: "status: submitted → approved"
    to:
      target: erp
      operation: create
      steps:
        - {name: save, path: /k3cloud/save, body: {form_id: PUR_Requisition, model: "{payload}"}}
        - {name: submit, path: /k3cloud/submit, body: {form_id: PUR_Requisition, numbers: ["{save.result.number}"]}}
        - {name: audit, path: /k3cloud/audit, body: {form_id: PUR_Requisition, numbers: ["{save.result.number}"]}}
      key_from: save.result.number
      fields: {FBillNo: request_no, FSupplierId: vendor_code, FEntity: lines}
      children:
        lines: {fields: {FMaterialId: material_code, FQty: quantity, FPrice: unit_price}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    (project / "flows/k3_requisition.yaml").write_text(FLOW, encoding="utf-8")
    with running_stack(tmp_path_factory.mktemp("state"), project) as s:
        yield s


def _command(stack: DemoStack, number: str) -> dict[str, Any]:
    found = rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = 'k3_requisition.bill' AND "
                 "business_key = %s", (number,))
    return found[0] if found else {}


def _bill(stack: DemoStack, number: str) -> dict[str, Any] | None:
    found = rows(stack.erp_url, "SELECT * FROM k3_bill WHERE model->>'FBillNo' = %s", (number,))
    assert len(found) <= 1, found
    return found[0] if found else None


def _faults(stack: DemoStack, **spec: Any) -> dict[str, Any]:
    answer = httpx.post(f"{stack.erp_api_url}/_faults", json=spec, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_three_calls_make_one_audited_bill(stack: DemoStack):
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    assert eventually(lambda: _command(stack, number).get("status") == "acked", FLOW_DEADLINE)
    bill = _bill(stack, number)
    assert bill is not None and bill["status"] == "audited"
    assert bill["model"]["FEntity"][0]["FQty"] == "12.500" and bill["model"]["FSupplierId"] == "S0001"
    command = _command(stack, number)
    assert command["target_id"] == bill["number"]
    assert set(command["progress"]) == {"save", "submit", "audit"}


def test_a_refused_step_is_retried_from_where_it_stopped(stack: DemoStack):
    _faults(stack, fail_next=1, status=422, keys=["k3:audit"])
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    assert eventually(lambda: _command(stack, number).get("status") == "dead", FLOW_DEADLINE), \
        _command(stack, number)
    command = _command(stack, number)
    assert "step audit" in command["last_error"] and command["response_status"] == 422
    assert set(command["progress"]) == {"save", "submit"}
    assert (_bill(stack, number) or {}).get("status") == "submitted"
    # a save sent again would meet this fault: it is still armed after the retry
    _faults(stack, fail_next=1, status=500, keys=["k3:save", "k3:submit"])
    answer = httpx.post(f"{stack.api_url}/api/v1/deliveries/{command['id']}/retry",
                        headers={"Authorization": f"Bearer {stack.token()}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert eventually(lambda: _command(stack, number).get("status") == "acked", FLOW_DEADLINE)
    assert (_bill(stack, number) or {}).get("status") == "audited"
    remaining = httpx.get(f"{stack.erp_api_url}/_faults", timeout=30).json()
    assert remaining["fail_next"] == 1, remaining  # neither save nor submit was sent again
    _faults(stack, fail_next=0)
