"""The flow core on the real stack, with flows of its own beside the project's: two documents
one record creates at one target both keep their keys (xref per hop), and a back update
reaches its origin all the same; a hop with only a task and `origin:` links its document under
the origin, and so does a flow's `links:` entry without any hop; a hop watching a child list's
rows fires once when a line turns short, not again when the task is picked; a back update with
`only_changed` sends the PO's status alone once its number has reached OA. Real PostgreSQL, Debezium, the demo systems' APIs."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mdm.config.flows import created_xref
from mdm.config.loader import PROJECT_FOLDERS
from mdm.demo.stack import DemoStack
from mdm.runtime.settings import REPO_ROOT
from tests.conftest import running_stack
from tests.helpers import edit_file, eventually, rows
from tests.integration.test_flow_purchase_approval import (
    FLOW_DEADLINE,
    _act,
    _oa,
    _request,
    _wait_po_number_on_oa,
)
from tests.integration.test_flow_picking_outbound import _short_list, _task_of
from tests.integration.test_flow_steps import FLOW as K3_FLOW

LINKS_FLOW = """flow: core_links
hops:
  - name: order_noted
    from: purchase_order
    when: "status: created"
    origin: {entity: purchase_request, by: request_no}
    task: {summary: "新采购订单 {po_no}（申请 {request_no}）", team: purchasing}
links:
  - name: order_of_request
    entity: purchase_order
    origin: {entity: purchase_request, by: request_no}
"""
ROWS_FLOW = """flow: core_rows
hops:
  - name: line_short
    from: pick_task
    when: {any: lines, where: "short_qty > 0", key: line_no}
    origin: {entity: picking_list, by: pick_list_no}
    to:
      target: erp
      operation: update
      path: /api/picking-lists
      key: pick_list_no
      fields: {pick_task_no: task_no, lines: lines}
      children:
        lines:
          where: "short_qty > 0"
          fields: {line_no: line_no, material_code: item_code, short_qty: short_qty}
"""
FLOWS = {"k3_requisition": K3_FLOW, "core_links": LINKS_FLOW, "core_rows": ROWS_FLOW}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = tmp_path_factory.mktemp("project")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, project / folder)
    for name, text in FLOWS.items():
        (project / f"flows/{name}.yaml").write_text(text, encoding="utf-8")
    edit_file(project / "flows/purchase_approval.yaml", "    back:\n      target: oa\n",
              "    back:\n      target: oa\n      only_changed: true\n")
    with running_stack(tmp_path_factory.mktemp("state"), project) as s:
        yield s


def _hub(stack: DemoStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return rows(stack.hub_url, sql, params)


def _command(stack: DemoStack, hop: str, key: str) -> dict[str, Any]:
    found = _hub(stack, "SELECT * FROM delivery WHERE hop = %s AND business_key = %s "
                 "ORDER BY id", hop, key)
    return found[0] if found else {}


def _xrefs(stack: DemoStack, entity: str, key: str) -> dict[str, str]:
    return {r["system"]: r["key"] for r in _hub(
        stack, "SELECT x.system, x.key FROM xref x JOIN golden_record g ON g.id = x.golden_id "
        "WHERE g.entity = %s AND g.business_key = %s", entity, key)}


def test_two_documents_created_at_one_target_keep_both_keys(stack: DemoStack):
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    po_no = _wait_po_number_on_oa(stack, number)  # create_po's back update reached OA
    assert eventually(lambda: _command(stack, "k3_requisition.bill", number).get("status")
                      == "acked", FLOW_DEADLINE), _command(stack, "k3_requisition.bill", number)
    bill_no = _command(stack, "k3_requisition.bill", number)["target_id"]
    assert bill_no and bill_no != po_no
    xrefs = _xrefs(stack, "purchase_request", number)
    assert xrefs[created_xref("erp", "purchase_approval.create_po")] == po_no, xrefs
    assert xrefs[created_xref("erp", "k3_requisition.bill")] == bill_no, xrefs
    assert "erp" not in xrefs and "oa" in xrefs, xrefs  # the record's own key: its source's


def _links(stack: DemoStack, hop: str, origin_id: int) -> list[dict[str, Any]]:
    return _hub(stack, "SELECT l.*, g.entity, g.business_key FROM document_link l JOIN "
                "golden_record g ON g.id = l.linked_id WHERE l.flow = 'core_links' AND "
                "l.hop = %s AND l.origin_id = %s", hop, origin_id)


def _golden_id(stack: DemoStack, entity: str, key: str) -> int:
    return int(_hub(stack, "SELECT id FROM golden_record WHERE entity = %s AND "
                    "business_key = %s", entity, key)[0]["id"])


def _approved(stack: DemoStack) -> tuple[int, str, str]:
    """(golden id of an approved request, its number, its PO's number)."""
    number = _request(stack)
    _act(stack, number, "approve", approver="王经理")
    po_no = _wait_po_number_on_oa(stack, number)
    return _golden_id(stack, "purchase_request", number), number, po_no


def test_a_task_only_hop_with_an_origin_links_its_document_under_it(stack: DemoStack):
    request_id, number, po_no = _approved(stack)
    assert eventually(lambda: _links(stack, "order_noted", request_id), FLOW_DEADLINE)
    [link] = _links(stack, "order_noted", request_id)
    assert (link["entity"], link["business_key"]) == ("purchase_order", po_no)
    tasks = _hub(stack, "SELECT summary FROM task WHERE type = 'flow_task' AND "
                 "detail->>'hop' = 'core_links.order_noted' AND business_key = %s", po_no)
    assert [t["summary"] for t in tasks] == [f"新采购订单 {po_no}（申请 {number}）"]


def test_a_flow_link_without_a_hop_links_the_document_the_target_made(stack: DemoStack):
    request_id, _, po_no = _approved(stack)
    assert eventually(lambda: _links(stack, "order_of_request", request_id), FLOW_DEADLINE)
    [link] = _links(stack, "order_of_request", request_id)
    assert (link["entity"], link["business_key"]) == ("purchase_order", po_no)
    assert link["command_id"] is None  # no command made it: the ERP did


def test_a_row_transition_fires_once_when_a_line_turns_short(stack: DemoStack):
    pick_list_no, component = _short_list(stack)
    assert eventually(lambda: _task_of(stack, pick_list_no), FLOW_DEADLINE)
    task = _task_of(stack, pick_list_no)
    assert task is not None and task["lines"][0]["short_qty"] == "20.000"

    def commands() -> list[dict[str, Any]]:
        return _hub(stack, "SELECT status, payload FROM delivery WHERE hop = "
                    "'core_rows.line_short' AND business_key = %s", pick_list_no)

    assert eventually(lambda: [c["status"] for c in commands()] == ["acked"], FLOW_DEADLINE), \
        commands()
    [sent] = commands()
    assert sent["payload"]["lines"] == [{"line_no": 1, "material_code": component,
                                         "short_qty": "20.000"}]
    done = httpx.post(f"{stack.wms_url}/api/pick-tasks/{task['task_no']}/confirm",
                      json={"picked_by": "拣货员 周敏"}, timeout=30)
    assert done.status_code == 200, done.text
    assert eventually(lambda: _hub(stack, "SELECT 1 FROM golden_record WHERE entity = "
                                   "'pick_task' AND business_key = %s AND "
                                   "attributes->>'status' = 'picked'", task["task_no"]),
                      FLOW_DEADLINE)  # the picked version was planned: the line still short
    assert len(commands()) == 1


def test_a_back_update_with_only_changed_sends_only_what_changed(stack: DemoStack):
    _, number, po_no = _approved(stack)

    def backs() -> list[dict[str, Any]]:
        return _hub(stack, "SELECT payload FROM delivery WHERE hop = "
                    "'purchase_approval.create_po.back' AND business_key = %s AND "
                    "status = 'acked' ORDER BY id", number)

    assert eventually(backs, FLOW_DEADLINE)
    assert backs()[0]["payload"] == {"po_no": po_no, "po_status": "已创建"}
    released = httpx.post(f"{stack.erp_api_url}/api/purchase-orders/{po_no}/release", timeout=30)
    assert released.status_code == 200, released.text
    assert eventually(lambda: _oa(stack, number).get("po_status") == "已下达供应商",
                      FLOW_DEADLINE), (_oa(stack, number), backs())
    # the OA applies the update before the hub records its ack: wait for the ack too
    assert eventually(lambda: len(backs()) >= 2, FLOW_DEADLINE), backs()
    assert backs()[-1]["payload"] == {"po_status": "已下达供应商"}
    assert _oa(stack, number)["po_no"] == po_no
