"""Great Expectations 1.x (GX) expectation suites, run over a micro-batch of golden-record versions.

A GX validation run costs tens of milliseconds whatever the row count, so `run()` builds one
DataFrame per micro-batch and validates the whole suite in one run, then maps GX's row indices
back to the rows it was given. GX is imported on first use: the import takes seconds.
Everything GX-specific stays in this module (one boundary per foreign library).
"""
from __future__ import annotations

import difflib
import os
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from mdm.config.rules import named_columns

AttributeType = str  # string, integer, decimal, float, boolean, date, timestamp, timestamptz, time, json

# Index lists for map expectations, without the per-value summaries GX would also compute.
_RESULT_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": 0,
                  "include_unexpected_rows": False, "return_unexpected_index_query": False}
_SLOT = "mdm_slot"  # meta key: GX returns results in its own order, the slot restores ours


@dataclass(frozen=True)
class ExpectationSpec:
    rule: str  # unique within the suite
    expectation_type: str  # snake_case GX name, e.g. expect_column_values_to_not_be_null
    kwargs: Mapping[str, Any]  # GX kwargs: column, value_set, row_condition, mostly …


@dataclass(frozen=True)
class RowFailure:
    row: int  # index into the rows passed to run()
    observed: Any  # the row's original value (a tuple for multi-column expectations)


@dataclass(frozen=True)
class ExpectationResult:
    rule: str
    success: bool
    failures: tuple[RowFailure, ...]  # column-map expectations only
    observed: Any  # GX's observed_value for aggregate expectations, else None
    error: str | None  # the expectation raised: success is False and failures empty


@cache
def _gx() -> Any:
    """GX, imported once. Two of its modules import `sre_constants`/`sre_parse`, deprecated since
    Python 3.11: ignoring just those keeps warnings-as-errors runs (pytest) working."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"module 'sre_(constants|parse)' is deprecated",
                                DeprecationWarning)
        # The submodules are used below as attributes of `gx`.
        import great_expectations as gx
        import great_expectations.data_context.types.base
        import great_expectations.execution_engine.pandas_execution_engine as engine
        import great_expectations.expectations.registry
        import great_expectations.expectations.row_conditions
        import great_expectations.validator.v1_validator
    # GX fingerprints every in-memory DataFrame below this size (an md5 over a pandas hash of
    # each cell, for batch markers in data docs and stores). The hub keeps neither, and the
    # hash cost ~10 % of a validation run; 0 turns the fingerprint off.
    engine.HASH_THRESHOLD = 0
    return gx


def _gx_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """GX 1.9+ deprecates string row conditions with `condition_parser` (a DeprecationWarning
    at every construction) but runs a `PassThroughCondition` as the same pandas query."""
    out = dict(kwargs)
    condition = out.get("row_condition")
    if isinstance(condition, str) and out.get("condition_parser") in (None, "pandas"):
        out.pop("condition_parser", None)
        out["row_condition"] = _gx().expectations.row_conditions.PassThroughCondition(
            pass_through_filter=condition)
    return out


def _build(expectation_type: str, kwargs: Mapping[str, Any], slot: int = 0) -> Any:
    cls = _gx().expectations.registry.get_expectation_impl(expectation_type)
    meta = {**dict(kwargs.get("meta") or {}), _SLOT: slot}
    return cls(**{**_gx_kwargs(kwargs), "meta": meta})


def _describe(exc: Exception) -> str:
    """One line from a pydantic (v1, as GX uses) ValidationError or any other exception."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    seen: dict[str, str] = {}
    for err in errors():  # a union field fails once per member: keep the first reason
        name = ".".join(str(p) for p in err["loc"])
        if err["type"] == "value_error.extra":
            seen.setdefault(name, f"unknown argument '{name}'")
        elif err["type"] == "value_error.missing":
            seen.setdefault(name, f"missing argument '{name}'")
        else:
            seen.setdefault(name, err["msg"] if name == "__root__" else f"{name}: {err['msg']}")
    return "; ".join(seen.values())


def check_expectation(expectation_type: str, kwargs: Mapping[str, Any],
                      columns: Collection[str]) -> str | None:
    """Static check for `mdm check`, without data: None if the expectation can run, else one
    line saying what to fix."""
    known = _gx().expectations.registry.list_registered_expectation_implementations()
    if expectation_type not in known:
        close = difflib.get_close_matches(expectation_type, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown expectation type '{expectation_type}'{hint}"
    unknown = [c for c in named_columns(kwargs) if c not in columns]
    if unknown:
        return (f"column '{unknown[0]}' is not an attribute "
                f"(known: {', '.join(sorted(columns)) or 'none'})")
    if kwargs.get("condition_parser") not in (None, "pandas"):
        return f"{expectation_type}: condition_parser must be 'pandas' (row_condition is a query)"
    try:
        _build(expectation_type, kwargs)
        _check_runtime_args(kwargs, columns)
    except Exception as exc:  # noqa: BLE001 — GX and pandas raise many types; all mean "fix it"
        return f"{expectation_type}: {_describe(exc)}"
    return None


def _check_runtime_args(kwargs: Mapping[str, Any], columns: Collection[str]) -> None:
    """What GX accepts at construction but fails on at run time: bad regexes, bad queries."""
    for regex in [kwargs.get("regex"), *(kwargs.get("regex_list") or [])]:
        if isinstance(regex, str):
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"regex {regex!r} does not compile: {exc}") from exc
    condition = kwargs.get("row_condition")
    if isinstance(condition, str):
        try:
            pd.DataFrame(columns=list(columns), dtype=object).query(condition)
        except Exception as exc:
            raise ValueError(f"row_condition {condition!r}: {_describe(exc)}") from exc


def _to_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


_CONVERTERS: dict[str, Callable[[list[Any]], Any]] = {
    "integer": lambda v: pd.Series(pd.array(v, dtype="Int64")),
    "decimal": lambda v: pd.to_numeric(pd.Series(v, dtype=object)).astype("float64"),
    "float": lambda v: pd.to_numeric(pd.Series(v, dtype=object)).astype("float64"),
    "boolean": lambda v: pd.Series(pd.array(v, dtype="boolean")),
    # date objects, not datetime64: GX parses a bound like "2024-01-31" into a date, and pandas
    # Timestamps refuse to compare with dates.
    "date": lambda v: pd.Series([_to_date(x) for x in v], dtype=object),
    "timestamp": lambda v: pd.to_datetime(pd.Series(v, dtype=object), format="ISO8601"),
    "timestamptz": lambda v: pd.to_datetime(pd.Series(v, dtype=object), format="ISO8601",
                                            utc=True),
}


def _series(values: list[Any], kind: AttributeType) -> Any:
    """A column typed so numeric and date comparisons work; strings, times and JSON stay as
    given. A value its type cannot hold keeps the whole column as given, so a rule on it
    reports an error instead of judging a silently emptied value."""
    convert = _CONVERTERS.get(kind)
    if convert is not None:
        try:
            return convert(values)
        except (TypeError, ValueError, OverflowError):
            pass
    return pd.Series(values, dtype=object)


def _read_by(suite: Sequence[ExpectationSpec],
             columns: Mapping[str, AttributeType]) -> Mapping[str, AttributeType]:
    """The columns the suite's expectations read: the ones they name, or all of them when one
    names none (a table-level expectation) or filters rows (a row_condition can read any)."""
    named: set[str] = set()
    for spec in suite:
        names = named_columns(spec.kwargs)
        if not names or "row_condition" in spec.kwargs:
            return columns
        named.update(names)
    return {name: kind for name, kind in columns.items() if name in named}


def build_frame(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, AttributeType]) -> Any:
    """One DataFrame with exactly `columns`, row i being rows[i]; missing keys are nulls."""
    data = {name: _series([row.get(name) for row in rows], kind)
            for name, kind in columns.items()}
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _plain(value: Any) -> Any:
    """GX's observed values as plain Python (numpy scalars and Timestamps do not serialise)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def _error_of(info: Any) -> str | None:
    """The reason in GX's exception_info: flat, or one entry per failed metric."""
    if not isinstance(info, Mapping) or not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info["raised_exception"] else None
    reasons = [reason for entry in info.values() if (reason := _error_of(entry))]
    return reasons[0] if reasons else None


def _result_of(spec: ExpectationSpec, gx_result: Any,
               rows: Sequence[Mapping[str, Any]]) -> ExpectationResult:
    error = _error_of(gx_result.exception_info)
    if error is not None:
        return ExpectationResult(spec.rule, False, (), None, error)
    result = gx_result.result or {}
    names = named_columns(spec.kwargs)
    failures = []
    for index in result.get("unexpected_index_list") or []:
        values = tuple(rows[index].get(name) for name in names)
        failures.append(RowFailure(index, values[0] if len(values) == 1 else values or None))
    return ExpectationResult(spec.rule, bool(gx_result.success), tuple(failures),
                             _plain(result.get("observed_value")), None)


class ExpectationRunner:
    """Holds one ephemeral GX context, built once; `run()` validates a micro-batch. Not
    thread-safe: give each worker thread its own runner."""

    def __init__(self) -> None:
        gx = _gx()
        base = gx.data_context.types.base
        config = base.DataContextConfig(
            store_backend_defaults=base.InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=base.ProgressBarsConfig(globally=False),  # tqdm on stderr otherwise
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas("mdm").add_dataframe_asset("micro_batch")
        self._batches = asset.add_batch_definition_whole_dataframe("all_rows")

    def run(self, suite: Sequence[ExpectationSpec], rows: Sequence[Mapping[str, Any]],
            columns: Mapping[str, AttributeType]) -> list[ExpectationResult]:
        """One result per spec, in suite order, from a single GX validation run."""
        if not rows:
            return [ExpectationResult(s.rule, True, (), None, None) for s in suite]
        results: dict[int, ExpectationResult] = {}
        built = []
        for slot, spec in enumerate(suite):
            try:
                built.append(_build(spec.expectation_type, spec.kwargs, slot))
            except Exception as exc:  # noqa: BLE001 — a bad rule is its own error result
                results[slot] = ExpectationResult(spec.rule, False, (), None, _describe(exc))
        if built:
            gx = _gx()
            gx_suite = gx.ExpectationSuite(name="mdm", expectations=built)
            frame = build_frame(rows, _read_by(suite, columns))
            # What Batch.validate does, without first building the batch a second time.
            validator = gx.validator.v1_validator.Validator(
                self._batches, result_format=_RESULT_FORMAT,
                batch_parameters={"dataframe": frame})
            for gx_result in validator.validate_expectation_suite(gx_suite).results:
                slot = gx_result.expectation_config.meta[_SLOT]
                results[slot] = _result_of(suite[slot], gx_result, rows)
        return [results[slot] for slot in range(len(suite))]
