"""The float attribute type on the real stack: float8/real ERP columns reach the golden record as
500 (not 500.0) and 0.1, an SQL target holds the same numbers, and its copy, captured back,
compares exactly (no divergence) until someone edits it; NaN and infinity are kept failed with
their reason. Real PostgreSQL, real Debezium, the SQL target in the WMS database."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from tests.helpers import eventually, execute, rows
from tests.integration.schema_stack import schema_stack, write_project

FILES = {
    "golden_records/stock_item.yaml": """entity: stock_item
table: public.t_stock_item
business_key: code
attributes:
  code: {type: string, required: true}
  qty: {type: float}
  net_weight: {type: float}
""",
    "targets/wh.yaml": """name: wh
kind: sql
url: ${MDM_WMS_DB_URL}
entities:
  stock_item:
    table: wh_item
    key: item_code
    active_field: active
    fields: {item_code: code, quantity: qty, weight: net_weight}
""",
    "cdc/wh.yaml": """name: wh
authority: observed
observes: wh
url: ${MDM_WMS_DB_URL}
slot: mdm_wh
publication: mdm_wh
tables:
  public.wh_item: {entity: stock_item}
""",
    "rules/stock_item.yaml": """entity: stock_item
divergence:
  - target: wh
    fields: [quantity, weight]
""",
}
ERP = [
    "CREATE TABLE t_stock_item (id integer PRIMARY KEY, code varchar(20) NOT NULL, qty float8, "
    "net_weight real)",
    "INSERT INTO t_stock_item VALUES (1, 'F1', 500, 0.25), (2, 'F2', 0.1, 0.1), "
    "(3, 'F3', 1e-7, NULL), (4, 'F4', 123456.789, 2), (5, 'F5', 'NaN', 1), (6, 'F6', 1, '-Infinity')",
]
WMS = ["CREATE TABLE wh_item (id serial PRIMARY KEY, item_code varchar(20) NOT NULL UNIQUE, "
       "quantity float8, weight real, active boolean NOT NULL DEFAULT true)"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"), FILES)
    with schema_stack(tmp_path_factory.mktemp("stack"), project, ERP, {"wms": WMS}) as s:
        yield s


def _golden(stack: DemoStack) -> dict[str, dict[str, Any]]:
    return {r["business_key"]: r for r in rows(
        stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'stock_item'")}


def _open_divergences(stack: DemoStack) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT business_key, summary FROM task WHERE type = 'divergence' "
                               "AND status = 'open' AND entity = 'stock_item'")


def test_float8_is_an_int_when_integral_and_an_exact_float_otherwise(stack):
    golden = _golden(stack)
    assert golden["F1"]["attributes"]["qty"] == 500
    assert type(golden["F1"]["attributes"]["qty"]) is int  # 500, not 500.0
    assert golden["F2"]["attributes"]["qty"] == 0.1
    assert golden["F3"]["attributes"]["qty"] == 1e-7
    assert golden["F4"]["attributes"]["qty"] == 123456.789
    assert type(golden["F4"]["attributes"]["net_weight"]) is int  # real 2 → 2
    [payload] = rows(stack.hub_url, "SELECT d.payload FROM delivery d JOIN golden_record g ON "
                                    "g.id = d.golden_id WHERE g.business_key = 'F1' AND d.status = 'acked'")
    assert payload["payload"]["quantity"] == 500 and type(payload["payload"]["quantity"]) is int


def test_nan_and_infinity_are_kept_failed_with_their_reason(stack):
    failed = {r["row_key"]: r["error"] for r in rows(
        stack.hub_url, "SELECT row_key, error FROM inbox WHERE status = 'failed' "
                       "AND table_name = 'public.t_stock_item'")}
    assert set(failed) == {"5", "6"}
    assert "column qty (float)" in failed["5"] and "NaN" in failed["5"]
    assert "column net_weight (float)" in failed["6"] and "Infinity" in failed["6"]
    assert all("JSON has no NaN or infinity" in reason for reason in failed.values())
    assert "F5" not in _golden(stack) and "F6" not in _golden(stack)


def test_the_sql_target_holds_the_same_numbers_and_its_echo_is_no_divergence(stack):
    wms = {r["item_code"]: r for r in rows(stack.pg.url("wms"), "SELECT * FROM wh_item")}
    assert (wms["F1"]["quantity"], wms["F2"]["quantity"], wms["F3"]["quantity"]) == (500.0, 0.1, 1e-7)
    assert wms["F4"]["weight"] == 2.0
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wh", timeout=120)
    compared = rows(stack.hub_url, "SELECT count(*) AS n FROM inbox WHERE source = 'wh' "
                                   "AND status = 'done'")[0]["n"]
    assert compared >= 4  # every copy was captured back and compared
    assert _open_divergences(stack) == []


def test_a_hand_edit_of_a_float_at_the_target_is_a_divergence(stack):
    execute(stack.pg.url("wms"), "UPDATE wh_item SET quantity = 500.5 WHERE item_code = 'F1'")
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wh", timeout=120)
    assert eventually(lambda: [t["business_key"] for t in _open_divergences(stack)] == ["F1"])
    [task] = _open_divergences(stack)
    assert "quantity is 500.5, golden 500" in task["summary"]


def test_an_erp_edit_to_a_float_reaches_the_target_and_closes_the_divergence(stack):
    execute(stack.erp_url, "UPDATE t_stock_item SET qty = 500.5 WHERE code = 'F1'")
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)
    assert _golden(stack)["F1"]["attributes"]["qty"] == 500.5
    wait_observed(stack.pg.url("wms"), stack.hub_url, "wh", timeout=120)
    assert eventually(lambda: _open_divergences(stack) == [])
