"""The change-request CSV never hands a spreadsheet a formula: cells that start like one are
prefixed with a quote (OWASP), plain numbers stay numbers."""
from __future__ import annotations

import csv
import io

import pytest

from mdm.steward.change_requests import COLUMNS, as_csv, cell


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil.example","点我")', "+1+cmd|' /C calc'!A0",
                                   "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "＝1+1"])
def test_a_cell_that_starts_like_a_formula_is_quoted(value: str):
    assert cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-5.00", "+12", "1e5", "上海华东精工", "a=b", None, 42])
def test_other_cells_are_left_as_they_are(value: object):
    assert cell(value) == ("" if value is None else str(value))


def test_the_export_neutralises_every_column():
    row = {c: None for c in COLUMNS} | {"id": 1, "requested_value": '=HYPERLINK("http://x","y")',
                                        "reason": "@evil", "golden_value": "-3.50"}
    parsed = list(csv.reader(io.StringIO(as_csv([row]).lstrip("\ufeff"))))
    out = dict(zip(parsed[0], parsed[1], strict=True))
    assert out["requested_value"] == '\'=HYPERLINK("http://x","y")'
    assert out["reason"] == "'@evil" and out["golden_value"] == "-3.50"
