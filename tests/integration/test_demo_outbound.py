"""Flow 4's documents in the demo systems (sales outbound), on real PostgreSQL and the real
targets process (no hub): the ERP's sales orders (entered, released), the WMS's outbound orders
(priority, address, customer by code; idempotent; refused for what its masters lack) and their
shipment, the ERP's sales shipments (the order 已发货 or partial, the receivable Σ shipped ×
price due after the customer's terms, one transaction, idempotent, refusals storing nothing)."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from mdm.demo.stack import DemoStack
from tests.helpers import rows


@pytest.fixture(scope="module")
def masters(demo: DemoStack, wms: httpx.Client) -> dict[str, Any]:
    """An active customer with payment terms and two active materials, also in the WMS."""
    customer = rows(demo.erp_url, "SELECT c.code, t.days FROM customer c JOIN "
                                  "customer_payment_terms t ON t.customer_id = c.id WHERE "
                                  "c.active ORDER BY t.days DESC, c.code LIMIT 1")[0]
    materials = [r["code"] for r in rows(demo.erp_url, "SELECT code FROM material WHERE active "
                                                       "ORDER BY code LIMIT 2")]
    for code in materials:
        assert wms.put(f"/api/items/{code}", json={"item_name": "成品"}).status_code in (200, 201)
    assert wms.put(f"/api/customers/{customer['code']}", json={"customer_name": "客户"}
                   ).status_code in (200, 201)
    return {"customer": customer["code"], "days": customer["days"], "materials": materials}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _order(erp: httpx.Client, masters: dict[str, Any], release: bool = True) -> dict[str, Any]:
    made = erp.post("/api/sales-orders", json={
        "customer_code": masters["customer"], "priority": 1, "contact": "陈先生",
        "ship_to_address": "杭州市余杭区文一西路 969 号", "phone": "13900001111",
        "lines": [{"material_code": masters["materials"][0], "quantity": "3",
                   "unit_price": "33.335"},
                  {"material_code": masters["materials"][1], "quantity": "2.5",
                   "unit_price": "19.99"}]})
    assert made.status_code == 201, made.text
    if release:
        released = erp.post(f"/api/sales-orders/{made.json()['so_no']}/release")
        assert released.status_code == 200 and released.json()["status"] == "released"
        return dict(released.json())
    return dict(made.json())


def _ship_body(order: dict[str, Any], quantities: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"so_no": order["so_no"], "outbound_no": "OB90000001", "tracking_no": "SF1234567890",
            "carrier": "顺丰速运", "shipped_at": "2026-12-02T09:30:00+08:00",
            "lines": [{"line_no": ln["line_no"], "material_code": ln["material_code"],
                       "quantity": q} for ln, q in zip(order["lines"], quantities, strict=True)],
            **extra}


def test_sales_order_entered_and_released(erp: httpx.Client, masters: dict[str, Any]) -> None:
    order = _order(erp, masters, release=False)
    assert order["status"] == "created" and order["status_text"] == "已创建"
    assert order["total_amount"] == "149.99"  # round(100.005, 2) = 100.01 + round(49.975) 49.98
    assert order["priority"] == 1 and order["customer_code"] == masters["customer"]
    assert erp.post(f"/api/sales-orders/{order['so_no']}/release").status_code == 200
    assert erp.post(f"/api/sales-orders/{order['so_no']}/release").status_code == 409
    refused = erp.post("/api/sales-orders", json={
        "customer_code": "C9999", "ship_to_address": "x",
        "lines": [{"material_code": masters["materials"][0], "quantity": 1, "unit_price": 1}]})
    assert refused.status_code == 422 and refused.json()["detail"] == "客户 C9999 不存在或已停用"


def test_outbound_order_created_once_and_shipped(demo: DemoStack, wms: httpx.Client,
                                                 masters: dict[str, Any]) -> None:
    body = {"so_no": "SO90000001", "customer_no": masters["customer"], "priority": 1,
            "ship_to_address": "杭州市余杭区文一西路 969 号", "contact": "陈先生",
            "lines": [{"line_no": 1, "item_code": masters["materials"][0], "quantity": "3"},
                      {"line_no": 2, "item_code": masters["materials"][1], "quantity": "2.5"}]}
    key = _key()
    first, second = (wms.post("/api/outbound-orders", headers=key, json=body) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["outbound_no"] == second.json()["outbound_no"]
    number = first.json()["outbound_no"]
    shown = wms.get(f"/api/outbound-orders/{number}").json()
    assert (shown["priority"], shown["ship_to_address"], shown["status"]) == (
        1, "杭州市余杭区文一西路 969 号", "open")
    shipped = wms.post(f"/api/outbound-orders/{number}/ship", json={
        "tracking_no": "SF1234567890", "carrier": "顺丰速运",
        "lines": [{"line_no": 2, "shipped_qty": "2.125"}]})
    assert shipped.status_code == 200, shipped.text
    done = shipped.json()
    assert done["status"] == "shipped" and done["tracking_no"] == "SF1234567890"
    assert [ln["shipped_qty"] for ln in done["lines"]] == ["3.000", "2.125"]
    assert done["shipped_at"] is not None
    assert wms.post(f"/api/outbound-orders/{number}/ship", json={"tracking_no": "x"}
                    ).status_code == 409
    back = wms.patch(f"/api/outbound-orders/{number}", json={"erp_doc_no": "FH00000001",
                                                              "erp_status": "已发货"})
    assert back.status_code == 200 and back.json()["erp_status"] == "已发货"
    assert wms.patch(f"/api/outbound-orders/{number}", json={"status": "open"}).status_code == 422


def test_outbound_refusals_store_nothing(demo: DemoStack, wms: httpx.Client,
                                         masters: dict[str, Any]) -> None:
    count = rows(demo.pg.url("wms"), "SELECT count(*) AS n FROM wms_outbound_order")[0]["n"]
    base = {"so_no": "SO90000002", "customer_no": masters["customer"], "ship_to_address": "北京",
            "lines": [{"line_no": 1, "item_code": masters["materials"][0], "quantity": 1}]}
    unknown_customer = wms.post("/api/outbound-orders", headers=_key(),
                                json={**base, "customer_no": "C9999"})
    assert unknown_customer.json()["detail"] == "客户 C9999 在WMS中不存在或已停用"
    unknown_item = wms.post("/api/outbound-orders", headers=_key(), json={
        **base, "lines": [{"line_no": 1, "item_code": "M-9999", "quantity": 1}]})
    assert unknown_item.json()["detail"] == "物料 M-9999 在WMS中不存在"
    assert wms.post("/api/outbound-orders", headers=_key(),
                    json={**base, "priority": 9}).status_code == 422
    assert rows(demo.pg.url("wms"), "SELECT count(*) AS n FROM wms_outbound_order")[0]["n"] == count


def _ar(demo: DemoStack, so_no: str) -> list[dict[str, Any]]:
    return rows(demo.erp_url, "SELECT a.ar_no, a.amount, a.due_date, c.code FROM ar_entry a JOIN "
                              "sales_order o ON o.id = a.so_id JOIN customer c ON c.id = "
                              "a.customer_id WHERE o.so_no = %s ORDER BY a.id", (so_no,))


def test_shipment_sets_the_order_shipped_and_posts_the_receivable(
        demo: DemoStack, erp: httpx.Client, masters: dict[str, Any]) -> None:
    order = _order(erp, masters)
    key = _key()
    made = erp.post("/api/sales-shipments", headers=key, json=_ship_body(order, ("3", "2.5")))
    assert made.status_code == 201, made.text
    reply = made.json()
    expected = sum(((Decimal(q) * Decimal(p)).quantize(Decimal("0.01"), ROUND_HALF_UP)
                    for q, p in (("3", "33.335"), ("2.5", "19.99"))), Decimal(0))
    due = date(2026, 12, 2) + timedelta(days=masters["days"])
    assert (reply["so_status"], reply["amount"], reply["due_date"]) == (
        "shipped", str(expected), due.isoformat())
    replay = erp.post("/api/sales-shipments", headers=key, json=_ship_body(order, ("3", "2.5")))
    assert replay.status_code == 200 and replay.json() == reply
    shown = erp.get(f"/api/sales-orders/{order['so_no']}").json()
    assert (shown["status"], shown["status_text"], shown["tracking_no"]) == (
        "shipped", "已发货", "SF1234567890")
    assert datetime.fromisoformat(shown["shipped_at"]) == datetime.fromisoformat(
        "2026-12-02T09:30:00+08:00")
    assert [ln["shipped_qty"] for ln in shown["lines"]] == ["3.000", "2.500"]
    assert [(a["ar_no"], a["amount"], a["due_date"], a["code"]) for a in _ar(demo, order["so_no"])
            ] == [(reply["ar_no"], expected, due, masters["customer"])]


def test_partial_shipment_then_the_rest(demo: DemoStack, erp: httpx.Client,
                                        masters: dict[str, Any]) -> None:
    order = _order(erp, masters)
    first = erp.post("/api/sales-shipments", headers=_key(), json=_ship_body(order, ("1", "0")))
    assert first.json()["so_status"] == "partial" and first.json()["amount"] == "33.34"
    over = erp.post("/api/sales-shipments", headers=_key(), json=_ship_body(order, ("2.001", "0")))
    assert over.status_code == 422
    assert over.json()["detail"] == "超发：订单行 1 订购 3.000，已发 1.000，本次 2.001"
    rest = erp.post("/api/sales-shipments", headers=_key(), json=_ship_body(order, ("2", "2.5")))
    assert rest.json()["so_status"] == "shipped"
    assert [a["amount"] for a in _ar(demo, order["so_no"])] == [Decimal("33.34"),
                                                                Decimal("116.65")]


def test_shipment_refusals_store_nothing(demo: DemoStack, erp: httpx.Client,
                                         masters: dict[str, Any]) -> None:
    created = _order(erp, masters, release=False)
    not_released = erp.post("/api/sales-shipments", headers=_key(),
                            json=_ship_body(created, ("1", "1")))
    assert not_released.status_code == 422
    assert not_released.json()["detail"] == f"销售订单 {created['so_no']} 状态为 created，不能发货"
    order = _order(erp, masters)
    wrong = _ship_body(order, ("1", "1"))
    wrong["lines"][0]["material_code"] = masters["materials"][1]
    assert erp.post("/api/sales-shipments", headers=_key(), json=wrong).status_code == 422
    zero = erp.post("/api/sales-shipments", headers=_key(), json=_ship_body(order, ("0", "0")))
    assert zero.json()["detail"] == "没有可发货的数量"
    assert erp.post("/api/sales-shipments", json=_ship_body(order, ("1", "1"))).status_code == 400
    assert _ar(demo, order["so_no"]) == [] and _ar(demo, created["so_no"]) == []
    assert erp.get(f"/api/sales-orders/{order['so_no']}").json()["status"] == "released"
