"""Shared fixtures: a whole demo stack (embedded PostgreSQL, demo OA/WMS, the hub with real
Debezium) per test module, and helpers to read ERP, golden and target state."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from mdm.demo.stack import DemoStack

SMALL_SEED = {"suppliers": 25, "materials": 60, "employees": 25, "customers": 20}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    from mdm.demo.sync import wait_idle

    s = DemoStack(tmp_path_factory.mktemp("stack"))
    try:
        s.start_databases(**SMALL_SEED)
        s.start_targets()
        s.start_hub()
        wait_idle(s.erp_url, s.hub_url, timeout=180)
        yield s
    finally:
        s.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they fail fast and cheaply.
    items.sort(key=lambda item: 0 if "/unit/" in str(item.fspath) else 1)
