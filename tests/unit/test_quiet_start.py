"""Quiet start: with the hub's logging set up, what the processing role does before its first
batch (check the rule files, import Great Expectations, run a suite) logs the hub's INFO lines
and none of Great Expectations' (it logs ~220 at import otherwise)."""
from __future__ import annotations

import re
import subprocess
import sys

from mdm.runtime.settings import REPO_ROOT

# What run_processing does up to "rules ready", then one validation of the demo's supplier suite.
ROLE_START = """
import logging
from mdm.cli.main import configure_logging
configure_logging()
from mdm.config.loader import load_project
from mdm.rules.engine import RuleEngine, validate_expectations
from mdm.rules.expectations import ExpectationSpec
project = load_project(REPO_ROOT)
validate_expectations(project)
runner = RuleEngine(project).runner
spec = project.entities["supplier"]
columns = {n: a.type for n, a in spec.attributes.items()}
suite = [ExpectationSpec(r.rule_name, r.expectation_type, r.kwargs)
         for r in project.rules["supplier"].expectations if r.child is None]
assert suite
runner.run(suite, [{n: None for n in columns}], columns)
logging.getLogger("mdm.rules.engine").info("rules ready entities=%d", len(project.rules))
"""

LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>\S+) ", re.MULTILINE)


def test_great_expectations_logs_no_info_lines_while_the_hub_logs_its_own() -> None:
    script = f"from pathlib import Path\nREPO_ROOT = Path({str(REPO_ROOT)!r})\n{ROLE_START}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={"MDM_LOG_LEVEL": "INFO", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [(m["level"], m["logger"]) for m in LINE.finditer(done.stderr)]
    assert ("INFO", "mdm.rules.engine") in lines, done.stderr[-3000:]
    foreign = [(level, name) for level, name in lines if level == "INFO" and not name.startswith("mdm")]
    assert foreign == [], f"{len(foreign)} INFO lines from libraries, e.g. {foreign[:5]}"
    assert "great_expectations" not in done.stderr
