"""The layers of DESIGN.md hold: import-linter's contracts in pyproject.toml (surfaces →
orchestrators → stages → store, config, runtime → model, errors; stages independent)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mdm.runtime.settings import REPO_ROOT


def test_imports_follow_the_layers_and_stages_do_not_import_each_other():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Contracts: 2 kept, 0 broken." in output, output
