"""A hub on a project of its own (tests of real-schema features: row filters, float columns):
embedded PostgreSQL, test tables created before capture starts, the hub with real Debezium, no
demo targets. Used by test_row_filters.py and test_float_type.py."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from tests.helpers import execute

ERP_SOURCE = """name: erp
url: ${MDM_ERP_URL}
slot: mdm_erp
publication: mdm_erp
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    """A project folder holding `files` (relative path → text) and cdc/erp.yaml."""
    for name, text in {"cdc/erp.yaml": ERP_SOURCE, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@contextmanager
def schema_stack(state_dir: Path, project_dir: Path, erp_sql: list[str],
                 other_sql: dict[str, list[str]] | None = None,
                 roles: str = "capture,process,propagate") -> Iterator[DemoStack]:
    """The hub (capture, process, propagate; `roles` to add the API) on `project_dir`, after
    `erp_sql` ran in an empty ERP database (and `other_sql` in the oa/wms databases); its
    initial snapshot is in."""
    stack = DemoStack(state_dir, project_dir=project_dir)
    try:
        stack.start_databases(seed=False)
        execute(stack.erp_url, *erp_sql)
        for database, statements in (other_sql or {}).items():
            execute(stack.pg.url(database), *statements)
        stack.start_hub(roles=roles)
        wait_idle(stack.erp_url, stack.hub_url, timeout=180)
        yield stack
    finally:
        stack.stop()
        stack.pg.remove()
