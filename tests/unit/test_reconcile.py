"""reconciliations/*.yaml: which documents' figures must agree with an order's, per line. A bad
file is refused naming the file, the key and what was expected; the verdicts (agrees, in
progress, mismatch with its reasons) come from the figures alone, in exact decimals."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from mdm.config.loader import load_project
from mdm.config.reconcile import ReconciliationSpec
from mdm.errors import ConfigError
from mdm.flows.reconcile import AGREES, IN_PROGRESS, MISMATCH, as_json, judge

FILE = Path("reconciliations/purchase_order.yaml")


def _edit(project: Path, change) -> list[tuple[str, str]]:
    data = yaml.safe_load((project / FILE).read_text(encoding="utf-8"))
    change(data)
    (project / FILE).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_project(project)
    return err.value.entries


def test_the_demo_project_declares_the_purchase_order_reconciliation():
    spec = load_project(Path(".")).reconciliations["purchase_order"]
    assert (spec.order.entity, spec.received.entity, spec.stocked.entity, spec.payable.entity,
            spec.paid.entity) == ("purchase_order", "receipt", "stock_in", "payable", "payment")
    assert spec.tolerances.over_receipt == Decimal(10) and spec.paid.order.through == "payable"


def test_an_unknown_attribute_is_named_with_its_file_and_key(project: Path):
    entries = _edit(project, lambda d: d["stocked"].update(quantity="qty"))
    assert (str(FILE), "stocked.quantity: stock_in.lines has no attribute 'qty'") in entries


def test_an_unknown_entity_and_a_wrong_reference_are_named(project: Path):
    def change(d: dict[str, Any]) -> None:
        d["payable"]["entity"] = "invoice"
        d["stocked"]["order"] = {"reference": "purchase_order_no"}
    entries = _edit(project, change)
    assert (str(FILE), "payable.entity: no entity 'invoice' in golden_records/") in entries
    assert (str(FILE), "stocked.order.reference: stock_in.purchase_order_no is not a reference "
                       "to purchase_order") in entries


def test_a_figure_must_say_how_it_finds_its_order_exactly_one_way(project: Path):
    entries = _edit(project, lambda d: d["received"]["order"].update(reference="x"))
    assert any(f == str(FILE) and p.startswith("received.order") and "exactly one" in p
               for f, p in entries), entries


def test_a_misspelt_key_is_refused(project: Path):
    entries = _edit(project, lambda d: d["tolerances"].update(over_reciept=5))
    assert any(f == str(FILE) and "over_reciept" in p for f, p in entries), entries


# -- verdicts ----------------------------------------------------------------------------------
def _spec() -> ReconciliationSpec:
    return load_project(Path(".")).reconciliations["purchase_order"]


ORDER = {"golden_id": 1, "business_key": "4500000001", "source_key": "7", "version": 3,
         "attributes": {"status": "done", "lines": [
             {"line_no": 1, "quantity": "100.000", "unit_price": "3.2000", "amount": "320.00"},
             {"line_no": 2, "quantity": "50.000", "unit_price": "12.5000", "amount": "625.00"}]}}
ROWS = {"71": "1", "72": "2"}  # the order lines' ERP ids → line_no


def _docs(received: tuple[str, str], stocked: tuple[str, str], payable: str | None,
          paid: str | None) -> dict[str, list[dict[str, Any]]]:
    def doc(key: str, **attributes: Any) -> dict[str, Any]:
        return {"golden_id": hash(key) % 1000, "business_key": key, "attributes": attributes}
    return {
        "received": [doc("GR1", status="completed", lines=[
            {"po_line_no": 1, "accepted_qty": received[0], "rejected_qty": "0"},
            {"po_line_no": 2, "accepted_qty": received[1], "rejected_qty": "2.000"}])],
        "stocked": [doc("RK1", lines=[{"po_line_id": 71, "quantity": stocked[0]},
                                      {"po_line_id": 72, "quantity": stocked[1]}])],
        "payable": [doc("AP1", amount=payable)] if payable else [],
        "paid": [doc("FK1", amount=paid)] if paid else []}


def test_a_fully_received_stocked_payable_and_paid_order_agrees():
    r = judge(_spec(), ORDER, _docs(("100", "50"), ("100", "50"), "945.00", "945.00"), ROWS, True)
    assert r.verdict == AGREES and r.mismatches() == []
    assert [(ln.received, ln.rejected, ln.stocked, ln.payable) for ln in r.lines] == [
        (Decimal("100"), Decimal("0"), Decimal("100"), Decimal("320.00")),
        (Decimal("50"), Decimal("2.000"), Decimal("50"), Decimal("625.00"))]
    assert as_json(r.as_dict())["expected_payable"] == "945.00"


def test_a_partly_received_order_is_in_progress_not_a_mismatch():
    r = judge(_spec(), ORDER, _docs(("60", "45"), ("60", "45"), "754.50", None), ROWS, True)
    assert r.verdict == IN_PROGRESS and r.mismatches() == []
    assert r.lines[0].reasons[0].text == "received 60 of 100.000"


def test_stocked_short_of_received_is_in_progress_until_settled_then_a_mismatch():
    docs = _docs(("100", "50"), ("100", "45"), "882.50", None)
    assert judge(_spec(), ORDER, docs, ROWS, settled=False).verdict == IN_PROGRESS
    settled = judge(_spec(), ORDER, docs, ROWS, settled=True)
    assert settled.verdict == MISMATCH
    assert settled.mismatches() == ["line 2: stocked 45 < received 50"]


def test_stocked_over_received_payable_off_and_paid_over_payable_are_mismatches_at_once():
    r = judge(_spec(), ORDER, _docs(("100", "50"), ("100", "55"), "945.00", "1000.00"), ROWS,
              settled=False)
    # the payable short of stocked × price (1007.50) may still be filled: not settled yet
    assert r.mismatches() == ["line 2: stocked 55 > received 50",
                              "order: paid 1000.00 > payable 945.00"]
    assert [(x.figure, x.verdict) for x in r.reasons] == [("payable", IN_PROGRESS),
                                                          ("paid", MISMATCH)]


def test_amounts_agree_to_the_cent_and_an_over_receipt_beyond_the_tolerance_is_named():
    near = judge(_spec(), ORDER, _docs(("100", "50"), ("100", "50"), "945.01", "945.01"), ROWS,
                 True)
    assert near.verdict == AGREES
    over = judge(_spec(), ORDER, _docs(("111", "50"), ("111", "50"), "980.20", "980.20"), ROWS,
                 True)
    assert over.mismatches() == ["line 1: received 111 > ordered 100.000 + 10 %"]


def test_a_document_line_naming_no_order_line_is_listed():
    docs = _docs(("100", "50"), ("100", "50"), "945.00", "945.00")
    docs["stocked"][0]["attributes"]["lines"][1]["po_line_id"] = 99
    r = judge(_spec(), ORDER, docs, ROWS, True)
    assert r.unmatched == ["RK1 po_line_id=99"] and r.verdict == MISMATCH


def test_each_payable_may_be_a_cent_off_by_its_own_rounding():
    docs = _docs(("100", "50"), ("100", "50"), None, None)
    docs["payable"] = [{"golden_id": 7, "business_key": k, "attributes": {"amount": a}}
                       for k, a in (("AP1", "320.01"), ("AP2", "625.01"))]
    assert judge(_spec(), ORDER, docs, ROWS, True).reasons[0].figure == "paid"  # not payable
    docs["payable"][1]["attributes"]["amount"] = "625.03"
    r = judge(_spec(), ORDER, docs, ROWS, True)
    assert r.mismatches() == ["order: payable 945.04 > stocked × price 945.00"]
