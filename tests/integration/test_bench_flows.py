"""`mdm bench --flows` end to end at a tiny size (3 requests at rest, 3 under load) on the
stack it builds itself: every chain completes, the table is printed and the JSON carries the
issue's keys. No timing assertions: the benchmark measures, the tests check behaviour."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mdm.cli.main import _register, app

_register()


def test_bench_flows_completes_every_chain_and_writes_the_issue_json_keys(tmp_path: Path) -> None:
    out = tmp_path / "flows.json"
    result = CliRunner().invoke(app, ["bench", "--flows", "--flow-requests", "3", "--flow-load", "3",
                                      "--json", str(out), "--state-dir", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    assert "approval → PO number on the OA request" in result.output
    flows = json.loads(out.read_text())["flows"]
    assert flows["chain"] == "approval_to_po_number"
    assert set(flows["approval_to_oa_po_number_ms"]) >= {"p50", "p99"}
    assert flows["approval_to_oa_po_number_ms"]["count"] == 3
    assert flows["chains_per_minute"] > 0
    for phase in ("at_rest", "under_load"):
        figures = flows[phase]
        assert figures["requests"] == figures["completed"] == 3, figures
        for name in ("approval_to_erp_po_ms", "erp_po_to_oa_po_number_ms",
                     "wal_commit_approval_to_oa_po_number_ms"):
            assert figures[name]["count"] == 3, (phase, name, figures[name])
        assert all(f["count"] == 3 for f in figures["stages_ms"].values()), figures["stages_ms"]
    assert flows["at_rest"]["polled_approval_to_oa_po_number_ms"]["count"] == 3
