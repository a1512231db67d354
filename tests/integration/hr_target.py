"""The stack of test_references.py and test_references_lists.py: a hub on a project of their own
with one SQL target, hr (in the oa database), that logs what it received, in order
(`received`), and refuses one table's rows while `refusing` has a row; so a test sees that
referenced records arrive before the records naming them, and wait while they are refused."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from tests.helpers import rows
from tests.integration.schema_stack import schema_stack, write_project

HR = """name: hr
kind: sql
url: ${MDM_OA_DB_URL}
max_attempts: 100
backoff: {initial_ms: 100, max_ms: 500, multiplier: 2.0}
"""


def received_log_sql(refused: str, refusal: str, key_columns: Sequence[str],
                     logged: Sequence[str]) -> list[str]:
    """The `received` and `refusing` tables and the triggers logging each row written to the
    `logged` tables (create those first) under the first of `key_columns` it has; rows of
    `refused` fail with `refusal` (a lock_not_available the hub retries) while `refusing` has
    a row."""
    keys = ", ".join(f"to_jsonb(NEW) ->> '{column}'" for column in key_columns)
    return [
        "CREATE TABLE received (seq serial PRIMARY KEY, tbl text NOT NULL, key text NOT NULL)",
        "CREATE TABLE refusing (what text PRIMARY KEY)",
        f"""CREATE FUNCTION log_received() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = '{refused}' AND EXISTS (SELECT 1 FROM refusing) THEN
            -- lock_not_available: a refusal the hub retries (an OperationalError)
            RAISE EXCEPTION '{refusal}' USING ERRCODE = '55P03';
        END IF;
        INSERT INTO received (tbl, key) VALUES (TG_TABLE_NAME, coalesce({keys}));
        RETURN NEW;
    END $$""",
        *(f"CREATE TRIGGER {table}_received BEFORE INSERT OR UPDATE ON {table} "
          "FOR EACH ROW EXECUTE FUNCTION log_received()" for table in logged),
    ]


@contextmanager
def hr_stack(tmp_path_factory: pytest.TempPathFactory, files: dict[str, str],
             erp_sql: list[str], hr_sql: list[str]) -> Iterator[DemoStack]:
    """The hub on a project of `files` (relative path → text) and targets/hr.yaml, after
    `erp_sql` ran in the ERP database and `hr_sql` in hr's; its initial snapshot is in."""
    project = write_project(tmp_path_factory.mktemp("project"), {"targets/hr.yaml": HR, **files})
    with schema_stack(tmp_path_factory.mktemp("stack"), project, erp_sql, {"oa": hr_sql}) as s:
        yield s


def hr_rows(stack: DemoStack, sql: str) -> list[dict[str, Any]]:
    """What `sql` reads in hr's database."""
    return rows(stack.pg.url("oa"), sql)


def current_record(stack: DemoStack, entity: str, key: str) -> dict[str, Any]:
    """The golden record of `entity` with source key `key`, with its current version's quality."""
    [record] = rows(stack.hub_url, "SELECT g.*, v.quality FROM golden_record g JOIN golden_version"
                    " v ON v.golden_id = g.id AND v.version = g.version WHERE g.entity = %s "
                    "AND g.source_key = %s", (entity, key))
    return record
