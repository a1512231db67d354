"""Expectation suites run by real Great Expectations over a micro-batch: row indices and observed
values map back to the rows given, a raising expectation is reported alone, and the static
check names what to fix."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mdm.rules.expectations import (
    ExpectationResult,
    ExpectationRunner,
    ExpectationSpec,
    RowFailure,
    build_frame,
    check_expectation,
)

COLUMNS = {"code": "string", "uom": "string", "price": "decimal", "qty": "integer",
           "valid_from": "date", "changed_at": "timestamptz", "active": "boolean"}
ROWS: list[Mapping[str, Any]] = [
    {"code": "M001", "uom": "PCS", "price": "12.50", "qty": 5, "valid_from": "2024-01-01",
     "changed_at": "2024-05-01T10:00:00+02:00", "active": True},
    {"code": "x-2", "uom": "KG", "price": "150.00", "qty": None, "valid_from": "2023-06-30",
     "changed_at": "2024-05-02T00:00:00Z", "active": False},
    {"code": "bad", "uom": "PCS", "price": None, "qty": 7, "valid_from": None,
     "changed_at": None, "active": None},
    {"uom": "BOX", "price": "0.99", "qty": 1},  # missing keys are nulls
    {"code": "M001", "uom": "KG", "price": "99.99", "qty": 2, "extra": "ignored"},
]


@pytest.fixture(scope="module")
def runner() -> ExpectationRunner:
    return ExpectationRunner()  # imports Great Expectations: seconds, so once per module


def run_one(runner: ExpectationRunner, expectation_type: str,
            rows: Sequence[Mapping[str, Any]] = ROWS, **kwargs: Any) -> ExpectationResult:
    [result] = runner.run([ExpectationSpec("r", expectation_type, kwargs)], rows, COLUMNS)
    return result


def test_not_null_fires_on_none_and_missing_keys(runner: ExpectationRunner) -> None:
    result = run_one(runner, "expect_column_values_to_not_be_null", column="valid_from")
    assert not result.success and result.error is None
    assert result.failures == (RowFailure(2, None), RowFailure(3, None), RowFailure(4, None))
    ok = run_one(runner, "expect_column_values_to_not_be_null", column="uom")
    assert ok.success and ok.failures == ()


def test_regex_with_row_condition_judges_only_matching_rows(runner: ExpectationRunner) -> None:
    result = run_one(runner, "expect_column_values_to_match_regex", column="code",
                     regex=r"^M\d{3}$", row_condition='uom == "PCS"', condition_parser="pandas")
    assert result.failures == (RowFailure(2, "bad"),)  # "x-2" is KG: not judged
    assert not result.success


def test_in_set(runner: ExpectationRunner) -> None:
    result = run_one(runner, "expect_column_values_to_be_in_set", column="uom",
                     value_set=["PCS", "KG"])
    assert result.failures == (RowFailure(3, "BOX"),)
    ok = run_one(runner, "expect_column_values_to_be_in_set", column="uom",
                 value_set=["PCS", "KG", "BOX"])
    assert ok.success and ok.failures == ()


def test_between_on_decimal_strings_reports_the_original_string(
        runner: ExpectationRunner) -> None:
    result = run_one(runner, "expect_column_values_to_be_between", column="price",
                     min_value=1, max_value=100)
    assert result.failures == (RowFailure(1, "150.00"), RowFailure(3, "0.99"))
    ok = run_one(runner, "expect_column_values_to_be_between", column="price",
                 min_value=0.99, max_value=150)
    assert ok.success and ok.failures == ()


def test_between_on_dates_and_timestamps(runner: ExpectationRunner) -> None:
    dates = run_one(runner, "expect_column_values_to_be_between", column="valid_from",
                    min_value="2024-01-01")
    assert dates.failures == (RowFailure(1, "2023-06-30"),)
    stamps = run_one(runner, "expect_column_values_to_be_between", column="changed_at",
                     max_value="2024-05-01T09:00:00Z")  # row 0 is 08:00 UTC
    assert stamps.failures == (RowFailure(1, "2024-05-02T00:00:00Z"),)


def test_unique_names_every_duplicated_row_and_ignores_nulls(runner: ExpectationRunner) -> None:
    result = run_one(runner, "expect_column_values_to_be_unique", column="code")
    assert result.failures == (RowFailure(0, "M001"), RowFailure(4, "M001"))
    compound = run_one(runner, "expect_compound_columns_to_be_unique",
                       rows=[*ROWS, {"code": "x-2", "uom": "KG"}], column_list=["code", "uom"])
    assert compound.failures == (RowFailure(1, ("x-2", "KG")), RowFailure(5, ("x-2", "KG")))


def test_aggregate_expectations_report_gx_observed_value(runner: ExpectationRunner) -> None:
    count = run_one(runner, "expect_table_row_count_to_be_between", max_value=4)
    assert (count.success, count.failures, count.observed) == (False, (), 5)
    mean = run_one(runner, "expect_column_mean_to_be_between", column="qty", min_value=3.5)
    assert (mean.success, mean.failures, mean.observed) == (True, (), 3.75)
    assert type(mean.observed) is float  # plain Python, not numpy


def test_integer_and_boolean_columns(runner: ExpectationRunner) -> None:
    qty = run_one(runner, "expect_column_values_to_be_between", column="qty", min_value=2)
    assert qty.failures == (RowFailure(3, 1),)
    active = run_one(runner, "expect_column_values_to_be_in_set", column="active",
                     value_set=[True])
    assert active.failures == (RowFailure(1, False),)


def test_raising_expectation_is_an_error_and_hides_nothing_else(
        runner: ExpectationRunner) -> None:
    suite = [
        ExpectationSpec("bad_condition", "expect_column_values_to_not_be_null",
                        {"column": "code", "row_condition": "colour == 'red'",
                         "condition_parser": "pandas"}),
        ExpectationSpec("in_set", "expect_column_values_to_be_in_set",
                        {"column": "uom", "value_set": ["PCS", "KG"]}),
        ExpectationSpec("no_such_column", "expect_column_values_to_not_be_null",
                        {"column": "colour"}),
        ExpectationSpec("rejected_kwargs", "expect_column_values_to_be_between",
                        {"column": "price", "minimum": 1}),
        ExpectationSpec("unique", "expect_column_values_to_be_unique", {"column": "code"}),
    ]
    results = runner.run(suite, ROWS, COLUMNS)
    assert [r.rule for r in results] == [s.rule for s in suite]  # suite order, one each
    bad, in_set, missing, rejected, unique = results
    assert bad.error is not None and "colour" in bad.error
    assert (bad.success, bad.failures) == (False, ())
    assert missing.error is not None and "colour" in missing.error
    assert rejected.error is not None and "minimum" in rejected.error
    assert in_set.error is None and in_set.failures == (RowFailure(3, "BOX"),)
    assert unique.error is None and [f.row for f in unique.failures] == [0, 4]


def test_value_the_type_cannot_hold_makes_its_rules_error(runner: ExpectationRunner) -> None:
    rows = [{"price": "12.50"}, {"price": "twelve"}]
    result = run_one(runner, "expect_column_values_to_be_between", rows=rows, column="price",
                     min_value=0)
    assert result.error is not None and not result.success
    assert run_one(runner, "expect_column_values_to_not_be_null", rows=rows,
                   column="price").success


def test_empty_batch_succeeds_without_running_gx(runner: ExpectationRunner) -> None:
    suite = [ExpectationSpec("r", "expect_nothing_gx_knows", {})]
    assert runner.run(suite, [], COLUMNS) == [ExpectationResult("r", True, (), None, None)]


def test_run_prints_nothing(runner: ExpectationRunner, capfd: pytest.CaptureFixture[str]) -> None:
    run_one(runner, "expect_column_values_to_not_be_null", column="code")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no progress bars


@pytest.mark.parametrize(("expectation_type", "kwargs", "message"), [
    ("expect_colum_values_to_be_unique", {"column": "code"},
     ("unknown expectation type 'expect_colum_values_to_be_unique' "
      "(did you mean 'expect_column_values_to_be_unique'?)")),
    ("expect_column_values_to_be_between", {"column": "price", "minimum": 1, "max_value": 9},
     "expect_column_values_to_be_between: unknown argument 'minimum'"),
    ("expect_column_values_to_be_in_set", {"column": "uom"},
     "expect_column_values_to_be_in_set: missing argument 'value_set'"),
    ("expect_column_values_to_not_be_null", {"column": "colour"},
     ("column 'colour' is not an attribute (known: active, changed_at, code, price, qty, uom, "
      "valid_from)")),
    ("expect_compound_columns_to_be_unique", {"column_list": ["code", "size"]},
     "column 'size' is not an attribute"),
    ("expect_column_values_to_match_regex", {"column": "code", "regex": "M("},
     "expect_column_values_to_match_regex: regex 'M(' does not compile"),
    ("expect_column_values_to_match_regex",
     {"column": "code", "regex": "^M", "row_condition": "colour == 1",
      "condition_parser": "pandas"},
     ("expect_column_values_to_match_regex: row_condition 'colour == 1': "
      "name 'colour' is not defined")),
])
def test_check_expectation_names_the_problem(expectation_type: str, kwargs: dict[str, Any],
                                             message: str) -> None:
    found = check_expectation(expectation_type, kwargs, COLUMNS)
    assert found is not None and found.startswith(message), found


@pytest.mark.parametrize(("expectation_type", "kwargs"), [
    ("expect_column_values_to_be_unique", {"column": "code"}),
    ("expect_column_values_to_be_between", {"column": "price", "min_value": 0, "mostly": 0.9}),
    ("expect_column_values_to_match_regex",
     {"column": "code", "regex": r"^M\d+$", "row_condition": 'uom == "PCS"',
      "condition_parser": "pandas"}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["code", "uom"]}),
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
    ("expect_column_values_to_be_between", {"column": "valid_from", "min_value": "2020-01-01"}),
])
def test_check_expectation_accepts_valid_ones(expectation_type: str,
                                              kwargs: dict[str, Any]) -> None:
    assert check_expectation(expectation_type, kwargs, COLUMNS) is None


def test_dates_become_date_objects_for_gx() -> None:
    frame = build_frame(ROWS[:2], COLUMNS)
    assert list(frame.columns) == list(COLUMNS)
    assert frame["valid_from"].tolist() == [dt.date(2024, 1, 1), dt.date(2023, 6, 30)]
    assert str(frame["changed_at"].dtype).endswith("UTC]")


def test_a_table_level_expectation_sees_every_column_beside_column_ones(
        runner: ExpectationRunner) -> None:
    """The frame holds only the columns a suite names, unless one of its expectations names
    none: a table-level expectation then still sees the whole record."""
    suite = [ExpectationSpec("count", "expect_table_column_count_to_equal", {"value": len(COLUMNS)}),
             ExpectationSpec("uom", "expect_column_values_to_not_be_null", {"column": "uom"})]
    count, uom = runner.run(suite, ROWS, COLUMNS)
    assert count.success and count.error is None, count
    assert uom.success
    [alone] = runner.run([suite[0]], ROWS, COLUMNS)
    assert alone.success and alone.observed == len(COLUMNS)
