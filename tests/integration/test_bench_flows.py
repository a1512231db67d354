"""`mdm bench --flows` end to end at a tiny size (3 requests at rest, 3 under load) on the
stack it builds itself: every chain completes — at rest flow 1's, under load the whole
purchase → payment chain, every hop of it seen — the table is printed and the JSON carries the
issue's keys. No timing assertions: the benchmark measures, the tests check behaviour."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mdm.cli.main import _register, app

_register()


def test_bench_flows_completes_every_whole_chain_and_writes_the_issue_json_keys(tmp_path: Path) -> None:
    out = tmp_path / "flows.json"
    result = CliRunner().invoke(app, ["bench", "--flows", "--flow-requests", "3", "--flow-load", "3",
                                      "--json", str(out), "--state-dir", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    assert "approval → PO number on the OA request" in result.output
    assert "whole chains completed / started" in result.output
    flows = json.loads(out.read_text())["flows"]
    assert flows["chain"] == "purchase_to_payment"
    assert "已付款" in flows["chain_note"]
    assert set(flows["approval_to_oa_po_number_ms"]) >= {"p50", "p99"}
    assert flows["approval_to_oa_po_number_ms"]["count"] == 3
    assert flows["chains_per_minute"] > 0
    assert flows["chains_started"] == flows["chains_completed"] == 3
    rest, load = flows["at_rest"], flows["under_load"]
    assert rest["requests"] == rest["completed"] == 3, rest
    assert load["requests"] == load["completed"] == load["flow_1_completed"] == 3, load
    assert load["stalled"] is False
    for figures in (rest, load):
        for name in ("approval_to_erp_po_ms", "erp_po_to_oa_po_number_ms",
                     "wal_commit_approval_to_oa_po_number_ms"):
            assert figures[name]["count"] == 3, (name, figures[name])
        assert all(f["count"] == 3 for f in figures["stages_ms"].values()), figures["stages_ms"]
    assert rest["polled_approval_to_oa_po_number_ms"]["count"] == 3
    whole = load["whole_chain"]
    assert whole["started"] == whole["completed"] == 3, whole
    assert whole["approval_to_oa_paid_ms"]["count"] == 3
    assert set(whole["hub_hops_ms"]) == {
        "approval_to_erp_po", "erp_po_to_oa_po_number", "release_to_wms_pre_receipt",
        "receipt_to_erp_stock_in", "payable_to_oa_payment_request",
        "payment_approval_to_erp_payment", "erp_payment_to_oa_paid"}
    for group in ("hub_hops_ms", "humans_ms"):
        assert all({"p50", "p99"} <= set(f) and f["count"] == 3
                   for f in whole[group].values()), whole[group]
