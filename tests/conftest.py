"""Shared fixtures: a whole demo stack (embedded PostgreSQL, demo OA/WMS, the hub with real
Debezium) per test module — or one for the whole session, shared by the modules marked
`pytestmark = pytest.mark.shared_stack` — and helpers to read ERP, golden and target state.

A shared module must live with what others left behind (records, tasks, dead deliveries, users):
it works on keys and user names of its own and asserts about its own records; it never stops,
kills or restarts a hub process, changes the hub's environment or project, posts change events
with made-up LSNs (the hub's capture position would pass the ERP's, and wait_idle return early)
or needs a pristine store. Those keep the default: a stack of their own, started for the module
and stopped after it."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests import typecheck

SMALL_SEED = {"suppliers": 25, "materials": 60, "employees": 25, "customers": 20}


@contextmanager
def running_stack(state_dir: Path, project_dir: Path = REPO_ROOT,
                  extra_env: dict[str, str] | None = None) -> Iterator[DemoStack]:
    """A demo stack whose initial snapshot has reached OA and WMS; stopped afterwards."""
    s = DemoStack(state_dir, project_dir=project_dir, extra_env=extra_env or {})
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Unit tests first: they fail fast and cheaply; the browser tests last. Under xdist the
    # workers collect the same way and `--dist loadgroup` hands out whole groups in this order.
    items.sort(key=_kind)
    if hasattr(config, "workerinput"):
        for item in items:
            group = xdist_group_of(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))


def xdist_group_of(item: pytest.Item) -> str | None:
    """The xdist group a test runs in (`--dist loadgroup`): a module's tests stay on one worker
    (its module-scoped stack starts once), and modules that use one fixed machine-wide
    resource share a group named after it, so they run one after the other on one worker.
    A module or test with an explicit `xdist_group` mark keeps it (None: xdist reads it)."""
    if item.get_closest_marker("xdist_group") is not None:
        return None
    resource = item.get_closest_marker("exclusive")
    if resource is not None:
        if len(resource.args) != 1 or not isinstance(resource.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: pytest.mark.exclusive takes one name: "
                                    "the fixed resource the module uses (e.g. 'mariadb')")
        return f"exclusive-{resource.args[0]}"
    return item.nodeid.split("::", 1)[0]


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
