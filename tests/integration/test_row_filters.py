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


# -- the hub's evaluation agrees with PostgreSQL's WHERE (the snapshot's SELECT) --------------
VALUE_ROWS = [  # (id, i, n, f, s, b, d): as PostgreSQL literals, and as Debezium sends them
    (1, "1", "12.50", "500", "'S0001'", "true", "'2026-11-25'"),
    (2, "-3", "0.00", "0.1", "'s_1%'", "false", "'2025-01-01'"),
    (3, "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"),
    (4, "10", "99999.99", "1e-7", "'供应商'", "true", "'1999-12-31'"),
    (5, "0", "-1.25", "-2.5", "''", "false", "'2026-11-24'"),
]


def _debezium(row: tuple[Any, ...]) -> dict[str, Any]:
    _, i, n, f, s, b, d = row
    nothing = "NULL"
    return {"i": None if i == nothing else int(i), "n": None if n == nothing else n,
            "f": None if f == nothing else float(f), "s": None if s == nothing else s[1:-1],
            "b": None if b == nothing else b == "true",
            "d": None if d == nothing else d[1:-1] + "Z"}


def _atoms() -> Any:
    from hypothesis import strategies as st

    op = st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="])
    ints = st.integers(-5, 12).map(str)
    decimals = st.sampled_from(["0", "12.5", "12.50", "-1.25", "100000", "0.01"])
    floats = st.sampled_from(["500", "500.0", "0.1", "1e-7", "-2.5", "0"])
    texts = st.sampled_from(["'S0001'", "'s_1%'", "'供应商'", "''", "'S'"])
    patterns = st.sampled_from(["'S%'", "'s\\_1\\%'", "'%商'", "'_'", "'%'", "'S000_'"])
    dates = st.sampled_from(["'2026-11-25'", "DATE '2026-01-01'", "'1999-12-31'"])
    column = st.sampled_from(["i", "n", "f", "s", "b", "d"])
    return st.one_of(
        st.tuples(st.just("i"), op, ints).map(" ".join),
        st.tuples(st.just("n"), op, decimals).map(" ".join),
        st.tuples(st.just("f"), op, floats).map(" ".join),
        st.tuples(st.just("s"), op, texts).map(" ".join),
        st.tuples(st.just("d"), op, dates).map(" ".join),
        st.tuples(st.just("s"), st.sampled_from(["LIKE", "NOT LIKE", "ILIKE"]), patterns).map(" ".join),
        st.sampled_from(["b", "NOT b", "b = TRUE", "b IS NOT TRUE", "b IS FALSE"]),
        column.map(lambda c: f"{c} IS NULL"), column.map(lambda c: f"{c} IS NOT NULL"),
        st.lists(ints, min_size=1, max_size=3).map(lambda v: f"i IN ({', '.join(v)})"),
        st.lists(texts, min_size=1, max_size=3).map(lambda v: f"s NOT IN ({', '.join(v)}, NULL)"),
        st.tuples(decimals, decimals).map(lambda v: f"n BETWEEN {v[0]} AND {v[1]}"),
        st.tuples(ints, ints).map(lambda v: f"i NOT BETWEEN {v[0]} AND {v[1]}"),
    )


def _conditions() -> Any:
    from hypothesis import strategies as st

    return st.recursive(_atoms(), lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"NOT ({c})")), max_leaves=4)


def test_the_hub_keeps_exactly_the_rows_postgresql_selects(stack):
    import psycopg
    from hypothesis import HealthCheck, given, settings

    from mdm.config.row_filter import parse_where
    from mdm.config.row_match import matches

    execute(stack.erp_url, "CREATE TABLE t_values (id integer PRIMARY KEY, i integer, "
                           "n numeric(10,2), f float8, s text, b boolean, d date)",
            *[f"INSERT INTO t_values VALUES ({', '.join(map(str, r))})" for r in VALUE_ROWS])
    images = {r[0]: _debezium(r) for r in VALUE_ROWS}
    with psycopg.connect(stack.erp_url, autocommit=True) as conn:

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(_conditions())
        def agree(text: str) -> None:
            row_filter = parse_where(text)
            selected = {r[0] for r in conn.execute(
                f"SELECT id FROM t_values WHERE {row_filter.sql}").fetchall()}
            kept = {key for key, image in images.items() if matches(row_filter, image)}
            assert kept == selected, text

        agree()
