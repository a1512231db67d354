"""The demo stack: embedded PostgreSQL with the demo ERP, OA and WMS databases, the demo OA/WMS
REST servers with the ERP's REST API (one process), and the hub, as child processes. Used by
`mdm demo`, `mdm bench` and the tests.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from mdm.errors import RuntimeSetupError
from mdm.runtime.postgres import EmbeddedPostgres, free_port
from mdm.runtime.supervisor import _die_with_parent

logger = logging.getLogger(__name__)
# The demo's project as the package ships it (mdm/project/, as `mdm init` copies it): links to
# the checkout's top-level cdc/, golden_records/ … in a source tree, copies in a wheel, so the
# demo and the benchmark run from an installed wheel as from the checkout.
DEMO_PROJECT = Path(__file__).resolve().parents[1] / "project"
DATABASES = ("erp", "oa", "wms", "mdm_hub")
DEMO_USERS = (("steward.li", "steward"), ("auditor.chen", "auditor"), ("admin", "admin"),
              ("svc.ingest", "service"))
PRINTED_TOKEN = "mdm demo (printed)"  # the admin token `mdm demo` prints; revoked on its next start


@dataclass
class DemoStack:
    """Everything `mdm demo` runs. `state_dir` holds PostgreSQL's data and the engines' logs;
    capture offsets live in the hub database."""

    state_dir: Path
    project_dir: Path = DEMO_PROJECT
    api_port: int = 0
    oa_port: int = 0
    wms_port: int = 0
    erp_api_port: int = 0
    pg: EmbeddedPostgres = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # wins over the defaults below
    # flow 7's broker (RabbitMQ): set, the hub's erp_mq target and the ERP's stock consumer
    # use it (MDM_ERP_MQ_URL); unset, the demo runs without one
    erp_mq_url: str | None = None
    # "saas": the OA's purchase requests are polled from its API and its approvals call the
    # hub back (mdm/demo/saas.py; the project must be project_with_saas_oa's); "database":
    # its database is captured
    oa_mode: str = "database"
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _log_offsets: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.pg = EmbeddedPostgres(self.state_dir)

    # -- addresses ----------------------------------------------------------------------------
    @property
    def erp_url(self) -> str:
        return self.pg.url("erp")

    @property
    def hub_url(self) -> str:
        return self.pg.url("mdm_hub")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def oa_url(self) -> str:
        return f"http://127.0.0.1:{self.oa_port}"

    @property
    def wms_url(self) -> str:
        return f"http://127.0.0.1:{self.wms_port}"

    @property
    def erp_api_url(self) -> str:
        """The ERP's REST API (demo/erp_api.py): where flows create ERP documents."""
        return f"http://127.0.0.1:{self.erp_api_port}"

    def env(self) -> dict[str, str]:
        return {**dict(os.environ, MDM_ERP_URL=self.erp_url, MDM_DATABASE_URL=self.hub_url,
                    MDM_OA_URL=self.oa_url, MDM_WMS_URL=self.wms_url,
                    MDM_ERP_API_URL=self.erp_api_url,
                    MDM_OA_DB_URL=self.pg.url("oa"), MDM_WMS_DB_URL=self.pg.url("wms"),
                    MDM_PROJECT_DIR=str(self.project_dir), MDM_STATE_DIR=str(self.state_dir / "hub"),
                    MDM_API_PORT=str(self.api_port), PYTHONUNBUFFERED="1",
                    MDM_AUDIT_KEY_FILE=str(self.audit_key_file),
                    MDM_AUDIT_HEAD_FILE=str(self.audit_head_file)),
                **({"MDM_ERP_MQ_URL": self.erp_mq_url} if self.erp_mq_url else {}),
                **(self._saas_env() if self.oa_mode == "saas" else {}),
                **self.extra_env}

    def _saas_env(self) -> dict[str, str]:
        from mdm.demo.saas import saas_env

        return saas_env(self.api_url)

    @property
    def audit_key_file(self) -> Path:
        """The demo's audit key: the hub generates it on first start (mode 0600)."""
        return self.state_dir / "hub" / "audit.key"

    @property
    def audit_head_file(self) -> Path:
        return self.state_dir / "hub" / "audit-head"

    # -- lifecycle ----------------------------------------------------------------------------
    def start_databases(self, fresh: bool = False, seed: bool = True, **seed_counts: int) -> dict[str, int]:
        """Start PostgreSQL; create and seed the demo databases (once; reused across runs)."""
        from mdm.demo.seed import seed_erp
        from mdm.demo.targets import prepare_target_database

        if fresh:
            self.pg.destroy()
            hub_state = self.state_dir / "hub"
            if hub_state.exists():
                import shutil

                shutil.rmtree(hub_state)
        self.pg.start()
        for name in DATABASES:
            self.pg.create_database(name)
        counts: dict[str, int] = {}
        if seed:
            with psycopg.connect(self.erp_url) as conn:
                counts = seed_erp(conn, **seed_counts)
                conn.commit()
        prepare_target_database(self.pg.url("oa"), "oa")
        prepare_target_database(self.pg.url("wms"), "wms")
        from mdm.demo.stock import prepare_stock_tables, seed_wms_stock

        prepare_stock_tables(self.pg.url("wms"), self.erp_url)
        from mdm.demo.outbound import prepare_outbound_tables, seed_outbound

        prepare_outbound_tables(self.erp_url, self.pg.url("wms"))
        if seed:
            seed_wms_stock(self.pg.url("wms"), self.erp_url)  # the WMS's own stock levels
            seed_outbound(self.erp_url, self.pg.url("wms"))   # flows 3 and 4: BOM, batches …
        return counts

    def start_targets(self, niceness: int = 0) -> None:
        """Start the demo OA and WMS servers and the ERP's REST API. `niceness` > 0 lowers
        their CPU priority (the bench uses it to stand for targets that run on machines of
        their own)."""

        if self.oa_mode == "saas":  # the OA calls the hub back: its address is fixed now
            self.api_port = self.api_port or free_port()

        def spawn() -> list[str]:
            self.oa_port = self.oa_port or free_port()
            self.wms_port = self.wms_port or free_port()
            self.erp_api_port = self.erp_api_port or free_port()
            self._spawn("targets", [sys.executable, "-m", "mdm.demo.targets_main", self.pg.url("oa"),
                                    self.pg.url("wms"), str(self.oa_port), str(self.wms_port),
                                    "--erp-db", self.erp_url, "--erp-port", str(self.erp_api_port)],
                        niceness)
            return [self.oa_url, self.wms_url, self.erp_api_url]

        def unchoose() -> None:
            self.oa_port = self.wms_port = self.erp_api_port = 0

        chosen = not (self.oa_port or self.wms_port or self.erp_api_port)
        self._start_on_free_ports("targets", spawn, unchoose, chosen, 30)

    def start_stock_consumer(self, exchange: str = "erp.stock", queue: str = "erp.stock.levels",
                             timeout: float = 60) -> None:
        """Start the demo ERP's stock consumer (flow 7) on `erp_mq_url`'s broker and wait until
        it consumes `queue` (bound to `exchange`, so the hub's stock messages have a home)."""
        import asyncio

        from mdm.demo.erp_stock_consumer import queue_consumers

        if not self.erp_mq_url:
            raise RuntimeSetupError("the ERP's stock consumer needs a broker: set erp_mq_url")
        self._spawn("erp_stock", [sys.executable, "-m", "mdm.demo.erp_stock_consumer",
                                  self.erp_url, "--exchange", exchange, "--queue", queue])
        alive, deadline = self._alive("erp_stock"), time.monotonic() + timeout
        while asyncio.run(queue_consumers(self.erp_mq_url, queue)) < 1:
            alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ERP's stock consumer did not consume {queue} within "
                                   f"{timeout:.0f}s (see {self.state_dir / 'erp_stock.log'})")
            time.sleep(0.2)

    def start_hub(self, roles: str = "capture,process,propagate,api") -> None:
        from mdm.store.database import upgrade_database

        def spawn() -> list[str]:
            self.api_port = self.api_port or free_port()
            self._spawn("hub", [sys.executable, "-m", "mdm.cli.main", "up", "--roles", roles,
                                "--project", str(self.project_dir)])
            return [self.api_url] if "api" in roles else []

        def unchoose() -> None:
            self.api_port = 0

        upgrade_database(self.hub_url)
        # a busy 2-core machine starts four roles slowly
        self._start_on_free_ports("hub", spawn, unchoose, not self.api_port, 180)

    def _start_on_free_ports(self, name: str, spawn: Callable[[], list[str]],
                             unchoose: Callable[[], None], chosen: bool, timeout: float) -> None:
        """Spawn process `name` and wait until each address it serves answers /healthz. A free
        port we chose can be taken before the server binds it (another connection's ephemeral
        port): then choose again, a few times. A port the caller chose is never changed."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            urls = spawn()
            try:
                for url in urls:
                    wait_http(f"{url}/healthz", timeout, self._alive(name))
                return
            except TimeoutError as exc:  # say why from what the process logged since it started
                raise TimeoutError(f"{exc}; the last lines of {name}.log:\n"
                                   f"{self._log_tail(name)}") from exc
            except PortTaken:
                if not chosen or attempt == PORT_ATTEMPTS:
                    raise
                logger.warning("%s: a port chosen for it was taken meanwhile; choosing again", name)
                self.stop_process(name)
                unchoose()

    def ensure_user(self, username: str, role: str, password: str | None = None,
                    display_name: str | None = None) -> None:
        """The user, added with `role` (and `password`) unless they exist already."""
        from mdm.steward.users import add_user

        with psycopg.connect(self.hub_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM app_user WHERE username = %s", (username,)).fetchone():
                add_user(conn, username, role, password, display_name, actor="demo")

    def token(self, username: str = "mdm-test", role: str = "admin") -> str:
        """An API token for `username` (created with `role` on first use)."""
        from mdm.steward.users import issue_token

        self.ensure_user(username, role)
        with psycopg.connect(self.hub_url, autocommit=True) as conn:
            return issue_token(conn, username, "demo", actor="demo")

    def demo_users(self) -> tuple[list[tuple[str, str, str]], str, int]:
        """One demo user per role (created once, passwords reset to the demo's), and a new
        admin API token, the one printed on the previous start revoked: ([(username, role,
        password)], token, how many earlier printed tokens were revoked)."""
        from argon2 import PasswordHasher

        from mdm.steward.users import add_user, issue_token, revoke_tokens_named

        users = [(name, role, f"{name}-demo") for name, role in DEMO_USERS]
        hasher = PasswordHasher()
        with psycopg.connect(self.hub_url, autocommit=True) as conn:
            for name, role, password in users:
                if conn.execute("SELECT 1 FROM app_user WHERE username = %s", (name,)).fetchone():
                    conn.execute("UPDATE app_user SET password_hash = %s, disabled = false "
                                 "WHERE username = %s", (hasher.hash(password), name))
                else:
                    add_user(conn, name, role, password, actor="demo")
            revoked = revoke_tokens_named(conn, "admin", PRINTED_TOKEN, actor="demo")
            token = issue_token(conn, "admin", PRINTED_TOKEN, actor="demo")
        return users, token, revoked

    def client(self, username: str = "mdm-test", role: str = "admin") -> httpx.Client:
        """An HTTP client for the hub's API, signed in as `username`."""
        key = (username, role)
        if key not in self._tokens:
            self._tokens[key] = self.token(username, role)
        return httpx.Client(base_url=self.api_url, timeout=30,
                            headers={"Authorization": f"Bearer {self._tokens[key]}"})

    def _spawn(self, name: str, cmd: list[str], niceness: int = 0) -> None:
        log = open(self.state_dir / f"{name}.log", "ab")  # noqa: SIM115 — owned by the child

        def prepare() -> None:
            _die_with_parent()
            if niceness:
                os.nice(niceness)

        self._log_offsets[name] = log.tell()
        self.processes[name] = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=log,
                                                preexec_fn=prepare)  # noqa: PLW1509

    def _log_tail(self, name: str, lines: int = 40) -> str:
        """The last `lines` of what process `name` logged since it was last started."""
        try:
            with (self.state_dir / f"{name}.log").open("rb") as f:
                f.seek(self._log_offsets.get(name, 0))
                text = f.read()[-65536:].decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.strip().splitlines()[-lines:])

    def _alive(self, name: str) -> Callable[[], None]:
        """A check for wait_http: raises once process `name` has ended, or logged that its port
        was taken (the hub's supervisor would restart its API on the same port for ever),
        saying why from its log since it was started."""
        log = self.state_dir / f"{name}.log"
        read_from = [self._log_offsets.get(name, 0)]
        recent = [""]  # the last few KiB read: enough for the message and for a split phrase

        def check() -> None:
            with log.open("rb") as f:
                f.seek(read_from[0])
                chunk = f.read()
            read_from[0] += len(chunk)
            text = recent[0] = (recent[0] + chunk.decode("utf-8", errors="replace"))[-4096:]
            if "address already in use" in text:
                raise PortTaken(f"{name}: its port is in use by another program (see {log})")
            proc = self.processes[name]
            if proc.poll() is not None:
                tail = "\n".join(text.strip().splitlines()[-5:])
                raise RuntimeSetupError(f"{name} ended with exit code {proc.returncode} "
                                        f"(see {log}):\n{tail}")

        return check

    def kill_hub(self) -> None:
        """kill -9 of the hub supervisor; its children die with it (PDEATHSIG)."""
        proc = self.processes.pop("hub", None)
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.5)

    def stop_process(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self, keep_database: bool = False) -> None:
        for name in ("hub", "erp_stock", "targets"):
            self.stop_process(name)
        if not keep_database:
            self.pg.stop()

    def write_state(self) -> Path:
        path = self.state_dir / "demo.json"
        path.write_text(json.dumps({
            "erp_url": self.erp_url, "hub_url": self.hub_url, "api_url": self.api_url,
            "oa_db_url": self.pg.url("oa"), "wms_db_url": self.pg.url("wms"),
            "oa_url": self.oa_url, "wms_url": self.wms_url, "erp_api_url": self.erp_api_url,
            "pid": os.getpid(),
            "audit_key_file": str(self.audit_key_file), "audit_head_file": str(self.audit_head_file),
        }, indent=2))
        return path


PORT_ATTEMPTS = 3


class PortTaken(RuntimeSetupError):
    """A port was taken before our server could bind it: a free one we chose (e.g. taken as
    another connection's ephemeral port meanwhile — we choose again), or one the user asked for."""


def wait_http(url: str, timeout: float, alive: Callable[[], None] | None = None) -> None:
    """Wait until `url` answers; `alive()` raises if the server has ended meanwhile."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        if alive is not None:
            alive()
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")
