"""cdc/*.yaml with a `kind:` is a feed (webhook, poll, amqp, nats), loaded beside the captured
databases; an unknown kind names the file, the key and the kinds expected."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.errors import ConfigError


def test_the_demo_project_reads_its_databases_as_sources(project: Path) -> None:
    loaded = load_project(project)
    assert {"erp", "oa", "wms"} <= set(loaded.sources)
    assert set(loaded.systems_read) == set(loaded.sources) | set(loaded.feeds)


def test_an_unknown_kind_names_the_file_the_key_and_the_kinds(project: Path) -> None:
    (project / "cdc/saas.yaml").write_text("name: saas\nkind: carrier_pigeon\n")
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    message = str(caught.value)
    assert "cdc/saas.yaml" in message and "kind: expected one of webhook, poll, amqp, nats" in message
    assert "carrier_pigeon" in message


def test_a_feed_with_an_unknown_key_names_the_file_and_the_key(project: Path) -> None:
    (project / "cdc/saas.yaml").write_text("name: saas\nkind: webhook\nslot: mdm_saas\n")
    with pytest.raises(ConfigError, match=r"cdc/saas.yaml.*slot: unknown key"):
        load_project(project)
