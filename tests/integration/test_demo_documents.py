"""Documents in the demo systems, on real PostgreSQL and the real targets process (no hub): the
ERP's REST API creating purchase orders (exact decimals, idempotency, refusals that store
nothing, faults), OA's purchase-request workflow and the hub's write-back of the PO onto it,
and the `mdm demo oa` commands against them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    # Starlette >= 1.10 warns at import that its TestClient prefers httpx2 over httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from mdm.demo.erp_api import create_erp_app
from mdm.demo.stack import DemoStack
from tests.helpers import execute, rows


def _codes(demo: DemoStack, table: str, active: bool, n: int) -> list[str]:
    found = [r["code"] for r in rows(demo.erp_url, f"SELECT code FROM {table} WHERE active = %s "
                                                   "ORDER BY code", (active,))]
    assert len(found) >= n, (table, active)
    return found[:n]


def _order(demo: DemoStack, **changes: Any) -> dict[str, Any]:
    supplier, = _codes(demo, "supplier", True, 1)
    first, second = _codes(demo, "material", True, 2)
    body = {"request_no": "PR-20261202-0001", "supplier_code": supplier, "buyer": "采购部 李娜",
            "approved_by": "王经理", "remark": "由 OA 采购申请生成",
            "lines": [{"material_code": first, "quantity": "12.5", "unit_price": "3.2000",
                       "needed_by": "2026-12-20"},
                      {"material_code": second, "quantity": 3, "unit_price": 3.3}]}
    return {**body, **changes}


def _post(erp: httpx.Client, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return erp.post("/api/purchase-orders", json=body, headers=headers)


def _counts(demo: DemoStack) -> tuple[int, int]:
    found = rows(demo.erp_url, "SELECT (SELECT count(*) FROM purchase_order) AS o, "
                               "(SELECT count(*) FROM purchase_order_line) AS l")[0]
    return found["o"], found["l"]


# -- the ERP's purchase orders ---------------------------------------------------------------


def test_a_purchase_order_is_created_with_its_lines_and_exact_decimals(demo, erp):
    body = _order(demo)
    key = f"flow/po/{uuid.uuid4()}"
    created = _post(erp, body, key)
    assert created.status_code == 201, created.text
    po_no = created.json()["po_no"]
    assert created.json() == {"id": po_no, "po_no": po_no, "status": "created"}
    assert re.fullmatch(r"45\d{8}", po_no)
    order = erp.get(f"/api/purchase-orders/{po_no}").json()
    assert (order["supplier_code"], order["request_no"], order["status"], order["currency"],
            order["buyer"], order["approved_by"], order["mdm_key"]) == (
        body["supplier_code"], "PR-20261202-0001", "created", "CNY", "采购部 李娜", "王经理", key)
    # 12.5 × 3.2000 = 40.00 and 3 × 3.3 = 9.90 (as floats: 9.899999…); total 49.90
    assert [(ln["line_no"], ln["material_code"], ln["quantity"], ln["unit_price"], ln["amount"],
             ln["needed_by"]) for ln in order["lines"]] == [
        (1, body["lines"][0]["material_code"], "12.500", "3.2000", "40.00", "2026-12-20"),
        (2, body["lines"][1]["material_code"], "3.000", "3.3000", "9.90", None)]
    assert order["total_amount"] == "49.90"
    stored = rows(demo.erp_url, "SELECT o.total_amount, s.code, o.order_date = current_date AS "
                                "today FROM purchase_order o JOIN supplier s ON s.id = "
                                "o.supplier_id WHERE o.po_no = %s", (po_no,))
    assert [(str(r["total_amount"]), r["code"], r["today"]) for r in stored] == [
        ("49.90", body["supplier_code"], True)]
    assert erp.get("/api/purchase-orders", params={"request_no": "PR-20261202-0001"}).json()[
        "items"][0]["po_no"] == po_no


def test_the_same_idempotency_key_again_answers_the_order_it_made(demo, erp):
    key = f"flow/po/{uuid.uuid4()}"
    first = _post(erp, _order(demo), key)
    before = _counts(demo)
    again = _post(erp, _order(demo), key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replay"] == "true"
    assert _counts(demo) == before
    assert rows(demo.erp_url, "SELECT count(*) AS n FROM purchase_order WHERE mdm_key = %s",
                (key,))[0]["n"] == 1


def test_concurrent_calls_with_one_key_make_one_order(demo, erp):
    key = f"flow/po/{uuid.uuid4()}"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _post(erp, _order(demo), key), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["po_no"] for a in answers}) == 1
    assert rows(demo.erp_url, "SELECT count(*) AS n FROM purchase_order WHERE mdm_key = %s",
                (key,))[0]["n"] == 1


def test_an_answer_lost_after_the_commit_is_found_again_by_its_key(demo, erp):
    armed = erp.post("/_faults", json={"fail_next": 1, "status": 503, "after_write": True})
    assert armed.status_code == 200 and armed.json()["after_write"] is True
    key = f"flow/po/{uuid.uuid4()}"
    lost = _post(erp, _order(demo), key)
    assert lost.status_code == 503
    made = rows(demo.erp_url, "SELECT po_no FROM purchase_order WHERE mdm_key = %s", (key,))
    assert len(made) == 1  # committed before the answer was lost
    retry = _post(erp, _order(demo), key)
    assert (retry.status_code, retry.json()["po_no"]) == (200, made[0]["po_no"])


def test_a_fault_before_the_write_stores_nothing_and_the_retry_creates(demo, erp):
    assert erp.post("/_faults", json={"fail_next": 1, "status": 503}).status_code == 200
    key = f"flow/po/{uuid.uuid4()}"
    before = _counts(demo)
    assert _post(erp, _order(demo), key).status_code == 503
    assert _counts(demo) == before
    assert _post(erp, _order(demo), key).status_code == 201
    assert erp.get("/_stats").json()["failures_injected"] >= 1


def test_without_an_idempotency_key_the_call_is_refused(demo, erp):
    before = _counts(demo)
    refused = _post(erp, _order(demo), None)
    assert refused.status_code == 400
    assert "Idempotency-Key" in refused.json()["detail"]
    assert _counts(demo) == before
    assert erp.get("/api/purchase-orders/4599999999").status_code == 404


def _inactive(demo: DemoStack, table: str) -> str:
    """A code of `table` made inactive for this module (its last active one)."""
    code = rows(demo.erp_url, f"SELECT max(code) AS code FROM {table} WHERE active")[0]["code"]
    assert code not in _codes(demo, table, True, 2)  # not one _order uses
    execute(demo.erp_url, f"UPDATE {table} SET active = false WHERE code = '{code}'")
    return code


REFUSALS = ["unknown supplier", "inactive supplier", "unknown material", "inactive material",
            "no lines", "quantity zero"]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_order_names_the_reason_in_chinese_and_stores_nothing(demo, erp, case):
    body = _order(demo)
    line = body["lines"][0]
    if case == "unknown supplier":
        body["supplier_code"], expected = "S0999", "供应商 S0999 不存在或已停用"
    elif case == "inactive supplier":
        code = _inactive(demo, "supplier")
        body["supplier_code"], expected = code, f"供应商 {code} 不存在或已停用"
    elif case == "unknown material":
        body["lines"] = [*body["lines"], {**line, "material_code": "M-9999"}]
        expected = "物料 M-9999 不存在或已停用"
    elif case == "inactive material":
        code = _inactive(demo, "material")
        body["lines"] = [{**line, "material_code": code}]
        expected = f"物料 {code} 不存在或已停用"
    elif case == "no lines":
        body["lines"], expected = [], "单据至少需要一行明细（lines 不能为空）"
    else:
        body["lines"] = [{**line, "quantity": "0"}]
        expected = f"第 1 行物料 {line['material_code']} 的数量必须大于 0，收到 0"
    key = f"flow/po/{uuid.uuid4()}"
    before = _counts(demo)
    refused = _post(erp, body, key)
    assert (refused.status_code, refused.json()) == (422, {"detail": expected})
    assert _counts(demo) == before
    assert rows(demo.erp_url, "SELECT 1 FROM purchase_order WHERE mdm_key = %s", (key,)) == []


def test_a_closed_period_refuses_the_order_and_the_retry_after_reopening_creates_it(demo, erp):
    period = rows(demo.erp_url, "SELECT to_char(current_date, 'YYYY-MM') AS p")[0]["p"]
    key = f"flow/po/{uuid.uuid4()}"
    execute(demo.erp_url, f"INSERT INTO accounting_period VALUES ('{period}', true)")
    try:
        before = _counts(demo)
        refused = _post(erp, _order(demo), key)
        assert (refused.status_code, refused.json()["detail"]) == (
            422, f"会计期间 {period} 已关账，不能创建采购订单")
        assert _counts(demo) == before
    finally:
        execute(demo.erp_url, f"UPDATE accounting_period SET closed = false WHERE period = "
                              f"'{period}'")
    assert _post(erp, _order(demo), key).status_code == 201


# -- OA's purchase requests ------------------------------------------------------------------

REQUEST = {"title": "生产线备件采购", "requester": "E0042", "dept_code": "D01",
           "vendor_code": "S0001",
           "lines": [{"material_code": "M-1002", "quantity": "12.5", "unit_price": "3.20",
                      "needed_by": "2026-12-20"},
                     {"material_code": "M-1003", "quantity": 2, "unit_price": 88}]}


def _request(oa: httpx.Client) -> str:
    created = oa.post("/api/purchase-requests", json=REQUEST)
    assert created.status_code == 201, created.text
    return str(created.json()["request_no"])


def _act(oa: httpx.Client, no: str, action: str, **body: Any) -> httpx.Response:
    return oa.post(f"/api/purchase-requests/{no}/{action}", json=body or None)


def test_a_request_is_a_draft_with_its_lines_and_a_dated_number(demo, oa):
    no = _request(oa)
    today = rows(demo.pg.url("oa"), "SELECT to_char(current_date, 'YYYYMMDD') AS d")[0]["d"]
    assert re.fullmatch(rf"PR-{today}-\d{{4}}", no)
    found = oa.get(f"/api/purchase-requests/{no}").json()
    assert (found["status"], found["title"], found["vendor_code"], found["submitted_at"],
            found["po_no"]) == ("draft", "生产线备件采购", "S0001", None, None)
    assert [(ln["line_no"], ln["material_code"], ln["quantity"], ln["unit_price"],
             ln["needed_by"]) for ln in found["lines"]] == [
        (1, "M-1002", "12.500", "3.2000", "2026-12-20"), (2, "M-1003", "2.000", "88.0000", None)]
    assert oa.get("/api/purchase-requests/PR-19990101-0000").status_code == 404
    bad = oa.post("/api/purchase-requests", json={**REQUEST, "lines": []})
    assert bad.status_code == 422 and "lines" in bad.json()["detail"]


def test_the_workflow_moves_draft_submitted_approved_and_refuses_other_moves(demo, oa):
    no = _request(oa)
    early = _act(oa, no, "approve", approver="王经理")
    assert early.status_code == 409 and "draft" in early.json()["detail"]
    submitted = _act(oa, no, "submit")
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "submitted" and submitted.json()["submitted_at"]
    assert _act(oa, no, "submit").status_code == 409
    assert _act(oa, no, "approve").status_code == 422  # who approves is required
    approved = _act(oa, no, "approve", approver="王经理", comment="同意")
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["approver"],
            approved.json()["approval_comment"]) == ("approved", "王经理", "同意")
    assert approved.json()["approved_at"]
    late = _act(oa, no, "reject", approver="王经理", comment="重复")
    assert late.status_code == 409 and "approved" in late.json()["detail"]
    assert _act(oa, "PR-19990101-0000", "submit").status_code == 404
    assert _act(oa, no, "cancel").status_code == 404
    states = rows(demo.pg.url("oa"), "SELECT status, approver FROM oa_purchase_request WHERE "
                                     "request_no = %s", (no,))
    assert states == [{"status": "approved", "approver": "王经理"}]


def test_a_rejection_needs_a_reason_and_ends_the_request(oa):
    no = _request(oa)
    assert _act(oa, no, "submit").status_code == 200
    assert _act(oa, no, "reject", approver="王经理").status_code == 422
    rejected = _act(oa, no, "reject", approver="王经理", comment="预算不足")
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["approval_comment"],
            rejected.json()["approved_at"]) == ("rejected", "预算不足", None)
    assert _act(oa, no, "approve", approver="王经理").status_code == 409


def test_the_write_back_sets_only_the_po_number_and_status(demo, oa):
    no = _request(oa)
    assert _act(oa, no, "submit").status_code == 200
    before = oa.get(f"/api/purchase-requests/{no}").json()
    for _ in range(2):  # a repeat (the same Idempotency-Key) is harmless
        patched = oa.patch(f"/api/purchase-requests/{no}", json={"po_no": "4500000001",
                                                                  "po_status": "created"},
                           headers={"Idempotency-Key": f"flow/back/{no}"})
        assert patched.status_code == 200, patched.text
    after = patched.json()
    assert (after["po_no"], after["po_status"]) == ("4500000001", "created")
    unchanged = {k for k in before if k not in ("po_no", "po_status", "updated_at")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    refused = oa.patch(f"/api/purchase-requests/{no}", json={"po_status": "released",
                                                              "title": "改标题"})
    assert refused.status_code == 422 and "'title'" in refused.json()["detail"]
    assert oa.get(f"/api/purchase-requests/{no}").json()["po_status"] == "created"
    assert oa.patch(f"/api/purchase-requests/{no}", json={}).status_code == 422
    assert oa.patch("/api/purchase-requests/PR-19990101-0000",
                    json={"po_no": "4500000001"}).status_code == 404
    receipts = rows(demo.pg.url("oa"), "SELECT idempotency_key FROM api_receipt WHERE "
                                       "collection = 'purchase-requests' AND record_key = %s",
                (no,))
    assert [r["idempotency_key"] for r in receipts] == [f"flow/back/{no}"] * 2


def test_patch_of_a_master_record_updates_only_the_fields_it_names(oa):
    put = oa.put("/api/vendors/S7001", json={"vendor_name": "苏州测试机械有限公司",
                                             "phone": "0512-6000000", "remark": "原备注"})
    assert put.status_code == 201
    patched = oa.patch("/api/vendors/S7001", json={"phone": "0512-6999999"})
    assert patched.status_code == 200
    assert (patched.json()["phone"], patched.json()["vendor_name"], patched.json()["remark"]) == (
        "0512-6999999", "苏州测试机械有限公司", "原备注")
    assert oa.patch("/api/vendors/S7002", json={"phone": "1"}).status_code == 404
    assert oa.patch("/api/vendors/S7001", json={"telex": "1"}).status_code == 422


def test_after_write_faults_are_the_erps_only(oa):
    refused = oa.post("/_faults", json={"fail_next": 1, "after_write": True})
    assert refused.status_code == 422 and "after_write" in refused.json()["detail"]


# -- the CLI ---------------------------------------------------------------------------------


def _mdm(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", "demo", "oa", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("MDM_")},
                               "COLUMNS": "200"})


def test_the_cli_runs_a_request_through_the_workflow(demo, tmp_path):
    state = tmp_path / ".mdm" / "demo"
    state.mkdir(parents=True)
    shutil.copy(demo.write_state(), state / "demo.json")
    assert json.loads((state / "demo.json").read_text())["erp_api_url"] == demo.erp_api_url
    created = _mdm(tmp_path, "request", "--vendor", "S0001", "--line", "M-1002:12.5:3.20",
                   "--line", "M-1003:2:88:2026-12-24", "--title", "CLI 采购")
    assert created.returncode == 0, created.stderr
    no = created.stdout.strip()
    assert re.fullmatch(r"PR-\d{8}-\d{4}", no)
    assert _mdm(tmp_path, "submit", no).returncode == 0
    approved = _mdm(tmp_path, "approve", no, "--by", "王经理")
    assert approved.returncode == 0 and f"{no} approved by 王经理" in approved.stdout
    again = _mdm(tmp_path, "approve", no, "--by", "王经理")
    assert again.returncode == 1 and "OA answered 409" in again.stderr
    shown = _mdm(tmp_path, "show", no)
    assert shown.returncode == 0
    assert "status approved" in shown.stdout and "M-1003" in shown.stdout
    assert "12.500" in shown.stdout and "2026-12-24" in shown.stdout
    bad = _mdm(tmp_path, "request", "--vendor", "S0001", "--line", "M-1002:many:3.20")
    assert bad.returncode != 0 and "not a number" in bad.stderr
    nowhere = _mdm(tmp_path.parent, "show", no)  # no demo in that folder
    assert nowhere.returncode == 1 and "no running demo" in nowhere.stderr


def test_an_erp_database_without_its_tables_answers_503_saying_so(demo):
    demo.pg.create_database("erp_bare")
    with TestClient(create_erp_app(demo.pg.url("erp_bare"))) as bare:
        assert bare.get("/healthz").json() == {"status": "ok", "system": "erp"}
        answer = bare.post("/api/purchase-orders", json=_order(demo),
                           headers={"Idempotency-Key": "k1"})
        assert answer.status_code == 503 and "erp.sql" in answer.json()["detail"]
