"""`mdm init` scaffolds every kind of source the hub accepts, and each one — its placeholders
filled (the ${MDM_…} variables set, a Db2 driver jar where it names one) and the entity its
comments show added — passes `mdm check`, through the real command and loader."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.cli.scaffolds import (EXAMPLE_SUFFIX, connectors, default_name, offered_kinds,
                               render, template)
from mdm.config.feed_webhook import FORMATS
from mdm.config.feeds import FEED_SPECS
from mdm.config.loader import load_project
from mdm.runtime.settings import REPO_ROOT

SCAFFOLDS = REPO_ROOT / "mdm" / "scaffolds"
# what a filled-in ${…_URL} holds, per kind (the scaffold's own comment shows the form)
URLS = {"postgresql": "postgresql://mdm_capture:pw@erp-host:5432/erp",
        "sqlserver": "sqlserver://mdm_capture:pw@u8-db:1433",
        "oracle": "oracle://c%23%23mdm:pw@nc-db:1521/ORCLCDB",
        "db2": "db2://mdm:pw@db2-host:50000/ERPDB",
        "mysql": "mysql://mdm_capture:pw@wms-db:3306",
        "mariadb": "mariadb://mdm_capture:pw@erp-db:3306",
        "amqp": "amqp://mdm:pw@mq-host:5672/wms", "nats": "nats://nats-host:4222",
        "poll": "https://api.example.com"}
ENTITY_MARK = ("# An entity this source is the system of record of "
               "(golden_records/<entity>.yaml), e.g.:")
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    from mdm.cli.main import _register, app

    _register()
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _example_entity(text: str) -> str:
    """The entity the scaffold's comments show (the `#   ` lines after the marker line)."""
    lines = text.splitlines()
    start = lines.index(ENTITY_MARK) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        block.append(line[4:])
    assert block[0].startswith("entity: ")
    block[0] = "entity: scaffold_example"  # the demo's project has the example's name
    return "\n".join(block) + "\n"


def _filled(kind: str, text: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """The scaffold with its placeholders filled: every ${VAR} given a value of the right form
    (a secret any text), a Db2 driver jar made."""
    env = {}
    for var in VARIABLE.findall(text):
        url = URLS.get(kind.split("-")[0], "https://oa.example.com")
        env[var] = url if var.endswith("_URL") else "a-secret-value"
    if kind == "db2":
        jar = tmp / "jcc-11.5.9.0.jar"
        with zipfile.ZipFile(jar, "w") as archive:
            archive.writestr("com/ibm/db2/jcc/DB2Driver.class", b"\xca\xfe\xba\xbe")
        text = text.replace("/opt/ibm/db2/jcc-11.5.9.0.jar", str(jar))
    if "webhook-dingtalk" in kind or "webhook-wecom" in kind:
        env = {**env, **{v: "p2mcP3VxAkbcYHf4aRnsn5GBvoDXe6b1O+JBKhl64ws"
                         for v in env if v.endswith("AES_KEY")}}
    return text, env


def test_every_kind_of_source_the_hub_accepts_has_a_scaffold() -> None:
    kinds = set(offered_kinds())
    assert kinds == (set(connectors()) | {f"webhook-{f}" for f in FORMATS}
                     | set(FEED_SPECS) - {"webhook"})
    shipped = {p.name.removesuffix(".yaml") for p in SCAFFOLDS.glob("*.yaml")}
    assert kinds <= shipped, f"no scaffold for {sorted(kinds - shipped)}"
    # the MySQL family's scaffolds are there before `connector:` accepts it (issue 14)
    assert shipped - kinds <= {"mysql", "mariadb"}


def test_mdm_init_help_names_every_kind() -> None:
    shown = " ".join(_cli("init", "--help").split())
    for kind in offered_kinds():
        assert kind in shown, kind


@pytest.mark.parametrize("kind", offered_kinds())
def test_each_scaffold_with_its_placeholders_filled_passes_mdm_check(kind: str,
                                                                      tmp_path: Path) -> None:
    project = tmp_path / "acme"
    name = "src_" + default_name(kind)
    _cli("init", str(project), "--source", f"{kind}:{name}")
    written = project / "cdc" / f"{name}.yaml"
    text, env = _filled(kind, written.read_text(encoding="utf-8"), tmp_path)
    written.write_text(text, encoding="utf-8")
    entity = _example_entity(text)
    assert f"source: {name}" in entity
    (project / "golden_records" / "scaffold_example.yaml").write_text(entity, encoding="utf-8")
    out = _cli("check", "-p", str(project), env=env)
    assert "ok" in out
    loaded = load_project(project)
    assert name in loaded.systems_read
    [example] = [e for e in loaded.entities.values() if e.source == name]
    assert example.table in (loaded.captured_tables(name) if name in loaded.sources
                             else [example.table])


def test_every_scaffold_is_commented_and_names_its_source_throughout() -> None:
    for kind in offered_kinds():
        text = render(kind, "acme_src")
        assert "__name__" not in text and "__NAME__" not in text, kind
        comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
        assert len(comments) >= 8, kind
        assert "name: acme_src\n" in text and "MDM_ACME_SRC_" in text, kind
        assert template(kind).startswith("# "), kind


def test_mdm_init_writes_every_kind_as_an_example_the_loader_does_not_read(tmp_path: Path) -> None:
    _cli("init", str(tmp_path / "acme"))
    examples = sorted(p.name for p in (tmp_path / "acme" / "cdc").glob(f"*{EXAMPLE_SUFFIX}"))
    assert examples == sorted(f"{k}{EXAMPLE_SUFFIX}" for k in offered_kinds())
    assert set(load_project(tmp_path / "acme").systems_read) == set(
        load_project(REPO_ROOT).systems_read)


def test_a_bad_kind_or_name_writes_nothing(tmp_path: Path) -> None:
    from mdm.cli.main import _register, app

    _register()
    for option in ("ftp", "poll:Bad-Name"):
        result = CliRunner().invoke(app, ["init", str(tmp_path / "acme"), "--source", option])
        assert result.exit_code != 0
        assert not (tmp_path / "acme").exists()
