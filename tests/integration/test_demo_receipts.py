"""Flow 2's documents in the demo systems (purchase receipt), on real PostgreSQL and the real
targets process (no hub): the ERP buyer's release, the WMS's pre-receipts (idempotent, refused
for what its masters lack) and receipts (draft, then completed), the ERP's stock-ins (partial,
done, over-receipts, exact decimals, stock) and purchase returns, and the `mdm demo erp|wms`
commands against them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdm.demo.stack import DemoStack
from tests.helpers import rows


@pytest.fixture(scope="module")
def masters(demo: DemoStack, wms: httpx.Client) -> dict[str, Any]:
    """Two active ERP materials and a supplier, also in the WMS's masters (as the hub puts
    them there)."""
    materials = [r["code"] for r in rows(demo.erp_url, "SELECT code FROM material WHERE active "
                                                       "ORDER BY code LIMIT 2")]
    supplier = rows(demo.erp_url, "SELECT code FROM supplier WHERE active ORDER BY code "
                                  "LIMIT 1")[0]["code"]
    for code in materials:
        assert wms.put(f"/api/items/{code}", json={"item_name": f"物料 {code}"}).status_code in (
            200, 201)
    assert wms.put(f"/api/suppliers/{supplier}", json={"supplier_name": "测试供应商"}
                   ).status_code in (200, 201)
    return {"materials": materials, "supplier": supplier}


def _order(erp: httpx.Client, masters: dict[str, Any], quantities: tuple[str, ...],
           release: bool = True) -> str:
    """A new purchase order with a line per quantity (the module's materials in turn)."""
    lines = [{"material_code": masters["materials"][i % 2], "quantity": q, "unit_price": "2.5"}
             for i, q in enumerate(quantities)]
    made = erp.post("/api/purchase-orders", headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={"supplier_code": masters["supplier"], "lines": lines})
    assert made.status_code == 201, made.text
    po_no = str(made.json()["po_no"])
    if release:
        assert erp.post(f"/api/purchase-orders/{po_no}/release").status_code == 200
    return po_no


def _stock_in(erp: httpx.Client, po_no: str, lines: list[tuple[int, str, str]],
              key: str | None = None, warehouse: str = "WH01") -> httpx.Response:
    body = {"po_no": po_no, "receipt_no": "GR99999999", "warehouse": warehouse,
            "lines": [{"po_line_no": n, "material_code": m, "quantity": q, "batch_no": "B1"}
                      for n, m, q in lines]}
    return erp.post("/api/stock-ins", json=body, headers={"Idempotency-Key": key or str(
        uuid.uuid4())})


def _received(demo: DemoStack, po_no: str) -> list[tuple[int, str, str]]:
    found = rows(demo.erp_url, "SELECT l.line_no, l.received_qty, l.returned_qty FROM "
                               "purchase_order_line l JOIN purchase_order o ON o.id = l.po_id "
                               "WHERE o.po_no = %s ORDER BY l.line_no", (po_no,))
    return [(r["line_no"], str(r["received_qty"]), str(r["returned_qty"])) for r in found]


def _status(demo: DemoStack, po_no: str) -> str:
    return str(rows(demo.erp_url, "SELECT status FROM purchase_order WHERE po_no = %s",
                    (po_no,))[0]["status"])


def _on_hand(demo: DemoStack, material: str, warehouse: str = "WH01") -> Decimal:
    found = rows(demo.erp_url, "SELECT s.on_hand FROM stock s JOIN material m ON m.id = "
                               "s.material_id WHERE m.code = %s AND s.warehouse = %s",
                 (material, warehouse))
    return Decimal(found[0]["on_hand"]) if found else Decimal(0)


def _wms_db(demo: DemoStack) -> str:
    return demo.pg.url("wms")


def _count(url: str, table: str) -> int:
    return int(rows(url, f"SELECT count(*) AS n FROM {table}")[0]["n"])


# -- the ERP's release -----------------------------------------------------------------------


def test_release_moves_a_created_order_to_released_once(demo, erp, masters):
    po_no = _order(erp, masters, ("10",), release=False)
    released = erp.post(f"/api/purchase-orders/{po_no}/release")
    assert released.status_code == 200
    assert (released.json()["po_no"], released.json()["status"]) == (po_no, "released")
    assert _status(demo, po_no) == "released"
    again = erp.post(f"/api/purchase-orders/{po_no}/release")
    assert again.status_code == 409 and "released" in again.json()["detail"]
    assert erp.post("/api/purchase-orders/4599999999/release").status_code == 404


# -- the WMS's pre-receipts ------------------------------------------------------------------


def _pre_body(po_no: str, masters: dict[str, Any], **changes: Any) -> dict[str, Any]:
    first, second = masters["materials"]
    return {"po_no": po_no, "supplier_no": masters["supplier"], "expected_date": "2026-12-20",
            "lines": [{"line_no": 1, "item_code": first, "quantity": "100"},
                      {"line_no": 2, "item_code": second, "quantity": 20.5}], **changes}


def test_a_pre_receipt_is_made_once_per_key_with_its_lines(demo, wms, masters):
    key = f"flow/pre/{uuid.uuid4()}"
    made = wms.post("/api/pre-receipts", json=_pre_body("4500000101", masters),
                    headers={"Idempotency-Key": key})
    assert made.status_code == 201, made.text
    pre_no = made.json()["pre_no"]
    assert made.json() == {"id": pre_no, "pre_no": pre_no} and re.fullmatch(r"ASN\d{8}", pre_no)
    before = _count(_wms_db(demo), "wms_pre_receipt_line")
    again = wms.post("/api/pre-receipts", json=_pre_body("4500000101", masters),
                     headers={"Idempotency-Key": key})
    assert (again.status_code, again.json(), again.headers["Idempotent-Replay"]) == (
        200, made.json(), "true")
    assert _count(_wms_db(demo), "wms_pre_receipt_line") == before
    found = wms.get(f"/api/pre-receipts/{pre_no}").json()
    assert (found["po_no"], found["supplier_no"], found["expected_date"], found["status"],
            found["mdm_key"]) == ("4500000101", masters["supplier"], "2026-12-20", "open", key)
    assert [(ln["line_no"], ln["item_code"], ln["quantity"]) for ln in found["lines"]] == [
        (1, masters["materials"][0], "100.000"), (2, masters["materials"][1], "20.500")]
    assert wms.get("/api/pre-receipts/ASN99999999").status_code == 404
    assert wms.post("/api/pre-receipts", json=_pre_body("4500000101", masters)
                    ).status_code == 400  # no Idempotency-Key


def test_a_fault_on_the_pre_receipt_stores_nothing_and_the_retry_creates(demo, wms, masters):
    armed = wms.post("/_faults", json={"fail_next": 1, "status": 503, "keys": ["4500000106"]})
    assert armed.status_code == 200
    key = f"flow/pre/{uuid.uuid4()}"
    body = _pre_body("4500000106", masters)
    failed = wms.post("/api/pre-receipts", json=body, headers={"Idempotency-Key": key})
    assert failed.status_code == 503
    assert rows(_wms_db(demo), "SELECT 1 FROM wms_pre_receipt WHERE mdm_key = %s", (key,)) == []
    retry = wms.post("/api/pre-receipts", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201
    assert rows(_wms_db(demo), "SELECT pre_no FROM wms_pre_receipt WHERE mdm_key = %s",
                (key,)) == [{"pre_no": retry.json()["pre_no"]}]


PRE_REFUSALS = ["unknown item", "unknown supplier", "no lines", "quantity zero"]


@pytest.mark.parametrize("case", PRE_REFUSALS)
def test_a_refused_pre_receipt_says_why_in_chinese_and_stores_nothing(demo, wms, masters, case):
    body = _pre_body("4500000102", masters)
    if case == "unknown item":
        body["lines"].append({"line_no": 3, "item_code": "M-9999", "quantity": 1})
        expected = "物料 M-9999 在WMS中不存在"
    elif case == "unknown supplier":
        body["supplier_no"], expected = "S0999", "供应商 S0999 在WMS中不存在"
    elif case == "no lines":
        body["lines"], expected = [], "单据至少需要一行明细（lines 不能为空）"
    else:
        body["lines"][1]["quantity"] = 0
        expected = f"第 2 行物料 {masters['materials'][1]} 的数量必须大于 0，收到 0"
    key = f"flow/pre/{uuid.uuid4()}"
    before = (_count(_wms_db(demo), "wms_pre_receipt"),
              _count(_wms_db(demo), "wms_pre_receipt_line"))
    refused = wms.post("/api/pre-receipts", json=body, headers={"Idempotency-Key": key})
    assert (refused.status_code, refused.json()) == (422, {"detail": expected})
    assert (_count(_wms_db(demo), "wms_pre_receipt"),
            _count(_wms_db(demo), "wms_pre_receipt_line")) == before


# -- the WMS's receipts ----------------------------------------------------------------------


def test_a_receipt_is_a_draft_then_completed_and_closes_its_pre_receipt(demo, wms, masters):
    pre_no = wms.post("/api/pre-receipts", json=_pre_body("4500000103", masters),
                      headers={"Idempotency-Key": str(uuid.uuid4())}).json()["pre_no"]
    body = {"po_no": "4500000103", "warehouse": "WH01", "received_by": "仓管员 张三",
            "lines": [{"po_line_no": 1, "received_qty": "100", "accepted_qty": "100",
                       "batch_no": "B2612"},
                      {"po_line_no": 2, "received_qty": "20.5", "accepted_qty": "18.5",
                       "rejected_qty": "2", "reject_reason": "包装破损"}]}
    made = wms.post("/api/receipts", json=body)
    assert made.status_code == 201, made.text
    no = made.json()["receipt_no"]
    assert re.fullmatch(r"GR\d{8}", no) and made.json()["status"] == "draft"
    stored = rows(_wms_db(demo), "SELECT status, pre_no, received_at FROM wms_receipt WHERE "
                                   "receipt_no = %s", (no,))  # committed as a draft
    assert stored == [{"status": "draft", "pre_no": pre_no, "received_at": None}]
    draft = wms.get(f"/api/receipts/{no}").json()
    assert [(ln["line_no"], ln["po_line_no"], ln["item_code"], ln["received_qty"],
             ln["accepted_qty"], ln["rejected_qty"], ln["batch_no"], ln["reject_reason"])
            for ln in draft["lines"]] == [
        (1, 1, masters["materials"][0], "100.000", "100.000", "0.000", "B2612", None),
        (2, 2, masters["materials"][1], "20.500", "18.500", "2.000", None, "包装破损")]
    done = wms.post(f"/api/receipts/{no}/complete")
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["received_by"]) == ("completed", "仓管员 张三")
    assert done.json()["received_at"]
    again = wms.post(f"/api/receipts/{no}/complete")
    assert again.status_code == 409 and "completed" in again.json()["detail"]
    assert wms.post("/api/receipts/GR99999999/complete").status_code == 404
    # 2 of line 2 rejected: the pre-receipt waits for them
    assert wms.get(f"/api/pre-receipts/{pre_no}").json()["status"] == "receiving"
    rest = {**body, "lines": [{"po_line_no": 2, "received_qty": "2"}]}
    second = wms.post("/api/receipts", json=rest).json()["receipt_no"]
    assert wms.post(f"/api/receipts/{second}/complete").status_code == 200
    assert wms.get(f"/api/pre-receipts/{pre_no}").json()["status"] == "closed"


def test_a_receipt_refuses_quantities_that_do_not_add_up_and_unknown_items(demo, wms, masters):
    before = _count(_wms_db(demo), "wms_receipt")
    unequal = wms.post("/api/receipts", json={"po_no": "4500000104", "lines": [
        {"po_line_no": 1, "item_code": masters["materials"][0], "received_qty": "10",
         "accepted_qty": "9", "rejected_qty": "2"}]})
    assert unequal.status_code == 422
    assert unequal.json()["detail"] == "第 1 行合格数量 9 加不合格数量 2 不等于收货数量 10"
    unknown = wms.post("/api/receipts", json={"po_no": "4500000104", "lines": [
        {"po_line_no": 1, "item_code": "M-9999", "received_qty": "1"}]})
    assert (unknown.status_code, unknown.json()["detail"]) == (422, "物料 M-9999 在WMS中不存在")
    no_item = wms.post("/api/receipts", json={"po_no": "4500000104", "lines": [
        {"po_line_no": 1, "received_qty": "1"}]})  # no pre-receipt to take it from
    assert no_item.status_code == 422 and "item_code" in no_item.json()["detail"]
    assert _count(_wms_db(demo), "wms_receipt") == before


def test_the_write_back_sets_only_the_erp_stock_in_number(demo, wms, masters):
    no = wms.post("/api/receipts", json={"po_no": "4500000105", "lines": [
        {"po_line_no": 1, "item_code": masters["materials"][0], "received_qty": "1"}]}
    ).json()["receipt_no"]
    patched = wms.patch(f"/api/receipts/{no}", json={"erp_doc_no": "RK00000001"},
                        headers={"Idempotency-Key": f"flow/back/{no}"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["erp_doc_no"], patched.json()["status"]) == ("RK00000001", "draft")
    refused = wms.patch(f"/api/receipts/{no}", json={"erp_doc_no": "RK2", "status": "completed"})
    assert refused.status_code == 422 and "'status'" in refused.json()["detail"]
    assert wms.patch("/api/receipts/GR99999999", json={"erp_doc_no": "RK1"}).status_code == 404
    assert wms.get(f"/api/receipts/{no}").json()["erp_doc_no"] == "RK00000001"


# -- the ERP's stock-ins ---------------------------------------------------------------------


def test_a_stock_in_receives_part_then_the_rest_with_exact_decimals(demo, erp, masters):
    po_no = _order(erp, masters, ("100", "0.3"))
    first, second = masters["materials"]
    stock = (_on_hand(demo, first), _on_hand(demo, second))
    part = _stock_in(erp, po_no, [(1, first, "60"), (2, second, "0.1")])
    assert part.status_code == 201, part.text
    doc_no = part.json()["doc_no"]
    assert part.json() == {"id": doc_no, "doc_no": doc_no, "po_status": "partial"}
    assert re.fullmatch(r"RK\d{8}", doc_no)
    assert (_status(demo, po_no), _received(demo, po_no)) == (
        "partial", [(1, "60.000", "0.000"), (2, "0.100", "0.000")])
    rest = _stock_in(erp, po_no, [(1, first, "40"), (2, second, 0.2)])
    assert (rest.status_code, rest.json()["po_status"]) == (201, "done")
    # 0.1 + 0.2 is 0.300 exactly (as floats 0.30000000000000004 ≠ 0.3)
    assert _received(demo, po_no) == [(1, "100.000", "0.000"), (2, "0.300", "0.000")]
    assert _status(demo, po_no) == "done"
    assert (_on_hand(demo, first), _on_hand(demo, second)) == (
        stock[0] + 100, stock[1] + Decimal("0.3"))
    found = erp.get(f"/api/stock-ins/{doc_no}").json()
    assert (found["po_no"], found["receipt_no"], found["warehouse"]) == (po_no, "GR99999999",
                                                                         "WH01")
    assert [(ln["line_no"], ln["po_line_no"], ln["material_code"], ln["quantity"],
             ln["batch_no"]) for ln in found["lines"]] == [
        (1, 1, first, "60.000", "B1"), (2, 2, second, "0.100", "B1")]
    listed = erp.get("/api/stock-ins", params={"po_no": po_no}).json()["items"]
    assert [item["doc_no"] for item in listed] == [rest.json()["doc_no"], doc_no]
    assert erp.get("/api/stock-ins/RK99999999").status_code == 404


def test_an_over_receipt_within_ten_percent_is_taken_and_beyond_is_refused(demo, erp, masters):
    po_no = _order(erp, masters, ("100",))
    material = masters["materials"][0]
    assert _stock_in(erp, po_no, [(1, material, "95")]).status_code == 201
    before = (_count(demo.erp_url, "stock_in"), _count(demo.erp_url, "stock_in_line"),
              _on_hand(demo, material), _received(demo, po_no))
    refused = _stock_in(erp, po_no, [(1, material, "20")])
    assert (refused.status_code, refused.json()["detail"]) == (
        422, "超收：订单行 1 订购 100.000，已收 95.000，本次 20.000，超过允许的 10%")
    assert (_count(demo.erp_url, "stock_in"), _count(demo.erp_url, "stock_in_line"),
            _on_hand(demo, material), _received(demo, po_no)) == before
    assert _status(demo, po_no) == "partial"
    taken = _stock_in(erp, po_no, [(1, material, "15")])  # 110 of 100: exactly 10 % over
    assert (taken.status_code, taken.json()["po_status"]) == (201, "done")
    assert _received(demo, po_no) == [(1, "110.000", "0.000")]


def test_the_same_stock_in_key_again_answers_the_document_it_made(demo, erp, masters):
    po_no = _order(erp, masters, ("10",))
    material = masters["materials"][0]
    key = f"flow/stock-in/{uuid.uuid4()}"
    first = _stock_in(erp, po_no, [(1, material, "4")], key=key)
    stock = _on_hand(demo, material)
    again = _stock_in(erp, po_no, [(1, material, "4")], key=key)
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replay"]) == (
        201, 200, "true")
    assert again.json() == first.json()
    assert (_on_hand(demo, material), _received(demo, po_no)) == (stock, [(1, "4.000", "0.000")])


def test_an_answer_lost_after_the_stock_in_committed_is_found_again_by_its_key(demo, erp,
                                                                                masters):
    po_no = _order(erp, masters, ("10",))
    assert erp.post("/_faults", json={"fail_next": 1, "status": 503, "after_write": True}
                    ).status_code == 200
    key = f"flow/stock-in/{uuid.uuid4()}"
    material = masters["materials"][0]
    assert _stock_in(erp, po_no, [(1, material, "10")], key=key).status_code == 503
    made = rows(demo.erp_url, "SELECT doc_no FROM stock_in WHERE mdm_key = %s", (key,))
    assert len(made) == 1
    retry = _stock_in(erp, po_no, [(1, material, "10")], key=key)
    assert (retry.status_code, retry.json()["doc_no"]) == (200, made[0]["doc_no"])
    assert _received(demo, po_no) == [(1, "10.000", "0.000")]


def test_concurrent_stock_ins_on_one_order_never_pass_the_tolerance(demo, erp, masters):
    po_no = _order(erp, masters, ("100",))
    material = masters["materials"][0]
    stock = _on_hand(demo, material)
    with ThreadPoolExecutor(6) as pool:  # 6 × 20 = 120: one of them would pass 110
        answers = list(pool.map(lambda _: _stock_in(erp, po_no, [(1, material, "20")]),
                                range(6)))
    assert sorted(a.status_code for a in answers) == [201] * 5 + [422]
    assert _received(demo, po_no) == [(1, "100.000", "0.000")]
    assert (_on_hand(demo, material), _status(demo, po_no)) == (stock + 100, "done")


def test_concurrent_stock_ins_with_one_key_make_one_document(demo, erp, masters):
    po_no = _order(erp, masters, ("100",))
    material = masters["materials"][0]
    key = f"flow/stock-in/{uuid.uuid4()}"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _stock_in(erp, po_no, [(1, material, "7")], key=key),
                                range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["doc_no"] for a in answers}) == 1
    assert _received(demo, po_no) == [(1, "7.000", "0.000")]


STOCK_IN_REFUSALS = ["created order", "unknown order", "no such line", "other material",
                     "all zero", "closed period"]


@pytest.mark.parametrize("case", STOCK_IN_REFUSALS)
def test_a_refused_stock_in_says_why_in_chinese_and_stores_nothing(demo, erp, masters, case):
    first, second = masters["materials"]
    po_no = _order(erp, masters, ("10", "5"), release=case != "created order")
    lines = [(1, first, "1"), (2, second, "1")]
    if case == "created order":
        expected = f"采购订单 {po_no} 状态为 created，不能入库"
    elif case == "unknown order":
        po_no, expected = "4599999999", "采购订单 4599999999 不存在"
    elif case == "no such line":
        lines, expected = [*lines, (3, first, "1")], f"采购订单 {po_no} 没有订单行 3"
    elif case == "other material":
        lines, expected = [(2, first, "1")], f"订单行 2 的物料为 {second}，不是 {first}"
    elif case == "all zero":
        lines, expected = [(1, first, "0"), (2, second, "0.000")], "没有可入库的数量"
    else:
        period = rows(demo.erp_url, "SELECT to_char(current_date, 'YYYY-MM') AS p")[0]["p"]
        rows(demo.erp_url, "INSERT INTO accounting_period VALUES (%s, true) RETURNING period",
             (period,))
        expected = f"会计期间 {period} 已关账，不能入库"
    before = (_count(demo.erp_url, "stock_in"), _on_hand(demo, first), _on_hand(demo, second))
    try:
        refused = _stock_in(erp, po_no, lines)
    finally:
        rows(demo.erp_url, "DELETE FROM accounting_period RETURNING period")
    assert (refused.status_code, refused.json()) == (422, {"detail": expected})
    assert (_count(demo.erp_url, "stock_in"), _on_hand(demo, first),
            _on_hand(demo, second)) == before


def test_stock_is_kept_per_warehouse_and_zero_lines_are_skipped(demo, erp, masters):
    po_no = _order(erp, masters, ("10", "5"))
    first, second = masters["materials"]
    stock = (_on_hand(demo, first, "WH03"), _on_hand(demo, second, "WH03"))
    made = _stock_in(erp, po_no, [(1, first, "3.25"), (2, second, "0")], warehouse="WH03")
    assert made.status_code == 201
    lines = erp.get(f"/api/stock-ins/{made.json()['doc_no']}").json()["lines"]
    assert [(ln["po_line_no"], ln["quantity"]) for ln in lines] == [(1, "3.250")]
    assert (_on_hand(demo, first, "WH03"), _on_hand(demo, second, "WH03")) == (
        stock[0] + Decimal("3.25"), stock[1])


# -- the ERP's purchase returns --------------------------------------------------------------


def test_a_purchase_return_records_rejected_goods_without_touching_stock(demo, erp, masters):
    po_no = _order(erp, masters, ("20", "5"))
    first, second = masters["materials"]
    assert _stock_in(erp, po_no, [(1, first, "18")]).status_code == 201
    stock = _on_hand(demo, first)
    key = f"flow/return/{uuid.uuid4()}"
    body = {"po_no": po_no, "receipt_no": "GR99999998",
            "lines": [{"po_line_no": 1, "material_code": first, "quantity": "2",
                       "reason": "包装破损"},
                      {"po_line_no": 2, "material_code": second, "quantity": "0"}]}
    made = erp.post("/api/purchase-returns", json=body, headers={"Idempotency-Key": key})
    assert made.status_code == 201, made.text
    doc_no = made.json()["doc_no"]
    assert made.json() == {"id": doc_no, "doc_no": doc_no} and re.fullmatch(r"TH\d{8}", doc_no)
    again = erp.post("/api/purchase-returns", json=body, headers={"Idempotency-Key": key})
    assert (again.status_code, again.json()) == (200, made.json())
    found = erp.get(f"/api/purchase-returns/{doc_no}").json()
    assert (found["po_no"], found["receipt_no"], found["status"], found["mdm_key"]) == (
        po_no, "GR99999998", "created", key)
    assert [(ln["po_line_no"], ln["material_code"], ln["quantity"], ln["reason"])
            for ln in found["lines"]] == [(1, first, "2.000", "包装破损")]
    assert _received(demo, po_no) == [(1, "18.000", "2.000"), (2, "0.000", "0.000")]
    assert (_on_hand(demo, first), _status(demo, po_no)) == (stock, "partial")
    zero = erp.post("/api/purchase-returns", headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={**body, "lines": [body["lines"][1]]})
    assert (zero.status_code, zero.json()["detail"]) == (422, "没有可退货的数量")
    created = _order(erp, masters, ("1",), release=False)
    early = erp.post("/api/purchase-returns", headers={"Idempotency-Key": str(uuid.uuid4())},
                     json={**body, "po_no": created})
    assert (early.status_code, early.json()["detail"]) == (
        422, f"采购订单 {created} 状态为 created，不能退货")


# -- the CLI ---------------------------------------------------------------------------------


def _mdm(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mdm.cli.main", "demo", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("MDM_")},
                               "COLUMNS": "200"})


def test_the_cli_releases_an_order_and_receives_against_its_pre_receipt(demo, erp, wms,
                                                                         masters, tmp_path):
    state = tmp_path / ".mdm" / "demo"
    state.mkdir(parents=True)
    shutil.copy(demo.write_state(), state / "demo.json")
    assert json.loads((state / "demo.json").read_text())["wms_url"] == demo.wms_url
    po_no = _order(erp, masters, ("100", "20.5"), release=False)
    released = _mdm(tmp_path, "erp", "release", po_no)
    assert released.returncode == 0, released.stderr
    assert f"{po_no} released" in released.stdout and _status(demo, po_no) == "released"
    again = _mdm(tmp_path, "erp", "release", po_no)
    assert again.returncode == 1 and "ERP answered 409" in again.stderr
    pre_no = wms.post("/api/pre-receipts", json=_pre_body(po_no, masters),
                      headers={"Idempotency-Key": str(uuid.uuid4())}).json()["pre_no"]
    received = _mdm(tmp_path, "wms", "receive", po_no, "--line", "1:80:80",
                    "--line", "2:20.5:18.5:2:包装破损", "--batch", "B2612", "--by", "张三")
    assert received.returncode == 0, received.stderr
    no = received.stdout.split()[0]
    assert re.fullmatch(r"GR\d{8}", no) and "completed at" in received.stdout
    found = wms.get(f"/api/receipts/{no}").json()
    assert (found["status"], found["pre_no"], found["received_by"]) == ("completed", pre_no, "张三")
    assert [(ln["item_code"], ln["accepted_qty"], ln["rejected_qty"], ln["batch_no"],
             ln["reject_reason"]) for ln in found["lines"]] == [
        (masters["materials"][0], "80.000", "0.000", "B2612", None),
        (masters["materials"][1], "18.500", "2.000", "B2612", "包装破损")]
    drafted = _mdm(tmp_path, "wms", "receive", po_no, "--line", "1:20:20", "--draft")
    assert drafted.returncode == 0 and drafted.stdout.split()[1] == "draft"
    shown = _mdm(tmp_path, "wms", "show", no)
    assert shown.returncode == 0 and "status completed" in shown.stdout
    assert "包装破损" in shown.stdout and "18.500" in shown.stdout
    shown_pre = _mdm(tmp_path, "wms", "show", pre_no)
    assert shown_pre.returncode == 0 and "status receiving" in shown_pre.stdout
    bad = _mdm(tmp_path, "wms", "receive", po_no, "--line", "1:many:3")
    assert bad.returncode != 0 and "not a number" in bad.stderr
