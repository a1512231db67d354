"""A secrets file that group or others may read is named, with the fix, by `mdm check` and in
the log of every hub role at start; a private one (0600) is not."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdm.config.secret_files import secrets_file_problem, warn_if_secrets_file_open
from mdm.runtime.settings import REPO_ROOT


def _secrets(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text("MDM_OA_TOKEN=s3cret\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_file_others_may_read_is_named_with_the_fix(tmp_path: Path):
    path = _secrets(tmp_path, 0o644)
    problem = secrets_file_problem({"MDM_SECRETS_FILE": str(path)})
    assert problem is not None and "other users" in problem and "0644" in problem
    assert f"chmod 600 {path}" in problem
    assert "its group" in (secrets_file_problem({"MDM_SECRETS_FILE": str(_secrets(tmp_path, 0o640))}) or "")


def test_a_private_file_or_none_at_all_is_fine(tmp_path: Path):
    assert secrets_file_problem({"MDM_SECRETS_FILE": str(_secrets(tmp_path, 0o600))}) is None
    assert secrets_file_problem({}) is None


def test_the_start_warning_is_logged_and_check_prints_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture):
    from mdm.cli.main import _register, app

    _register()

    monkeypatch.setenv("MDM_SECRETS_FILE", str(_secrets(tmp_path, 0o604)))
    with caplog.at_level(logging.WARNING, logger="mdm.config.secret_files"):
        assert warn_if_secrets_file_open() is not None
    assert "insecure secrets file" in caplog.text and "s3cret" not in caplog.text
    result = CliRunner().invoke(app, ["check", "-p", str(REPO_ROOT)])
    assert result.exit_code == 0, result.output
    assert "warning: secrets file" in " ".join(result.output.split())
