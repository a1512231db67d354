"""A MariaDB (or MySQL) server of the hub's own, for the tests and `mdm bench --sources`: the
machine's `mariadbd` binary run as a separate instance — its own data folder
(mariadb-install-db), its own config file (binlog on, ROW format, FULL row images, a server_id),
its own port on 127.0.0.1 and socket — never the system service on 3306.

    server = MariaDbServer(folder)
    server.start()                        # initialises the folder on first use
    server.create_database("erp")
    url = server.url("erp")               # mysql://mdm_capture:…@127.0.0.1:PORT/erp (cdc url)
    text = source_file("mes", "MES_URL")  # a cdc/mes.yaml reading $MES_URL
    with server.connect("erp") as conn:   # PyMySQL, as root over the socket, autocommit
        conn.cursor().execute("CREATE TABLE …")
    server.stop()

The capture user has what Debezium's MySQL connector needs (README 'Capturing MySQL or
MariaDB'): SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR (REPLICATION CLIENT on MySQL).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdm.errors import RuntimeSetupError
from mdm.runtime.postgres import free_port
from mdm.runtime.supervisor import _die_with_parent

CAPTURE_USER = "mdm_capture"
CAPTURE_PASSWORD = "mdm-capture-pw"
CAPTURE_GRANTS = "SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR"
CONFIG = """[mariadbd]
datadir = {datadir}
socket = {socket}
pid-file = {folder}/mariadbd.pid
log-error = {folder}/error.log
port = {port}
bind-address = 127.0.0.1
skip-name-resolve
server-id = {server_id}
log-bin = {folder}/binlog
binlog-format = ROW
binlog-row-image = FULL
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb-buffer-pool-size = 64M
innodb-log-file-size = 32M
innodb-flush-log-at-trx-commit = 1
sync-binlog = 1
max-connections = 100
"""


def source_file(name: str, url_variable: str, server_id: int = 5401,
                connector: str = "mariadb") -> str:
    """A cdc/<name>.yaml capturing a MariaDB (or MySQL) server whose URL (`url(database)`) is
    in the environment variable `url_variable`; its tables are named database.table."""
    return (f"name: {name}\nconnector: {connector}\nurl: ${{{url_variable}}}\n"
            f"mysql: {{server_id: {server_id}}}\n")


def server_binary() -> str:
    """The machine's MariaDB server binary (mariadbd, else mysqld); a RuntimeSetupError
    saying what to install otherwise."""
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                       else None)
        if found:
            return found
    raise RuntimeSetupError("no MariaDB server binary (mariadbd or mysqld) on this machine: "
                            "install it (Debian: apt-get install mariadb-server); a MariaDB "
                            "source needs a real server")


def _install_db_binary() -> str:
    for name in ("mariadb-install-db", "mysql_install_db"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeSetupError("mariadb-install-db is missing (Debian: apt-get install "
                            "mariadb-server): it initialises the server's data folder")


@dataclass
class MariaDbServer:
    """One server instance in `folder` (created on first start, kept across restarts)."""

    folder: Path
    port: int = 0
    server_id: int = 1
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    @property
    def socket(self) -> Path:
        return self.folder / "mariadbd.sock"

    @property
    def config_file(self) -> Path:
        return self.folder / "my.cnf"

    def url(self, database: str, user: str = CAPTURE_USER,
            password: str = CAPTURE_PASSWORD) -> str:
        """A cdc/*.yaml url for `database` (the capture user's unless told)."""
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 120) -> None:
        """Start the server (initialising its folder on first use) and wait until it answers;
        the capture user exists afterwards."""
        server = server_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.config_file.write_text(CONFIG.format(
            datadir=self.datadir, socket=self.socket, folder=self.folder, port=self.port,
            server_id=self.server_id), encoding="utf-8")
        if not (self.datadir / "mysql").is_dir():
            self._install_db()
        log = open(self.folder / "mariadbd.out", "ab")  # noqa: SIM115 — owned by the child
        self.process = subprocess.Popen(
            [server, f"--defaults-file={self.config_file}", *self._user_args()],
            stdout=log, stderr=log, preexec_fn=_die_with_parent)  # noqa: PLW1509
        log.close()
        self._wait_ready(timeout)
        self._create_capture_user()

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install_db(self) -> None:
        done = subprocess.run(
            [_install_db_binary(), f"--defaults-file={self.config_file}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._user_args()],
            capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeSetupError(f"mariadb-install-db failed in {self.datadir} (exit "
                                    f"{done.returncode}): {(done.stderr or done.stdout)[-2000:]}")

    def _wait_ready(self, timeout: float) -> None:
        import pymysql

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeSetupError(f"mariadbd ended with exit code {self.process.returncode}"
                                        f" (see {self.folder / 'error.log'}):\n{self._log_tail()}")
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeSetupError(f"mariadbd on port {self.port} did not answer within "
                                f"{timeout:.0f}s ({last}):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.folder / "error.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no error.log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def connect(self, database: str | None = None) -> Any:
        """A PyMySQL connection as root over the socket (autocommit, utf8mb4)."""
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user="root", database=database,
                               charset="utf8mb4", autocommit=True, connect_timeout=10)

    def execute(self, *statements: str, database: str | None = None) -> None:
        conn = self.connect(database)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def _create_capture_user(self) -> None:
        self.execute(
            f"CREATE USER IF NOT EXISTS '{CAPTURE_USER}'@'%' IDENTIFIED BY '{CAPTURE_PASSWORD}'",
            f"GRANT {CAPTURE_GRANTS} ON *.* TO '{CAPTURE_USER}'@'%'")

    def create_database(self, name: str) -> None:
        """The database (utf8mb4), unless it exists."""
        self.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                     "COLLATE utf8mb4_general_ci")

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (SIGTERM: a clean shutdown), killing it after `timeout`."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
