"""`mdm up`: run capture, processing, propagation and the API as child processes of one
supervisor, restarting a child that dies. Children die with the supervisor (PR_SET_PDEATHSIG),
so a kill -9 of `mdm up` leaves nothing behind.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from mdm.errors import ConfigError

logger = logging.getLogger(__name__)
CONFIG_EXIT = 2  # a role found the project files invalid: restarting will not help
ROLES = ("capture", "process", "propagate", "api")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn_role(role: str, extra_args: Sequence[str] = (), env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mdm.cli.main", "run", role, *extra_args]
    return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509


def supervise(roles: Sequence[str], extra_args: Sequence[str] = ()) -> int:
    """Start each role, restart any that exits, stop all on SIGTERM/SIGINT."""
    children = {role: spawn_role(role, extra_args) for role in roles}
    restarts = {role: 0 for role in roles}
    stopping, exit_code = False, 0

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("hub up roles=%s pids=%s", ",".join(roles),
                ",".join(str(c.pid) for c in children.values()))
    while not stopping:
        time.sleep(0.5)
        for role, child in list(children.items()):
            code = child.poll()
            if code is None or stopping:
                continue
            if code == CONFIG_EXIT:
                logger.error("%s stopped on a configuration error (see above); fix the project "
                             "files ('mdm check' names file and key) and start again", role)
                stopping, exit_code = True, CONFIG_EXIT
                break
            restarts[role] += 1
            delay = min(2 ** restarts[role], 30)
            logger.warning("%s exited with code %s; restarting in %ds (restart #%d)", role, code,
                           delay, restarts[role])
            time.sleep(delay)
            children[role] = spawn_role(role, extra_args)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    logger.info("hub stopped")
    return exit_code


def run_role_forever(target: Callable[..., None], *args: object,
                     on_exit: Callable[[int], None] | None = None) -> None:
    """Run a role function with a stop event set by SIGTERM/SIGINT; exit hard afterwards
    (the JVM's non-daemon threads would otherwise keep the capture process alive).
    `on_exit(code)` runs just before."""
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    code = 0
    try:
        target(*args, stop)
    except ConfigError as exc:
        logger.error("%s", exc)
        code = CONFIG_EXIT
    except Exception:
        logger.exception("role failed")
        code = 1
    finally:
        if on_exit is not None:
            on_exit(code)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
