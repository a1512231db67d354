"""An entity that appears in a flow only through its `links:` list counts as in the flow (the
workbench gives its records a trace link), and `mdm check` lists the flow's links."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mdm.api.chain_drawing import in_flows, trace_link
from mdm.config.loader import load_project

LINKS_ONLY = """flow: receivables_links
links:
  - name: receivable
    entity: ar_entry
    origin: {entity: sales_shipment, by: shipment}
"""


def _with_links_flow(project: Path) -> Path:
    (project / "flows/receivables_links.yaml").write_text(LINKS_ONLY, encoding="utf-8")
    return project


def test_an_entity_only_in_a_flows_links_gets_a_trace_link(project: Path):
    assert not in_flows(load_project(project), "ar_entry")  # before: in no flow at all
    loaded = load_project(_with_links_flow(project))
    assert in_flows(loaded, "ar_entry")
    assert trace_link(loaded, "ar_entry", "AR-1", 7) is not None
    assert not in_flows(loaded, "employee")


def test_mdm_check_lists_a_flows_links(project: Path):
    from mdm.cli.main import _register, app

    _register()
    result = CliRunner().invoke(app, ["check", "-p", str(_with_links_flow(project))])
    assert result.exit_code == 0, result.output
    assert ("flow receivables_links.receivable: link ar_entry under sales_shipment (by shipment)"
            in result.output)
