"""The demo systems without the hub — embedded PostgreSQL seeded small, the demo ERP's REST API,
OA and WMS (the targets process) — one set per module, for the test_demo_{documents,receipts,
picking,outbound,finance} modules: fixture `demo` and the systems' API clients `erp`, `oa`,
`wms`. A module defining a fixture of the same name uses its own."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mdm.demo.stack import DemoStack
from tests.conftest import SMALL_SEED


@contextmanager
def running_systems(state_dir: Path) -> Iterator[DemoStack]:
    """The demo's databases (seeded with SMALL_SEED) and its systems' APIs; stopped and
    removed afterwards."""
    s = DemoStack(state_dir)
    try:
        s.start_databases(**SMALL_SEED)
        s.start_targets()
        yield s
    finally:
        s.stop()
        s.pg.remove()


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with running_systems(tmp_path_factory.mktemp(name)) as s:
        yield s


@pytest.fixture(scope="module")
def erp(demo: DemoStack) -> Iterator[httpx.Client]:
    """The demo ERP's REST API."""
    with httpx.Client(base_url=demo.erp_api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def oa(demo: DemoStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.oa_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def wms(demo: DemoStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.wms_url, timeout=30) as client:
        yield client
