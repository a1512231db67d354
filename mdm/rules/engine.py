"""The rule engine: judge a micro-batch of new versions with the project's rules.

Per entity, one Great Expectations run per suite (the record's own attributes, or the rows of
one child list) over all the batch's versions, plus the built-in checks. A rule that raises is
reported as an `error` result with its reason and judges nothing. Retired versions are not
judged: a retirement must always reach the targets.

Verdict per version: `quarantined` if an error-severity rule failed (stored, not propagated),
`warning` if only warning rules failed (propagated, a task is opened), else `ok`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from mdm.config.loader import Project
from mdm.config.rules import CheckRule, ExpectationRule, RuleFile, named_columns
from mdm.rules.builtin import CHECKS, Subject
from mdm.store.repositories import golden

if TYPE_CHECKING:
    from mdm.rules.expectations import ExpectationRunner

logger = logging.getLogger(__name__)
UNIQUE_TYPES = ("expect_column_values_to_be_unique",)


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str  # expectation | check
    attribute: str | None
    severity: str
    outcome: str  # failed | error
    observed: Any
    expectation: dict[str, Any]
    detail: str | None = None


@dataclass
class Verdict:
    quality: str = "ok"
    passed: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome == "failed"]


def _expectation_dict(rule: ExpectationRule) -> dict[str, Any]:
    out: dict[str, Any] = {"expectation_type": rule.expectation_type, "kwargs": rule.kwargs}
    if rule.child:
        out["child"] = rule.child
    return out


def _check_dict(rule: CheckRule) -> dict[str, Any]:
    return rule.model_dump(exclude_none=True, exclude={"severity", "description", "name"})


class RuleEngine:
    """Judges micro-batches. Great Expectations is imported on first use (it takes seconds)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._runner: ExpectationRunner | None = None

    @property
    def runner(self) -> ExpectationRunner:
        if self._runner is None:
            from mdm.rules.expectations import ExpectationRunner
            self._runner = ExpectationRunner()
        return self._runner

    def has_rules(self, entity: str) -> bool:
        rules = self.project.rules.get(entity)
        return rules is not None and bool(rules.expectations or rules.checks)

    def judge(self, conn: psycopg.Connection, entity: str, subjects: Sequence[Subject],
              batch: Mapping[str, Sequence[Subject]] | None = None) -> list[Verdict]:
        """One verdict per subject, in order. `batch`: every version of the micro-batch by
        entity (retired ones too), for checks that look at other records."""
        verdicts = [Verdict() for _ in subjects]
        rules = self.project.rules.get(entity)
        if rules is None or not subjects:
            return verdicts
        rules = _needed(rules, subjects)
        failed: dict[str, set[int]] = {}
        for finding_index, finding in self._expectations(conn, entity, rules, subjects):
            verdicts[finding_index].findings.append(finding)
            failed.setdefault(finding.rule, set()).add(finding_index)
        for finding_index, finding in self._checks(conn, entity, rules, subjects, batch):
            verdicts[finding_index].findings.append(finding)
            failed.setdefault(finding.rule, set()).add(finding_index)
        every = self.project.rules[entity]
        names = [*(r.rule_name for r in every.expectations), *(r.rule_name for r in every.checks)]
        failing = set().union(*failed.values()) if failed else set()
        for i, verdict in enumerate(verdicts):
            verdict.passed = ([n for n in names if i not in failed.get(n, ())]
                              if i in failing else names)
            severities = {f.severity for f in verdict.failed}
            verdict.quality = ("quarantined" if "error" in severities
                               else "warning" if severities else "ok")
        return verdicts

    # -- Great Expectations ---------------------------------------------------------------------
    def _expectations(self, conn: psycopg.Connection, entity: str, rules: RuleFile,
                      subjects: Sequence[Subject]) -> list[tuple[int, Finding]]:
        from mdm.rules.expectations import ExpectationSpec

        out: list[tuple[int, Finding]] = []
        suites: dict[str | None, list[ExpectationRule]] = {}
        for rule in rules.expectations:
            suites.setdefault(rule.child, []).append(rule)
        spec = self.project.entities[entity]
        for on, suite in suites.items():
            owners, rows = _rows(subjects, on)
            if on is None:
                columns = {n: a.type for n, a in spec.attributes.items()}
                context = _uniqueness_context(conn, spec.business_key, entity, suite, subjects)
                rows += [attrs for _, attrs in context]
                owner_ids = [s.golden_id for s in subjects] + [g for g, _ in context]
            else:
                columns = {n: a.type for n, a in spec.children[on].attributes.items()}
                owner_ids = [subjects[i].golden_id for i in owners]
            specs = [ExpectationSpec(r.rule_name, r.expectation_type, r.kwargs) for r in suite]
            try:
                results: Sequence[Any] = self.runner.run(specs, rows, columns)
            except Exception as exc:  # noqa: BLE001 — GX failed as a whole: each rule errs
                results = [_Raised(f"Great Expectations failed: {exc}") for _ in suite]
            for rule, result in zip(suite, results):
                out += self._findings_of(rule, result, owners, owner_ids, len(subjects))
        return out

    def _findings_of(self, rule: ExpectationRule, result: Any, owners: list[int],
                     owner_ids: list[int], batch_size: int) -> list[tuple[int, Finding]]:
        def finding(outcome: str, observed: Any, detail: str | None) -> Finding:
            return Finding(rule.rule_name, "expectation", rule.attribute, rule.severity, outcome,
                           observed, _expectation_dict(rule), detail)

        if result.error:
            logger.warning("rule raised rule=%s: %s", rule.rule_name, result.error)
            return [(i, finding("error", None, result.error)) for i in range(batch_size)]
        if result.success:
            return []
        if not result.failures:  # an aggregate expectation judges the whole micro-batch
            return [(i, finding("failed", result.observed, "the batch as a whole"))
                    for i in range(batch_size)]
        failures = result.failures
        if rule.expectation_type in UNIQUE_TYPES:
            failures = _true_duplicates(failures, owner_ids)
        seen: set[tuple[int, str]] = set()
        out = []
        for failure in failures:
            if failure.row >= len(owners):
                continue  # a context row (another record already in the store)
            index = owners[failure.row]
            key = (index, repr(failure.observed))
            if key not in seen:
                seen.add(key)
                out.append((index, finding("failed", failure.observed, None)))
        return out

    # -- built-in checks --------------------------------------------------------------------------
    def _checks(self, conn: psycopg.Connection, entity: str, rules: RuleFile,
                subjects: Sequence[Subject],
                batch: Mapping[str, Sequence[Subject]] | None) -> list[tuple[int, Finding]]:
        out: list[tuple[int, Finding]] = []
        for check in rules.checks:
            attribute = f"{check.child}.{check.attribute}" if check.child else check.attribute
            try:
                with conn.transaction():  # a failing query must not poison the batch
                    failures = CHECKS[check.check](conn, entity, check, subjects, batch)
            except Exception as exc:  # noqa: BLE001 — reported as the rule's error
                logger.warning("rule raised rule=%s: %s", check.rule_name, exc)
                out += [(s.index, Finding(check.rule_name, "check", attribute, check.severity,
                                          "error", None, _check_dict(check), f"{exc}"))
                        for s in subjects]
                continue
            out += [(f.index, Finding(check.rule_name, "check", attribute, check.severity,
                                      "failed", f.observed, _check_dict(check), f.detail))
                    for f in failures]
        return out


def _inputs(scope: str | None, columns: Sequence[str], attributes: Mapping[str, Any]) -> Any:
    """What a rule reads of a record: named columns, a whole child list, or everything."""
    if scope is not None:
        return attributes.get(scope)
    if not columns:
        return attributes
    return tuple(attributes.get(c) for c in columns)


def _rule_inputs(rule: ExpectationRule | CheckRule) -> tuple[str | None, list[str]]:
    if isinstance(rule, CheckRule):
        return rule.child, [rule.attribute]
    if "row_condition" in rule.kwargs:  # reads columns we cannot name: all of its scope
        return rule.child, []
    return rule.child, named_columns(rule.kwargs)


def _needed(rules: RuleFile, subjects: Sequence[Subject]) -> RuleFile:
    """The rules this micro-batch must run. A rule may be skipped (and counts as passed) when,
    for every version, the record existed, what the rule reads did not change, and the previous
    version passed it: its verdict cannot have changed. This keeps GX off edits that touch
    nothing a rule reads (a phone number), and off rules whose columns an edit leaves alone."""
    def needed(rule: ExpectationRule | CheckRule) -> bool:
        scope, columns = _rule_inputs(rule)
        for s in subjects:
            p = s.previous
            if p is None or (p.passed is not None and rule.rule_name not in p.passed):
                return True
            if _inputs(scope, columns, s.attributes) != _inputs(scope, columns, p.attributes):
                return True
        return False

    return rules.model_copy(update={"expectations": [r for r in rules.expectations if needed(r)],
                                    "checks": [r for r in rules.checks if needed(r)]})


@dataclass(frozen=True)
class _Raised:
    error: str
    success: bool = False
    failures: tuple[Any, ...] = ()
    observed: Any = None


def _rows(subjects: Sequence[Subject], on: str | None) -> tuple[list[int], list[Mapping[str, Any]]]:
    """Rows for a suite and, per row, the subject it belongs to."""
    if on is None:
        return [s.index for s in subjects], [s.attributes for s in subjects]
    owners, rows = [], []
    for s in subjects:
        for row in s.attributes.get(on) or []:
            owners.append(s.index)
            rows.append(row)
    return owners, rows


def _uniqueness_context(conn: psycopg.Connection, business_key: str, entity: str,
                        suite: Sequence[ExpectationRule],
                        subjects: Sequence[Subject]) -> list[tuple[int, Mapping[str, Any]]]:
    """Records already in the store that share a value a uniqueness rule looks at: appended
    to the batch so uniqueness holds across all golden records, not only within the batch."""
    out: list[tuple[int, Mapping[str, Any]]] = []
    seen: set[int] = set()
    ids = list({s.golden_id for s in subjects})
    for rule in suite:
        column = rule.kwargs.get("column")
        if rule.expectation_type not in UNIQUE_TYPES or not column:
            continue
        values = list({str(v) for s in subjects if (v := s.attributes.get(column)) is not None})
        if values:
            rows = golden.active_sharing(conn, entity, column, column == business_key, values, ids)
            out += [(r[0], r[1]) for r in rows if r[0] not in seen]
            seen.update(r[0] for r in rows)
    return out


def _true_duplicates(failures: Sequence[Any], owner_ids: Sequence[int]) -> list[Any]:
    """Two versions of one record in the same batch are not duplicates of each other."""
    records: dict[str, set[int]] = {}
    for f in failures:
        records.setdefault(repr(f.observed), set()).add(owner_ids[f.row])
    return [f for f in failures if len(records[repr(f.observed)]) > 1]


def validate_expectations(project: Project) -> None:
    """What `load_project` cannot check without importing Great Expectations: that each
    expectation's kwargs are ones its GX class accepts. Raises ConfigError naming the key."""
    from mdm.errors import ConfigError
    from mdm.rules.expectations import check_expectation

    for entity, rules in project.rules.items():
        spec = project.entities[entity]
        problems = []
        for i, rule in enumerate(rules.expectations):
            attributes = spec.children[rule.child].attributes if rule.child else spec.attributes
            message = check_expectation(rule.expectation_type, rule.kwargs, list(attributes))
            if message:
                problems.append(f"expectations.{i}: {message}")
        if problems:
            raise ConfigError(f"rules/{entity}.yaml", problems)
