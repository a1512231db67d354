"""What the wheel ships: every package-data pattern in pyproject.toml matches files, and the
starter project `mdm init` copies (mdm/project/) is the repository's top-level project, linked,
not a second copy that could drift."""
from __future__ import annotations

import glob
import tomllib
from pathlib import Path

import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.runtime.settings import REPO_ROOT

PATTERNS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "tool"]["setuptools"]["package-data"]["mdm"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_package_data_pattern_matches_files(pattern: str) -> None:
    # glob.glob as setuptools expands them (it follows the links under mdm/project; pathlib's
    # ** would not).
    found = glob.glob(str(REPO_ROOT / "mdm" / pattern), recursive=True)
    assert [p for p in found if Path(p).is_file()], f"{pattern} matches no file"


def test_starter_project_is_the_top_level_project() -> None:
    starter = REPO_ROOT / "mdm" / "project"
    assert sorted(p.name for p in starter.iterdir()) == sorted(PROJECT_FOLDERS)
    for folder in PROJECT_FOLDERS:
        link = starter / folder
        assert link.is_symlink() and link.resolve() == (REPO_ROOT / folder).resolve(), (
            f"mdm/project/{folder} should be a link to ../../{folder}")

