"""Flow 3's documents in the demo systems (production picking), on real PostgreSQL and the real
targets process (no hub): the seeded BOM's picking list, the WMS's pick tasks allocated FIFO
by batch (the shortage known at once: needs 50, 30 in stock → 30, short 20), the picker's
confirmation, the ERP's stock issues (stock −, the list picked or short, idempotent, refusals
storing nothing) and the shortage written onto the picking list."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from mdm.demo.stack import DemoStack
from tests.helpers import execute, rows


@pytest.fixture(scope="module")
def bom(demo: DemoStack, wms: httpx.Client) -> list[dict[str, Any]]:
    """The seeded BOM's components (code, qty per unit), also in the WMS's item master."""
    found = rows(demo.erp_url, "SELECT m.code, b.qty_per FROM bom_line b JOIN material m ON "
                               "m.id = b.component_id ORDER BY m.code")
    for item in found:
        assert wms.put(f"/api/items/{item['code']}", json={"item_name": "组件"}).status_code in (
            200, 201)
    return found


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _new_list(demo: DemoStack, erp: httpx.Client, quantity: str) -> dict[str, Any]:
    """A new production order of the seeded product and its picking list, released."""
    mo = rows(demo.erp_url, "INSERT INTO production_order (product_id, quantity) SELECT "
                            "product_id, %s FROM bom_line LIMIT 1 RETURNING mo_no", (quantity,))
    made = erp.post(f"/api/production-orders/{mo[0]['mo_no']}/picking-list")
    assert made.status_code == 201, made.text
    released = erp.post(f"/api/picking-lists/{made.json()['pick_list_no']}/release")
    assert released.status_code == 200, released.text
    return dict(released.json())


def _batches(demo: DemoStack, item: str) -> list[tuple[str, str, str]]:
    return [(r["batch_no"], str(r["qty"]), str(r["allocated"])) for r in rows(
        demo.pg.url("wms"), "SELECT batch_no, qty, allocated FROM wms_batch_stock WHERE "
                            "item_code = %s ORDER BY received_on", (item,))]


def test_seeded_picking_list_is_the_bom_times_the_order(demo: DemoStack, erp: httpx.Client,
                                                       bom: list[dict[str, Any]]) -> None:
    seeded = erp.get("/api/picking-lists/LL00000001").json()
    assert seeded["status"] == "created" and seeded["mo_quantity"] == "20.000"
    assert [(ln["material_code"], ln["required_qty"]) for ln in seeded["lines"]] == [
        (item["code"], str((Decimal(20) * item["qty_per"]).quantize(Decimal("0.001"))))
        for item in bom]


def test_pick_task_allocates_oldest_batches_first(demo: DemoStack, erp: httpx.Client,
                                                  wms: httpx.Client, bom: list[dict[str, Any]]
                                                  ) -> None:
    code = bom[0]["code"]
    before = _batches(demo, code)
    made = wms.post("/api/pick-tasks", headers=_key(), json={
        "pick_list_no": "LL90000001", "warehouse": "WH01",
        "lines": [{"line_no": 1, "item_code": code, "quantity": "30.5"}]})
    assert made.status_code == 201, made.text
    task = wms.get(f"/api/pick-tasks/{made.json()['task_no']}").json()
    assert task["status"] == "open"
    oldest, newer = before[0], before[1]
    first = min(Decimal(oldest[1]) - Decimal(oldest[2]), Decimal("30.5"))
    assert [(a["batch_no"], Decimal(a["qty"])) for a in task["allocations"]] == [
        (oldest[0], first), (newer[0], Decimal("30.5") - first)]
    line = task["lines"][0]
    assert (line["allocated_qty"], line["short_qty"]) == ("30.500", "0.000")
    after = {b[0]: Decimal(b[2]) for b in _batches(demo, code)}
    assert after[oldest[0]] == Decimal(oldest[2]) + first


def test_shortage_is_known_at_allocation_and_kept_at_confirmation(
        demo: DemoStack, wms: httpx.Client) -> None:
    code = "M-SHORT-1"
    assert wms.put(f"/api/items/{code}", json={"item_name": "短缺件"}).status_code in (200, 201)
    execute(demo.pg.url("wms"), "INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, "
            f"received_on, qty) VALUES ('{code}', 'WH01', 'B2', '2026-11-02', 20), "
            f"('{code}', 'WH01', 'B1', '2026-11-01', 10)")
    made = wms.post("/api/pick-tasks", headers=_key(), json={
        "pick_list_no": "LL90000002", "lines": [{"line_no": 1, "item_code": code, "quantity": 50}]})
    assert made.status_code == 201 and made.json()["status"] == "short"
    task_no = made.json()["task_no"]
    line = wms.get(f"/api/pick-tasks/{task_no}").json()["lines"][0]
    assert (line["allocated_qty"], line["short_qty"]) == ("30.000", "20.000")
    done = wms.post(f"/api/pick-tasks/{task_no}/confirm", json={"picked_by": "王拣货"})
    assert done.status_code == 200, done.text
    picked = done.json()
    assert picked["status"] == "picked" and picked["picked_by"] == "王拣货"
    assert (picked["lines"][0]["picked_qty"], picked["lines"][0]["short_qty"]) == ("30.000",
                                                                                   "20.000")
    assert [(a["batch_no"], a["picked_qty"]) for a in picked["allocations"]] == [
        ("B1", "10.000"), ("B2", "20.000")]
    assert _batches(demo, code) == [("B1", "0.000", "0.000"), ("B2", "0.000", "0.000")]
    again = wms.post(f"/api/pick-tasks/{task_no}/confirm", json={})
    assert again.status_code == 409


def test_picker_takes_less_of_a_batch(demo: DemoStack, wms: httpx.Client) -> None:
    code = "M-SHORT-2"
    assert wms.put(f"/api/items/{code}", json={"item_name": "散件"}).status_code in (200, 201)
    execute(demo.pg.url("wms"), "INSERT INTO wms_batch_stock (item_code, warehouse, batch_no, "
            f"received_on, qty) VALUES ('{code}', 'WH01', 'C1', '2026-10-01', 12.25)")
    task_no = wms.post("/api/pick-tasks", headers=_key(), json={
        "pick_list_no": "LL90000003",
        "lines": [{"line_no": 1, "item_code": code, "quantity": "12.25"}]}).json()["task_no"]
    done = wms.post(f"/api/pick-tasks/{task_no}/confirm", json={
        "lines": [{"line_no": 1, "batch_no": "C1", "picked_qty": "11.125"}]}).json()
    assert (done["lines"][0]["picked_qty"], done["lines"][0]["short_qty"]) == ("11.125", "1.125")
    assert _batches(demo, code) == [("C1", "1.125", "0.000")]
    over = wms.post("/api/pick-tasks", headers=_key(), json={
        "pick_list_no": "LL90000004", "lines": [{"line_no": 1, "item_code": code, "quantity": 1}]})
    refused = wms.post(f"/api/pick-tasks/{over.json()['task_no']}/confirm", json={
        "lines": [{"line_no": 1, "picked_qty": 2}]})
    assert refused.status_code == 422 and "超过分配的数量" in refused.json()["detail"]


def test_pick_task_replay_and_refusals_store_nothing(demo: DemoStack, wms: httpx.Client,
                                                    bom: list[dict[str, Any]]) -> None:
    code = bom[1]["code"]
    body = {"pick_list_no": "LL90000005", "lines": [{"line_no": 1, "item_code": code,
                                                     "quantity": 1}]}
    key = _key()
    first = wms.post("/api/pick-tasks", headers=key, json=body)
    allocated = _batches(demo, code)
    second = wms.post("/api/pick-tasks", headers=key, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.headers["Idempotent-Replay"] == "true"
    assert second.json()["task_no"] == first.json()["task_no"]
    assert _batches(demo, code) == allocated
    count = rows(demo.pg.url("wms"), "SELECT count(*) AS n FROM wms_pick_task")[0]["n"]
    unknown = wms.post("/api/pick-tasks", headers=_key(), json={
        "pick_list_no": "LL90000006", "lines": [{"line_no": 1, "item_code": "M-9999",
                                                 "quantity": 1}]})
    assert unknown.status_code == 422 and unknown.json()["detail"] == "物料 M-9999 在WMS中不存在"
    assert wms.post("/api/pick-tasks", json=body).status_code == 400
    assert rows(demo.pg.url("wms"), "SELECT count(*) AS n FROM wms_pick_task")[0]["n"] == count


def _on_hand(demo: DemoStack, code: str) -> Decimal:
    return Decimal(rows(demo.erp_url, "SELECT s.on_hand FROM stock s JOIN material m ON m.id = "
                                      "s.material_id WHERE m.code = %s AND warehouse = 'WH01'",
                        (code,))[0]["on_hand"])


def test_stock_issue_lowers_stock_exactly_and_is_idempotent(
        demo: DemoStack, erp: httpx.Client, bom: list[dict[str, Any]]) -> None:
    pl = _new_list(demo, erp, "2")   # 4, 1, 2.5
    before = {item["code"]: _on_hand(demo, item["code"]) for item in bom}
    lines = [{"line_no": 1, "material_code": bom[0]["code"], "quantity": "1.5", "batch_no": "B1"},
             {"line_no": 1, "material_code": bom[0]["code"], "quantity": "2.5", "batch_no": "B2"},
             {"line_no": 2, "material_code": bom[1]["code"], "quantity": "1", "batch_no": "B3"},
             {"line_no": 3, "material_code": bom[2]["code"], "quantity": "2.125"}]
    body = {"pick_list_no": pl["pick_list_no"], "pick_task_no": "PK90000001", "lines": lines}
    key = _key()
    made = erp.post("/api/stock-issues", headers=key, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["doc_no"].startswith("CK") and made.json()["list_status"] == "short"
    replay = erp.post("/api/stock-issues", headers=key, json=body)
    assert replay.status_code == 200 and replay.json()["doc_no"] == made.json()["doc_no"]
    after = {item["code"]: _on_hand(demo, item["code"]) for item in bom}
    assert [before[c] - after[c] for c in before] == [Decimal("4"), Decimal("1"),
                                                      Decimal("2.125")]
    shown = erp.get(f"/api/picking-lists/{pl['pick_list_no']}").json()
    assert [(ln["issued_qty"], ln["short_qty"]) for ln in shown["lines"]] == [
        ("4.000", "0.000"), ("1.000", "0.000"), ("2.125", "0.375")]
    assert shown["status"] == "short" and shown["pick_task_no"] == "PK90000001"
    issue = erp.get(f"/api/stock-issues/{made.json()['doc_no']}").json()
    assert [(ln["pl_line_no"], ln["quantity"], ln["batch_no"]) for ln in issue["lines"]] == [
        (1, "1.500", "B1"), (1, "2.500", "B2"), (2, "1.000", "B3"), (3, "2.125", None)]


def test_stock_issue_refusals_store_nothing(demo: DemoStack, erp: httpx.Client,
                                            bom: list[dict[str, Any]]) -> None:
    pl = _new_list(demo, erp, "1")   # 2, 0.5, 1.25
    code = bom[0]["code"]

    def issue(quantity: str, material: str = code, number: int = 1) -> httpx.Response:
        return erp.post("/api/stock-issues", headers=_key(), json={
            "pick_list_no": pl["pick_list_no"],
            "lines": [{"line_no": number, "material_code": material, "quantity": quantity}]})

    over = issue("2.001")
    assert over.status_code == 422
    assert over.json()["detail"] == "超领：领料单行 1 需求 2.000，已领 0.000，本次 2.001"
    assert issue("1", bom[1]["code"]).status_code == 422
    assert issue("1", number=9).json()["detail"] == f"领料单 {pl['pick_list_no']} 没有第 9 行"
    execute(demo.erp_url, "UPDATE stock SET on_hand = 1 WHERE material_id = (SELECT id FROM "
                          f"material WHERE code = '{code}') AND warehouse = 'WH01'")
    short = issue("2")
    assert short.json()["detail"] == f"库存不足：物料 {code} 在仓库 WH01 现存 1.000，本次出库 2.000"
    assert rows(demo.erp_url, "SELECT count(*) AS n FROM stock_issue s JOIN picking_list p ON "
                              "p.id = s.picking_list_id WHERE p.pick_list_no = %s",
                (pl["pick_list_no"],))[0]["n"] == 0
    assert _on_hand(demo, code) == Decimal(1)
    created = erp.post("/api/production-orders/MO00000001/picking-list").json()
    not_released = erp.post("/api/stock-issues", headers=_key(), json={
        "pick_list_no": created["pick_list_no"],
        "lines": [{"line_no": 1, "material_code": code, "quantity": 1}]})
    assert not_released.json()["detail"] == (f"领料单 {created['pick_list_no']} 状态为 created，"
                                             "不能出库")


def test_shortage_onto_the_picking_list(demo: DemoStack, erp: httpx.Client,
                                        bom: list[dict[str, Any]]) -> None:
    pl = _new_list(demo, erp, "10")  # 20, 5, 12.5
    body = {"pick_task_no": "PK90000009",
            "lines": [{"line_no": 3, "material_code": bom[2]["code"], "short_qty": "4.5"}]}
    patched = erp.patch(f"/api/picking-lists/{pl['pick_list_no']}", json=body)
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "short"
    assert [ln["short_qty"] for ln in patched.json()["lines"]] == ["0.000", "0.000", "4.500"]
    again = erp.patch(f"/api/picking-lists/{pl['pick_list_no']}", json=body).json()
    assert [ln["short_qty"] for ln in again["lines"]] == ["0.000", "0.000", "4.500"]
    wrong = erp.patch(f"/api/picking-lists/{pl['pick_list_no']}", json={
        "lines": [{"line_no": 3, "material_code": bom[2]["code"], "short_qty": "13"}]})
    assert wrong.status_code == 422
