"""Row filters on the real stack: a party table of which only suppliers are records
(`where: is_supplier`) and a price table of which only the company's list prices are in the
record (`where: price_list = 'LIST'`). Real PostgreSQL, real Debezium."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from tests.helpers import execute, rows
from tests.integration.schema_stack import schema_stack, write_project

PARTNER = """entity: partner
table: public.t_party
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
where: is_supplier
retired_when: {column: active, equals: false}
children:
  prices:
    table: public.t_party_price
    parent_column: party_id
    where: "price_list = 'LIST'"
    attributes:
      item: {type: string}
      price: {type: decimal}
    order_by: item
"""
ERP = [
    "CREATE TABLE t_party (id integer PRIMARY KEY, code varchar(20), name text NOT NULL, "
    "is_supplier boolean NOT NULL DEFAULT false, active boolean NOT NULL DEFAULT true)",
    "CREATE TABLE t_party_price (id integer PRIMARY KEY, party_id integer NOT NULL "
    "REFERENCES t_party(id), price_list varchar(10) NOT NULL, item text NOT NULL, price numeric(12,2))",
    # a customer without a code: decoding it would fail `required`, but it is no supplier
    "INSERT INTO t_party VALUES (1, 'S1', '苏州供应商', true), (2, NULL, '散客', false), "
    "(3, 'C3', '上海客户', false)",
    "INSERT INTO t_party_price VALUES (11, 1, 'LIST', 'bolt', 1.50), (12, 1, 'PROMO', 'bolt', 1.20), "
    "(13, 1, 'LIST', 'nut', 0.30), (31, 3, 'LIST', 'bolt', 1.60)",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"),
                            {"golden_records/partner.yaml": PARTNER})
    with schema_stack(tmp_path_factory.mktemp("stack"), project, ERP) as s:
        yield s


def _settle(stack: DemoStack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _records(stack: DemoStack) -> dict[str, dict[str, Any]]:
    return {r["source_key"]: r for r in rows(
        stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'partner'")}


def _prices(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["item"], p["price"]) for p in record["attributes"]["prices"]]


def test_snapshot_makes_records_of_matching_rows_only_and_reads_no_other(stack):
    records = _records(stack)
    assert set(records) == {"1"}
    assert _prices(records["1"]) == [("bolt", "1.50"), ("nut", "0.30")]
    assert rows(stack.hub_url, "SELECT id FROM inbox WHERE status = 'failed'") == []
    # the snapshot's SELECTs carried the filters: rows they leave out were never read (a list
    # price of a party that is no supplier is read: each table has its own filter)
    read = {(r["table_name"], r["row_key"]) for r in rows(
        stack.hub_url, "SELECT table_name, row_key FROM inbox WHERE is_snapshot")}
    assert read == {("public.t_party", "1"), ("public.t_party_price", "11"),
                    ("public.t_party_price", "13"), ("public.t_party_price", "31")}


def test_a_main_row_that_starts_and_stops_matching_makes_then_retires_its_record(stack):
    execute(stack.erp_url, "INSERT INTO t_party VALUES (4, 'P4', '杭州伙伴', false)")
    _settle(stack)
    assert "4" not in _records(stack)  # not matching: no record

    execute(stack.erp_url, "UPDATE t_party SET is_supplier = true WHERE id = 4")
    _settle(stack)
    record = _records(stack)["4"]
    assert (record["status"], record["version"]) == ("active", 1)
    assert record["attributes"]["name"] == "杭州伙伴"

    execute(stack.erp_url, "UPDATE t_party SET is_supplier = false, name = '杭州伙伴·改' WHERE id = 4")
    _settle(stack)
    record = _records(stack)["4"]
    assert (record["status"], record["version"]) == ("retired", 2)
    assert record["attributes"]["name"] == "杭州伙伴"  # retired as it last was a supplier

    execute(stack.erp_url, "UPDATE t_party SET is_supplier = true WHERE id = 4")
    _settle(stack)
    record = _records(stack)["4"]
    assert (record["status"], record["version"]) == ("active", 3)
    assert record["attributes"]["name"] == "杭州伙伴·改"


def test_a_non_matching_row_that_would_not_map_is_no_failure(stack):
    execute(stack.erp_url, "INSERT INTO t_party VALUES (5, NULL, '无编码客户', false)",
            "UPDATE t_party SET name = '散客·改' WHERE id = 2")
    _settle(stack)
    assert "5" not in _records(stack) and "2" not in _records(stack)
    assert rows(stack.hub_url, "SELECT id FROM inbox WHERE status = 'failed'") == []


def test_a_child_row_leaves_the_list_when_it_stops_matching_and_joins_when_it_matches(stack):
    before = _records(stack)["1"]
    execute(stack.erp_url, "UPDATE t_party_price SET price_list = 'PROMO' WHERE id = 13")
    _settle(stack)
    after = _records(stack)["1"]
    assert _prices(after) == [("bolt", "1.50")] and after["version"] == before["version"] + 1

    execute(stack.erp_url, "UPDATE t_party_price SET price = 9.99 WHERE id = 13")  # still PROMO
    _settle(stack)
    assert _records(stack)["1"]["version"] == after["version"]  # nothing the record holds changed

    execute(stack.erp_url, "UPDATE t_party_price SET price_list = 'LIST' WHERE id = 12")
    _settle(stack)
    assert _prices(_records(stack)["1"]) == [("bolt", "1.50"), ("bolt", "1.20")]  # by item, then id
