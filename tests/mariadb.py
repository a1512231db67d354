"""The MariaDB server the MySQL-family capture is tested against: the machine's own binary
(mariadbd), run as an instance of the tests' own (mdm/demo/mariadb.py: its own data folder,
config file with the binlog in ROW format and FULL row images, port and socket), never the
system service. Started by the test's set-up, stopped after the module; a machine without the
binary fails the test with what to install (never skipped)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mdm.demo.mariadb import MariaDbServer, server_binary
from mdm.errors import RuntimeSetupError

__all__ = ["MariaDbServer", "running_mariadb"]


@contextmanager
def running_mariadb(folder: Path, server_id: int = 1) -> Iterator[MariaDbServer]:
    """A MariaDB server of the tests' own in `folder`, stopped and removed afterwards."""
    try:
        server_binary()
    except RuntimeSetupError as exc:
        pytest.fail(str(exc))
    server = MariaDbServer(folder, server_id=server_id)
    try:
        server.start()
        yield server
    finally:
        server.remove()
