"""`mdm init`'s source scaffolds: one commented cdc/*.yaml per kind of source the hub reads
(each Debezium connector, a webhook per callback format, a poll, a queue), shipped in the
package as mdm/scaffolds/<kind>.yaml (beside the starter project, mdm/project/) with
`__name__` / `__NAME__` for the source's name (lower case, and upper case inside
${MDM___NAME___…} variable names).

The kinds offered are the ones the config accepts and the hub can run (SourceSpec's
`connector:` with a capture in SOURCE_KINDS, FEED_SPECS, the webhook FORMATS);
tests/unit/test_init_scaffolds.py fails while one has no scaffold, and passes each one through
`mdm check`.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import get_args

from mdm.config.feed_webhook import FORMATS
from mdm.config.feeds import FEED_SPECS
from mdm.config.sources import SourceSpec
from mdm.errors import MdmError

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
EXAMPLE_SUFFIX = ".yaml.example"  # not *.yaml: the loader does not read them


def connectors() -> tuple[str, ...]:
    """The Debezium connectors a cdc/*.yaml may name and capture can run (a connector the
    schema takes before its capture is registered is not offered yet)."""
    from mdm.capture.registry import SOURCE_KINDS

    accepted = get_args(SourceSpec.model_fields["connector"].annotation)
    return tuple(c for c in accepted if c in SOURCE_KINDS)


def offered_kinds() -> list[str]:
    """Every kind `mdm init --source` takes: connectors, webhook-<format>, the other feeds."""
    feeds = [f"webhook-{f}" if kind == "webhook" else kind
             for kind in FEED_SPECS for f in (FORMATS if kind == "webhook" else ("",))]
    return [*connectors(), *feeds]


def default_name(kind: str) -> str:
    """The source name of a kind's example file: webhook-dingtalk → dingtalk."""
    return kind.removeprefix("webhook-").replace("-", "_")


def template(kind: str) -> str:
    path = resources.files("mdm") / "scaffolds" / f"{kind}.yaml"
    if not path.is_file():
        raise MdmError(f"the installed mdm package has no scaffold for {kind} ({path}); "
                       "reinstall mdm")
    return path.read_text(encoding="utf-8")


def render(kind: str, name: str) -> str:
    """The scaffold of `kind` for a source called `name`."""
    if kind not in offered_kinds():
        raise MdmError(f"--source {kind}: not a kind of source; one of {', '.join(offered_kinds())}")
    if not NAME.match(name):
        raise MdmError(f"--source {kind}:{name}: a source name is lower-case letters, digits "
                       "and _, starting with a letter or _ (it names the source in xrefs, "
                       "lineage and ${MDM_<NAME>_…} variables)")
    return template(kind).replace("__NAME__", name.upper()).replace("__name__", name)


def parse_source(option: str) -> tuple[str, str]:
    """`KIND` or `KIND:NAME` → (kind, name)."""
    kind, _, name = option.partition(":")
    return kind, name or default_name(kind)


def write_examples(directory: Path) -> list[Path]:
    """cdc/<kind>.yaml.example for every kind (the loader skips them)."""
    written = []
    for kind in offered_kinds():
        path = directory / "cdc" / f"{kind}{EXAMPLE_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(kind, default_name(kind)), encoding="utf-8")
        written.append(path)
    return written


def write_source(directory: Path, kind: str, name: str) -> Path:
    """cdc/<name>.yaml from `kind`'s scaffold; never over an existing file."""
    text = render(kind, name)
    path = directory / "cdc" / f"{name}.yaml"
    if path.exists():
        raise MdmError(f"--source {kind}:{name}: {path} exists already; choose another name "
                       f"(--source {kind}:NAME)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
