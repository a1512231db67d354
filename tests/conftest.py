"""Shared fixtures: a whole demo stack (embedded PostgreSQL, demo OA/WMS, the hub with real
Debezium) per test module, and helpers to read ERP, golden and target state."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they fail fast and cheaply; the browser tests last.
    items.sort(key=lambda item: 0 if "/unit/" in str(item.fspath) else 2 if "/e2e/" in str(item.fspath) else 1)
