"""The package type-checks with mypy --strict (configured in pyproject.toml)."""
from __future__ import annotations

import subprocess
import sys

from mdm.runtime.settings import REPO_ROOT


def test_mdm_package_passes_mypy_strict():
    result = subprocess.run([sys.executable, "-m", "mypy", "mdm"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Success" in result.stdout
