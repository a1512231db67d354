"""Pydantic schema of rules/<entity>.yaml: expectation suites, built-in checks, divergence rules.

Expectations use Great Expectations' own vocabulary (expectation type + kwargs). Built-in checks
cover what GX has no word for. Divergence rules say which target fields must equal the golden
value. Cross-file checks (attributes exist, targets map the fields) are in config/loader.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from mdm.config.targets import Identifier, Spec

Severity = Literal["error", "warning"]
COLUMN_KWARGS = ("column", "column_A", "column_B")


def named_columns(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns a Great Expectations kwargs mapping names (column, column_A/B, column_list)."""
    names = [str(kwargs[k]) for k in COLUMN_KWARGS if k in kwargs]
    column_list = kwargs.get("column_list")
    if isinstance(column_list, (list, tuple)):
        names += [str(c) for c in column_list]
    return names
Normalisation = Literal["trim", "width", "case"]


class ExpectationRule(Spec):
    """One Great Expectations expectation, evaluated on each micro-batch of new versions."""

    name: str | None = Field(None, description="Rule name; defaults to type + column.")
    expectation_type: str = Field(
        pattern=r"^expect_[a-z0-9_]+$",
        description="GX expectation type, e.g. expect_column_values_to_match_regex.",
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="GX kwargs (column, regex …).")
    child: Identifier | None = Field(
        None, description="A child list (e.g. tax_ids): validate its rows instead of the record."
    )
    severity: Severity = "error"
    description: str | None = None

    @property
    def rule_name(self) -> str:
        if self.name:
            return self.name
        column = self.kwargs.get("column") or "_".join(self.kwargs.get("column_list", []))
        prefix = f"{self.child}." if self.child else ""
        return f"{self.expectation_type}:{prefix}{column}" if column else self.expectation_type

    @property
    def attribute(self) -> str | None:
        column = self.kwargs.get("column")
        if column is None:
            return None
        return f"{self.child}.{column}" if self.child else str(column)


class CheckRule(Spec):
    """A built-in check for what GX has no word for."""

    name: str | None = None
    check: Literal["uscc_check_digit", "no_cycle", "reference_active"] = Field(
        description="uscc_check_digit: GB 32100-2015 check character of a 统一社会信用代码; "
        "no_cycle: following `attribute` from record to record never loops (a tree); "
        "reference_active: `attribute` names an existing, active record of `references`."
    )
    attribute: Identifier
    child: Identifier | None = Field(None, description="A child list whose rows hold the attribute.")
    when: dict[str, str | int | bool] = Field(
        default_factory=dict, description="Only rows whose attributes equal these values."
    )
    references: Identifier | None = Field(
        None, description="reference_active / no_cycle: the entity the attribute points to."
    )
    by: Literal["business_key", "source_key"] = Field(
        "business_key",
        description="How the attribute points: the business key, or the source row's key (an "
        "ERP surrogate id such as department_id).",
    )
    severity: Severity = "error"
    description: str | None = None

    @model_validator(mode="after")
    def _needs_reference(self) -> CheckRule:
        if self.check == "reference_active" and not self.references:
            raise ValueError("check reference_active needs `references: <entity>`")
        return self

    @property
    def rule_name(self) -> str:
        prefix = f"{self.child}." if self.child else ""
        return self.name or f"{self.check}:{prefix}{self.attribute}"


class DivergenceRule(Spec):
    """Fields of one target's copy that must equal the golden value."""

    name: str | None = None
    target: Identifier
    fields: list[str] = Field(min_length=1, description="Target field names of the mapping.")
    normalize: list[Normalisation] = Field(
        default_factory=lambda: list[Normalisation](["trim", "width"]),
        description="trim: ignore surrounding blanks; width: full-width = half-width (NFKC); "
        "case: ignore letter case.",
    )
    tolerance: float = Field(0.0, ge=0, description="Numbers within this distance are equal.")
    severity: Severity = "warning"

    @property
    def rule_name(self) -> str:
        return self.name or f"divergence:{self.target}"


class RuleFile(Spec):
    entity: Identifier
    expectations: list[ExpectationRule] = Field(default_factory=list)
    checks: list[CheckRule] = Field(default_factory=list)
    divergence: list[DivergenceRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleFile:
        names = [*(r.rule_name for r in self.expectations), *(r.rule_name for r in self.checks),
                 *(r.rule_name for r in self.divergence)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique; give these a `name:`: {twice}")
        return self
