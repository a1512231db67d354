"""A demo process that does not answer /healthz in time fails with what it logged since it was
started (a restarted hub's reason is in its log, which goes when the test's folder goes)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mdm.demo.stack import DemoStack


def test_a_process_that_never_answers_fails_with_the_tail_of_its_log(tmp_path: Path) -> None:
    stack = DemoStack(tmp_path)
    (tmp_path / "slow.log").write_bytes(b"an earlier start's line\n")
    stack._log_offsets["slow"] = len(b"an earlier start's line\n")
    with (tmp_path / "slow.log").open("ab") as log:
        log.write(b"capture waiting for the hub database\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stack.processes["slow"] = proc
    try:
        with pytest.raises(TimeoutError) as caught:
            stack._start_on_free_ports("slow", lambda: ["http://127.0.0.1:9"], lambda: None,
                                       False, 0.5)
    finally:
        proc.kill()
        proc.wait()
    message = str(caught.value)
    assert "did not answer" in message and "capture waiting for the hub database" in message
    assert "an earlier start's line" not in message
