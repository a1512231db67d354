"""`mdm bench --sources` end to end at a small size (300 events per kind in the burst, 20 paced)
on the stack it builds itself, with the machine's real RabbitMQ and NATS JetStream: every
event of every kind becomes its golden version, the table is printed, and the JSON carries the
issue's keys — {"sources": {kind: {"eps", "commit_to_golden_ms": {"p50", "p99"}}}} for
postgresql, mariadb, webhook, poll and queue (amqp and nats both under queue.brokers). MariaDB
is measured wherever its capture is registered, and only then may it be flagged not available.
No timing assertions: the benchmark measures, the tests check behaviour."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mdm.capture.registry import SOURCE_KINDS
from mdm.cli.main import _register, app
from tests.brokers import require_brokers

_register()
EVENTS, PACED = 300, 20


def _all_arrived(kind: str, figures: dict[str, object]) -> None:
    assert figures["events"] == figures["arrived"] == EVENTS, (kind, figures)
    assert figures["paced_events"] == figures["paced_arrived"] == PACED, (kind, figures)
    assert isinstance(figures["eps"], float) and figures["eps"] > 0, (kind, figures)
    latency = figures["commit_to_golden_ms"]
    assert isinstance(latency, dict) and set(latency) == {"p50", "p99"}, (kind, figures)
    assert all(isinstance(v, float) for v in latency.values()), (kind, figures)


def test_bench_sources_brings_every_event_of_every_kind_to_golden_and_writes_the_issue_json(
        tmp_path: Path) -> None:
    require_brokers()
    out = tmp_path / "sources.json"
    result = CliRunner().invoke(app, [
        "bench", "--sources", "--source-events", str(EVENTS), "--source-paced", str(PACED),
        "--source-rate", "20", "--json", str(out), "--state-dir", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    assert "mdm bench --sources" in result.output and "commit → golden at rest" in result.output
    sources = json.loads(out.read_text())["sources"]
    assert set(sources) == {"postgresql", "mariadb", "webhook", "poll", "queue"}
    for kind in ("postgresql", "webhook", "poll", "queue"):
        _all_arrived(kind, sources[kind])
    queue = sources["queue"]
    assert queue["broker"] == "amqp" and set(queue["brokers"]) == {"amqp", "nats"}
    for broker, figures in queue["brokers"].items():
        _all_arrived(f"queue {broker}", figures)
    if "mariadb" in SOURCE_KINDS:
        _all_arrived("mariadb", sources["mariadb"])
    else:
        assert sources["mariadb"]["available"] is False and sources["mariadb"]["why"]
        assert "mariadb: not available (" in result.output
