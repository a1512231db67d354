"""Nested child lists on the real stack: product templates whose variants each list their cost
prices (template → variants → prices). A change to a price makes a new version of the template
(only when what the record holds changed); a price or a variant that moves to another parent
gives both parents a version. Real PostgreSQL, real Debezium."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from tests.helpers import execute, rows
from tests.integration.schema_stack import schema_stack, write_project
from tests.nested_template import TEMPLATE

ERP = [
    "CREATE TABLE t_template (id integer PRIMARY KEY, code varchar(20) NOT NULL, name text)",
    "CREATE TABLE t_variant (id integer PRIMARY KEY, template_id integer NOT NULL "
    "REFERENCES t_template(id), sku varchar(20) NOT NULL)",
    "CREATE TABLE t_cost_price (id integer PRIMARY KEY, variant_id integer NOT NULL "
    "REFERENCES t_variant(id), valid_from date NOT NULL, price numeric(12,2), note text)",
    "INSERT INTO t_template VALUES (1, 'T1', '扳手'), (2, 'T2', '螺丝刀'), (3, 'T3', '钳子')",
    "INSERT INTO t_variant VALUES (11, 1, 'T1-S'), (12, 1, 'T1-L'), (21, 2, 'T2-S'), "
    "(31, 3, 'T3-S'), (32, 3, 'T3-L')",
    "INSERT INTO t_cost_price VALUES (111, 11, '2026-02-01', 2.00), (112, 11, '2026-01-01', 1.00), "
    "(121, 12, '2026-01-01', 5.00), (211, 21, '2026-01-01', 7.00), (311, 31, '2026-01-01', 3.00), "
    "(321, 32, '2026-01-01', 4.00), (322, 32, '2026-03-01', 4.50)",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"),
                            {"golden_records/template.yaml": TEMPLATE})
    with schema_stack(tmp_path_factory.mktemp("stack"), project, ERP) as s:
        yield s


def _settle(stack: DemoStack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _record(stack: DemoStack, code: str) -> dict[str, Any]:
    found = rows(stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'template' "
                 "AND business_key = %s", (code,))
    assert len(found) == 1, f"template {code}: {len(found)} golden records"
    return found[0]


def _lists(record: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """sku → [(valid_from, price)] in the record's order."""
    return {v["sku"]: [(p["valid_from"], p["price"]) for p in v["prices"]]
            for v in record["attributes"]["variants"]}


def test_the_snapshot_nests_each_variants_prices_in_order(stack):
    record = _record(stack, "T1")
    assert record["version"] == 1
    assert [v["sku"] for v in record["attributes"]["variants"]] == ["T1-L", "T1-S"]
    assert _lists(record) == {"T1-L": [("2026-01-01", "5.00")],
                              "T1-S": [("2026-01-01", "1.00"), ("2026-02-01", "2.00")]}
    assert _lists(_record(stack, "T2")) == {"T2-S": [("2026-01-01", "7.00")]}
    assert rows(stack.hub_url, "SELECT id FROM inbox WHERE status = 'failed'") == []


def test_inserting_and_updating_a_price_makes_a_version_of_the_template(stack):
    before = _record(stack, "T1")
    execute(stack.erp_url, "INSERT INTO t_cost_price VALUES (122, 12, '2026-04-01', 6.00)")
    _settle(stack)
    inserted = _record(stack, "T1")
    assert inserted["version"] == before["version"] + 1
    assert _lists(inserted)["T1-L"] == [("2026-01-01", "5.00"), ("2026-04-01", "6.00")]

    execute(stack.erp_url, "UPDATE t_cost_price SET price = 5.50 WHERE id = 121")
    _settle(stack)
    updated = _record(stack, "T1")
    assert updated["version"] == inserted["version"] + 1
    assert _lists(updated)["T1-L"] == [("2026-01-01", "5.50"), ("2026-04-01", "6.00")]
    assert _record(stack, "T2")["version"] == 1  # the other template is untouched

    execute(stack.erp_url, "UPDATE t_cost_price SET note = 'checked' WHERE id = 121")  # unmapped
    _settle(stack)
    assert _record(stack, "T1")["version"] == updated["version"]  # nothing the record holds


def test_a_variant_and_its_prices_inserted_together_make_one_version(stack):
    before = _record(stack, "T2")
    execute(stack.erp_url, "INSERT INTO t_variant VALUES (22, 2, 'T2-L')",  # one transaction
            "INSERT INTO t_cost_price VALUES (221, 22, '2026-01-01', 8.00), "
            "(222, 22, '2026-02-01', 8.50)")
    _settle(stack)
    after = _record(stack, "T2")
    assert after["version"] == before["version"] + 1
    assert _lists(after) == {"T2-L": [("2026-01-01", "8.00"), ("2026-02-01", "8.50")],
                             "T2-S": [("2026-01-01", "7.00")]}


def test_a_price_moved_to_another_variant_of_the_same_template_makes_one_version(stack):
    before = _record(stack, "T1")
    execute(stack.erp_url, "UPDATE t_cost_price SET variant_id = 11 WHERE id = 122")
    _settle(stack)
    after = _record(stack, "T1")
    assert after["version"] == before["version"] + 1
    assert _lists(after) == {
        "T1-L": [("2026-01-01", "5.50")],
        "T1-S": [("2026-01-01", "1.00"), ("2026-02-01", "2.00"), ("2026-04-01", "6.00")]}


def test_a_price_moved_to_another_templates_variant_gives_both_a_version(stack):
    t1, t2 = _record(stack, "T1"), _record(stack, "T2")
    execute(stack.erp_url, "UPDATE t_cost_price SET variant_id = 21 WHERE id = 122")
    _settle(stack)
    new_t1, new_t2 = _record(stack, "T1"), _record(stack, "T2")
    assert (new_t1["version"], new_t2["version"]) == (t1["version"] + 1, t2["version"] + 1)
    assert ("2026-04-01", "6.00") not in _lists(new_t1)["T1-S"]
    assert _lists(new_t2)["T2-S"] == [("2026-01-01", "7.00"), ("2026-04-01", "6.00")]


def test_a_variant_moved_to_another_template_leaves_the_old_one_and_brings_its_prices(stack):
    t1, t3 = _record(stack, "T1"), _record(stack, "T3")
    execute(stack.erp_url, "UPDATE t_variant SET template_id = 1 WHERE id = 32")
    _settle(stack)
    new_t1, new_t3 = _record(stack, "T1"), _record(stack, "T3")
    assert (new_t1["version"], new_t3["version"]) == (t1["version"] + 1, t3["version"] + 1)
    assert _lists(new_t3) == {"T3-S": [("2026-01-01", "3.00")]}  # the old parent lets it go
    assert _lists(new_t1)["T3-L"] == [("2026-01-01", "4.00"), ("2026-03-01", "4.50")]


def test_deleting_a_variant_with_its_prices_makes_one_version_without_them(stack):
    before = _record(stack, "T1")
    execute(stack.erp_url, "DELETE FROM t_cost_price WHERE variant_id = 32",  # one transaction
            "DELETE FROM t_variant WHERE id = 32")
    _settle(stack)
    after = _record(stack, "T1")
    assert after["version"] == before["version"] + 1
    assert set(_lists(after)) == {"T1-L", "T1-S"}
    history = rows(stack.hub_url, "SELECT version FROM golden_version WHERE golden_id = %s "
                   "ORDER BY version", (after["id"],))
    assert [h["version"] for h in history] == list(range(1, after["version"] + 1))
