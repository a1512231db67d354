"""The package type-checks with mypy --strict (configured in pyproject.toml). mypy runs in the
background from the start of the session (tests/typecheck.py); this waits for its result."""
from __future__ import annotations

from tests import typecheck


def test_mdm_package_passes_mypy_strict():
    result = typecheck.result()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Success" in result.stdout
