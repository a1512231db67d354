"""Unit-test fixtures: a scratch copy of the demo project to break on purpose."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mdm.config.loader import PROJECT_FOLDERS
from mdm.runtime.settings import REPO_ROOT


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path
