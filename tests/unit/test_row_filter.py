"""Row filters (`where:`): parsed when the project loads, every unsupported construct a
ConfigError naming the file and the key; evaluated like SQL's WHERE on Debezium row images."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.config.row_filter import RowFilterError, parse_where, snapshot_overrides
from mdm.errors import ConfigError, MappingError
from mdm.golden.mapper import RowImage, map_row, table_mappings
from mdm.config.row_match import RowValueError, matches


def passes(where: str, **row: object) -> bool:
    return matches(parse_where(where), row)


# -- evaluation -------------------------------------------------------------------------------
def test_a_boolean_column_alone_is_a_condition():
    assert passes("is_supplier", is_supplier=True)
    assert not passes("is_supplier", is_supplier=False)
    assert not passes("is_supplier", is_supplier=None)  # NULL: not kept
    assert passes("NOT is_supplier", is_supplier=False)


@pytest.mark.parametrize("where, row, expected", [
    ("kind = 'S'", {"kind": "S"}, True),
    ("kind = 'S'", {"kind": "s"}, False),
    ("kind <> 'S'", {"kind": "C"}, True),
    ("kind != 'S'", {"kind": "S"}, False),
    ("qty < 10", {"qty": 9.5}, True),
    ("qty <= 10", {"qty": 10}, True),
    ("qty > 10", {"qty": 10}, False),
    ("qty >= 10", {"qty": 10.0}, True),
    ("price > 99.5", {"price": "100.0000"}, True),  # a decimal arrives as an exact string
    ("price = 100", {"price": "100.0000"}, True),
    ("company_id = -1", {"company_id": -1}, True),
    ("active = 'true'", {"active": True}, True),
    ("active = FALSE", {"active": False}, True),
    ("kind = 'S'", {"kind": None}, False),
])
def test_comparisons(where: str, row: dict[str, object], expected: bool):
    assert matches(parse_where(where), row) is expected


def test_and_or_not_follow_three_valued_logic():
    assert passes("a = 1 AND b = 2", a=1, b=2)
    assert not passes("a = 1 AND b = 2", a=1, b=3)
    assert passes("a = 1 OR b = 2", a=None, b=2)
    assert not passes("a = 1 OR b = 2", a=None, b=3)  # NULL OR FALSE is NULL
    assert not passes("NOT (a = 1)", a=None)           # NOT NULL is NULL
    assert passes("(a = 1 OR a = 2) AND NOT b", a=2, b=False)


def test_in_and_not_in():
    assert passes("kind IN ('S', 'B')", kind="B")
    assert not passes("kind IN ('S', 'B')", kind="C")
    assert passes("kind NOT IN ('S', 'B')", kind="C")
    assert not passes("kind NOT IN ('S', NULL)", kind="C")  # unknown, as in SQL
    assert passes("company_id IN (1, 2)", company_id=2)


def test_is_null_and_is_true():
    assert passes("closed_at IS NULL", closed_at=None)
    assert passes("closed_at IS NOT NULL", closed_at="2026-01-01T00:00:00Z")
    assert passes("flag IS NOT TRUE", flag=None)
    assert not passes("flag IS TRUE", flag=None)
    assert passes("flag IS FALSE", flag=False)


def test_like_is_postgresql_like():
    assert passes("code LIKE 'S%'", code="S0001")
    assert not passes("code LIKE 'S%'", code="s0001")
    assert passes("code ILIKE 's%'", code="S0001")
    assert passes("code LIKE 'S_01'", code="SX01")
    assert not passes("code LIKE 'S_01'", code="SXX01")
    assert passes("code NOT LIKE '%-OLD'", code="S1")
    assert passes(r"code LIKE '100\%'", code="100%")
    assert not passes(r"code LIKE '100\%'", code="1000")
    assert passes("code LIKE 'a.c'", code="a.c") and not passes("code LIKE 'a.c'", code="abc")


def test_between_and_dates_compare_as_instants():
    assert passes("qty BETWEEN 1 AND 10", qty=10)
    assert not passes("qty NOT BETWEEN 1 AND 10", qty=5)
    # Debezium (isostring): a date as 2026-11-25Z, a timestamp with a Z that means nothing
    assert passes("valid_from = '2026-11-25'", valid_from="2026-11-25Z")
    assert passes("valid_from >= DATE '2026-01-01'", valid_from="2026-11-25Z")
    assert passes("changed_at < '2026-11-25 12:00'", changed_at="2026-11-25T10:11:12.5Z")
    assert passes("audited_at > '2026-11-25 10:00+08'", audited_at="2026-11-25T02:30:00Z")


def test_a_row_it_cannot_judge_raises_naming_the_column():
    with pytest.raises(RowValueError, match="not a number"):
        passes("price > 1", price="abc")
    with pytest.raises(RowValueError, match="column kind"):
        passes("kind = 'S'", other=1)
    with pytest.raises(RowValueError, match="not a boolean"):
        passes("qty", qty=3)


def test_columns_and_sql_text_for_the_snapshot_and_live_checks():
    row_filter = parse_where("IsSupplier AND \"Type\" != 'X'")
    assert row_filter.columns == {"issupplier", "Type"}  # unquoted names fold to lower case
    assert row_filter.sql == "IsSupplier AND \"Type\" <> 'X'"
    assert row_filter.select_sql("public.party") == \
        "SELECT * FROM \"public\".\"party\" WHERE IsSupplier AND \"Type\" <> 'X'"
    assert snapshot_overrides({"public.party": row_filter, "public.price": parse_where("x")}) == {
        "snapshot.select.statement.overrides": "public.party,public.price",
        "snapshot.select.statement.overrides.public.party": row_filter.select_sql("public.party"),
        "snapshot.select.statement.overrides.public.price": 'SELECT * FROM "public"."price" WHERE x',
    }


def test_literals_keep_their_types():
    condition = parse_where("a IN (1, 2.50, 'x', TRUE, NULL)").condition
    assert [o.value for o in condition.options] == [1, Decimal("2.50"), "x", True, None]  # type: ignore[union-attr]


# -- what the hub does not evaluate: a ConfigError naming file and key -----------------------
UNSUPPORTED = {
    "upper(name) = 'X'": "a function call",
    "code::int = 1": "a cast",
    "qty + 1 > 2": "arithmetic",
    "id IN (SELECT id FROM x)": "IN over a subquery",
    "EXISTS (SELECT 1)": "a subquery",
    "a || b = 'x'": "string concatenation",
    "code ~ '^S'": "a regular expression match",
    "a IS DISTINCT FROM 1": "IS [NOT] DISTINCT FROM",
    "code LIKE 'S!%' ESCAPE '!'": "LIKE … ESCAPE",
    "a BETWEEN SYMMETRIC 1 AND 2": "BETWEEN SYMMETRIC",
    "p.kind = 'S'": "a qualified column name",
    "a = $1": "a parameter",
    "a = (b = 1)": "a condition where a value belongs",
    "created < now()": "a function call",
    "a IS 1": "IS with something other than NULL",
}


@pytest.mark.parametrize("where", sorted(UNSUPPORTED))
def test_unsupported_construct_is_named(where: str):
    with pytest.raises(RowFilterError, match="unsupported construct") as caught:
        parse_where(where)
    assert UNSUPPORTED[where] in str(caught.value)


@pytest.mark.parametrize("where, message", [
    ("", "empty"), ("a = = 1", "not a SQL condition"), ("a = 1; DROP TABLE x", "one condition"),
    ("1", "is a value, not a condition"), ("'S'", "is a value, not a condition"),
])
def test_what_is_no_condition_is_refused(where: str, message: str):
    with pytest.raises(RowFilterError, match=message):
        parse_where(where)


def _project(root: Path, main_where: str | None, child_where: str | None = None) -> Path:
    (root / "cdc").mkdir()
    (root / "golden_records").mkdir()
    (root / "cdc/erp.yaml").write_text("name: erp\nurl: postgresql://u@localhost/erp\n")
    lines = ["entity: partner", "table: party", "business_key: code",
             "attributes: {code: {required: true}, name: {}}"]
    if main_where is not None:
        lines.append(f"where: {json.dumps(main_where)}")  # a JSON string is a YAML string
    lines += ["children:", "  prices:", "    table: party_price", "    parent_column: party_id",
              "    attributes: {price: {type: decimal}}"]
    if child_where is not None:
        lines.append(f"    where: {json.dumps(child_where)}")
    (root / "golden_records/partner.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("where", ["upper(name) = 'X'", "qty + 1 > 2", "a = $1"])
def test_an_unsupported_main_filter_is_a_config_error_naming_file_and_key(tmp_path: Path, where: str):
    with pytest.raises(ConfigError) as caught:
        load_project(_project(tmp_path, where))
    text = str(caught.value)
    assert "golden_records/partner.yaml" in text and "where: unsupported construct" in text
    assert UNSUPPORTED[where] in text


def test_an_unsupported_child_filter_names_the_child_key(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load_project(_project(tmp_path, "is_supplier", "lower(kind) = 'list'"))
    text = str(caught.value)
    assert "golden_records/partner.yaml" in text
    assert "children.prices.where: unsupported construct 'LOWER(kind)' (a function call)" in text


def test_a_valid_filter_loads_and_reaches_the_table_mappings(tmp_path: Path):
    project = load_project(_project(tmp_path, "is_supplier", "price_list = 'LIST'"))
    spec = project.entities["partner"]
    assert set(spec.row_filters) == {"public.party", "public.party_price"}
    mappings = table_mappings(project, "erp")
    assert mappings["public.party"].row_filter == parse_where("is_supplier")
    assert mappings["public.party_price"].row_filter == parse_where("price_list = 'LIST'")


# -- the mapper -------------------------------------------------------------------------------
def test_a_main_row_the_filter_drops_is_mirrored_deleted_without_decoding(tmp_path: Path):
    project = load_project(_project(tmp_path, "is_supplier"))
    mapping = table_mappings(project, "erp")["public.party"]
    # code is required; a customer party without one is no supplier, so no error
    image = map_row(mapping, "public.party", "7", {"id": 7, "code": None, "is_supplier": False},
                    None, "p1")
    assert image.deleted and image.attrs == {}
    kept = map_row(mapping, "public.party", "7", {"id": 7, "code": "S7", "name": "A",
                                                   "is_supplier": True}, image, "p2")
    assert not kept.deleted and kept.attrs == {"code": "S7", "name": "A"}
    dropped = map_row(mapping, "public.party", "7", {"id": 7, "code": "S7", "name": "B",
                                                      "is_supplier": False}, kept, "p3")
    assert dropped.deleted and dropped.attrs == {"code": "S7", "name": "A"}  # retires as it was


def test_a_child_row_the_filter_drops_keeps_its_parent_key(tmp_path: Path):
    project = load_project(_project(tmp_path, None, "price_list = 'LIST'"))
    mapping = table_mappings(project, "erp")["public.party_price"]
    image = map_row(mapping, "public.party_price", "3",
                    {"id": 3, "party_id": 7, "price": "1.50", "price_list": "PROMO"}, None, "p1")
    assert image.deleted and image.parent_key == "7"


def test_a_row_the_filter_cannot_judge_is_a_mapping_error(tmp_path: Path):
    project = load_project(_project(tmp_path, "credit > 100"))
    mapping = table_mappings(project, "erp")["public.party"]
    with pytest.raises(MappingError, match="where: credit > 100: 'n/a' is not a number"):
        map_row(mapping, "public.party", "1", {"id": 1, "code": "S1", "credit": "n/a"}, None, "p")
    with pytest.raises(MappingError, match="column credit is not in the row image"):
        map_row(mapping, "public.party", "1", {"id": 1, "code": "S1"}, None, "p")


def test_an_unchanged_toast_column_is_judged_by_its_mirrored_value(tmp_path: Path):
    project = load_project(_project(tmp_path, "name LIKE 'A%'"))
    mapping = table_mappings(project, "erp")["public.party"]
    before = RowImage(attrs={"code": "S1", "name": "Acme"}, retired=False, position="p1")
    image = map_row(mapping, "public.party", "1", {"id": 1, "code": "S2",
                                                   "name": "__debezium_unavailable_value"},
                    before, "p2")
    assert not image.deleted and image.attrs == {"code": "S2", "name": "Acme"}
