"""Divergence comparison: normalisation (trim, full-/half-width, case) and number tolerance,
on the demo's supplier mapping to OA."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.config.rules import DivergenceRule
from mdm.rules.divergence import compare, key_field, normalise
from mdm.runtime.settings import REPO_ROOT

PROJECT = load_project(Path(REPO_ROOT))
SUPPLIER = PROJECT.entities["supplier"]


def _rule(**kw) -> DivergenceRule:
    return DivergenceRule(target="oa", **{"fields": ["vendor_name", "credit_limit",
                                                     "last_audit_at"], **kw})


GOLDEN = {"vendor_name": "苏州ABC精密机械有限公司", "credit_limit": "1000.0000",
          "last_audit_at": "2026-11-25T02:11:12.500000+00:00"}


def test_the_same_values_in_target_encodings_do_not_diverge():
    target = {"vendor_name": "苏州ABC精密机械有限公司", "credit_limit": "1000.00",
              "last_audit_at": "2026-11-25T02:11:12.5Z"}
    assert compare(SUPPLIER, "oa", _rule(), GOLDEN, target) == []


@pytest.mark.parametrize("how, target_name, diverges", [
    (["trim"], "  苏州ABC精密机械有限公司 ", False),
    ([], "  苏州ABC精密机械有限公司 ", True),
    (["width"], "苏州ＡＢＣ精密机械有限公司", False),  # full-width letters
    (["trim"], "苏州ＡＢＣ精密机械有限公司", True),
    (["case"], "苏州abc精密机械有限公司", False),
    (["trim", "width"], "苏州abc精密机械有限公司", True),
])
def test_normalisation_decides_what_counts_as_the_same(how, target_name, diverges):
    target = {**GOLDEN, "vendor_name": target_name}
    found = compare(SUPPLIER, "oa", _rule(normalize=how), GOLDEN, target)
    assert bool(found) is diverges
    if diverges:
        assert [(m.field, m.golden, m.target) for m in found] == [
            ("vendor_name", GOLDEN["vendor_name"], target_name)]


def test_numbers_within_the_tolerance_are_equal_and_beyond_it_diverge():
    near = {**GOLDEN, "credit_limit": "1000.004"}
    far = {**GOLDEN, "credit_limit": "1000.02"}
    assert compare(SUPPLIER, "oa", _rule(tolerance=0.005), GOLDEN, near) == []
    [m] = compare(SUPPLIER, "oa", _rule(tolerance=0.005), GOLDEN, far)
    assert (m.field, m.attribute) == ("credit_limit", "credit_limit")
    assert compare(SUPPLIER, "oa", _rule(), GOLDEN, near) != []  # default tolerance 0


def test_blank_and_missing_are_the_same_when_trimming():
    assert normalise("   ", "string", ["trim"]) is None
    assert normalise(None, "string", ["trim"]) is None


def test_key_field_is_the_target_field_carrying_the_business_key():
    assert key_field(SUPPLIER, "oa") == "vendor_code"
    assert key_field(SUPPLIER, "wms") == "supplier_no"


def test_float_values_compare_as_numbers_with_the_tolerance():
    from mdm.rules.divergence import same
    assert normalise(500.0, "float", []) == normalise("500", "float", [])
    assert normalise(0.1, "float", []) == normalise("0.10", "float", [])
    assert same(normalise(0.1, "float", []), normalise(0.1004, "float", []), 0.001)
    assert not same(normalise(0.1, "float", []), normalise(0.102, "float", []), 0.001)
