"""Whether the secrets file ($MDM_SECRETS_FILE, NAME=value lines read by loader.expand_env) is
kept private: on a shared machine, a file that group or others may read hands every password
in it to every local user. Checked at the start of each hub role and by `mdm check`/`status`."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)


def secrets_file_problem(env: dict[str, str] | None = None) -> str | None:
    """What is wrong with the secrets file's permissions, in one sentence with the fix; None
    when it is private (or no secrets file is configured, or it is on a system without
    POSIX modes)."""
    name = (os.environ if env is None else env).get("MDM_SECRETS_FILE")
    if not name or os.name != "posix":
        return None
    path = Path(name).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing: loading the project says so, with the reason
    loose = stat.S_IMODE(mode) & (stat.S_IRWXG | stat.S_IRWXO)
    if not loose:
        return None
    who = " and ".join(w for w, bits in (("its group", stat.S_IRWXG), ("other users", stat.S_IRWXO))
                       if loose & bits)
    return (f"secrets file {path} is open to {who} (mode {stat.S_IMODE(mode):04o}): anyone who "
            f"can read it has every password in it; run 'chmod 600 {path}'")


def warn_if_secrets_file_open() -> str | None:
    """Log the problem (WARNING) if there is one; return it for a command to print too."""
    problem = secrets_file_problem()
    if problem:
        logger.warning("insecure secrets file: %s", problem)
    return problem
