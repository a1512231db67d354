"""Shared fixtures: a whole demo stack (embedded PostgreSQL, demo OA/WMS, the hub with real
Debezium) per test module — or one for the whole session, shared by the modules marked
`pytestmark = pytest.mark.shared_stack` — and helpers to read ERP, golden and target state.

A shared module must live with what others left behind (records, tasks, dead deliveries, users):
it works on keys and user names of its own and asserts about its own records; it never stops,
kills or restarts a hub process, changes the hub's environment or project, posts change events
with made-up LSNs (the hub's capture position would pass the ERP's, and wait_idle return early)
or needs a pristine store. Those keep the default: a stack of their own, started for the module
and stopped after it.

`python3 mdmw test` runs the suite in two pytest-xdist workers (`--dist loadfile`, pyproject
addopts): each module runs whole on one worker, so its module-scoped fixtures start once; each
worker has its own session (its own `shared_stack`, its own tmp_path_factory folder). Two
modules may therefore run at the same time, and a module must not collide with any other:
ports are chosen free (never fixed), broker exchanges, queues, streams and subjects and other
machine-wide names carry a per-run suffix (uuid, as test_target_kinds does), files are written
under tmp_path, never under the repository, and os.environ is not changed for the other
modules. A module that must use a fixed machine-wide resource (a MariaDB database, queue or
port of fixed name) says so with `pytestmark = pytest.mark.exclusive("name")`: modules of one
name never run at once (a lock file, `_exclusive_resource`)."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests import typecheck

if "PYTEST_XDIST_WORKER" in os.environ:
    # An xdist worker starts with COLUMNS=80 and LINES in its environment (not the caller's);
    # rich's module-level console in mdm.cli.main would then fix its width at 80 when the test
    # modules import it, and a CLI test's own COLUMNS (CliRunner's env) would be ignored: its
    # tables wrapped (test_reconcile failed only under xdist).
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

SMALL_SEED = {"suppliers": 25, "materials": 60, "employees": 25, "customers": 20}


@contextmanager
def running_stack(state_dir: Path, project_dir: Path = REPO_ROOT,
                  extra_env: dict[str, str] | None = None, oa_mode: str = "database",
                  ) -> Iterator[DemoStack]:
    """A demo stack whose initial snapshot has reached OA and WMS; stopped afterwards."""
    s = DemoStack(state_dir, project_dir=project_dir, extra_env=extra_env or {}, oa_mode=oa_mode)
    try:
        s.start_databases(**SMALL_SEED)
        s.start_targets()
        s.start_hub()
        wait_idle(s.erp_url, s.hub_url, timeout=180)
        yield s
    finally:
        s.stop()
        s.pg.remove()  # relocated data (under /var/lib/mdm when run as root) would pile up


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """One demo stack for every module marked `shared_stack`: started by the first of them,
    stopped at the end of the session."""
    with running_stack(tmp_path_factory.mktemp("shared_stack")) as s:
        yield s


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo stack of this module: the session's shared one if the module is marked
    `shared_stack`, else one of its own."""
    if request.node.get_closest_marker("shared_stack") is not None:
        yield request.getfixturevalue("shared_stack")
        return
    with running_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s


def _kind(item: pytest.Item) -> int:
    path = str(item.fspath)
    return 0 if "/unit/" in path else 2 if "/e2e/" in path else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they fail fast and cheaply; the browser tests last. Under xdist
    # (`mdmw test` runs two workers) every worker collects the same way and `--dist loadfile`
    # (pyproject addopts) hands out whole modules in this order (--no-loadscope-reorder), so a
    # module's tests run on one worker, in order, and its module-scoped stack starts once.
    # Not --dist loadgroup: with pytest 9.2 its xdist_group marks are silently ignored (xdist
    # writes the group into item._nodeid, which pytest no longer reads: pytest-xdist#1386), and
    # the tests of one module were spread over both workers.
    items.sort(key=_kind)


@pytest.fixture(scope="module", autouse=True)
def _exclusive_resource(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module marked `pytest.mark.exclusive("name")` uses a fixed machine-wide resource (a
    database, queue or port of fixed name): it holds the lock /tmp/mdm-test-exclusive-<name>.lock
    for its whole run, so two modules of that name never run at once, whether in two xdist
    workers or in two pytest sessions on the machine."""
    marker = request.node.get_closest_marker("exclusive")
    if marker is None:
        yield
        return
    if len(marker.args) != 1 or not isinstance(marker.args[0], str) or "/" in marker.args[0]:
        raise pytest.UsageError(f"{request.node.nodeid}: pytest.mark.exclusive takes one name, "
                                "the fixed resource the module uses (e.g. 'mariadb')")
    with open(f"/tmp/mdm-test-exclusive-{marker.args[0]}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the wait counts in the first test's timeout
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pytest_collection_finish(session: pytest.Session) -> None:
    # mypy takes about a minute of one core: start it now, beside the other tests, and let
    # test_typing wait for its result (tests/typecheck.py). Under xdist every worker collects
    # every test but only one runs test_typing: that one starts mypy when the test runs.
    if hasattr(session.config, "workerinput"):
        return
    if any(item.nodeid.startswith("tests/unit/test_typing.py") for item in session.items):
        typecheck.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    typecheck.stop()
