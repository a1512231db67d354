"""mypy --strict over mdm/, started in the background when the session begins (by
tests/conftest.py, if tests/unit/test_typing.py is collected) so that it runs on the second
core beside the other unit tests; test_typing waits for its result."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from typing import IO

from mdm.runtime.settings import REPO_ROOT

TIMEOUT_S = 600
_run: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}


def start() -> None:
    """Start `python -m mypy mdm` (once); its output goes to a temporary file."""
    if "mypy" not in _run:
        out = tempfile.TemporaryFile()  # noqa: SIM115 — closed by result() or stop()
        proc = subprocess.Popen([sys.executable, "-m", "mypy", "mdm"], cwd=REPO_ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
        _run["mypy"] = (proc, out)


def result() -> subprocess.CompletedProcess[str]:
    """mypy's exit code and output: waits for the run start() began (starting one if none)."""
    start()
    proc, out = _run["mypy"]
    try:
        proc.wait(TIMEOUT_S)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    finally:
        stop()  # kills mypy if the wait timed out
    return subprocess.CompletedProcess(proc.args, proc.returncode, text, "")


def stop() -> None:
    """End a run nobody waits for any more (and close its output)."""
    run = _run.pop("mypy", None)
    if run is not None:
        proc, out = run
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
