"""Records without a business key yet, on the real stack: a purchase request saved without a
number is a record from its first row (a draft, keyed by its source row), reaches no target,
and gets its number later without becoming a second record — the first version with a key is
no rename and no key clash; later changes of the number are renames as always. A lookup by
business key never answers with a draft; the CLI names a draft so a person can read it. Real
PostgreSQL, real Debezium, an SQL target, the hub's API."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from mdm.store.database import sqlalchemy_url
from mdm.store.repositories.records import find_record
from tests.helpers import execute, rows
from tests.hub_cli import run_mdm
from tests.integration.schema_stack import schema_stack, write_project

FILES = {
    "golden_records/purchase_request.yaml": """entity: purchase_request
table: public.t_purchase_request
business_key: number
attributes:
  number: {type: string}
  title: {type: string}
  amount: {type: decimal}
""",
    "targets/wh.yaml": """name: wh
kind: sql
url: ${MDM_WMS_DB_URL}
entities:
  purchase_request:
    table: pr_copy
    key: pr_number
    active_field: active
    fields: {pr_number: number, title: title, amount: amount}
""",
    "rules/purchase_request.yaml": """entity: purchase_request
expectations:
  - expectation_type: expect_column_values_to_be_unique
    kwargs: {column: number}
  - name: amount_positive
    expectation_type: expect_column_values_to_be_between
    kwargs: {column: amount, min_value: 0}
    severity: warning
""",
}
ERP = [
    "CREATE TABLE t_purchase_request (id integer PRIMARY KEY, number varchar(20), title text, "
    "amount numeric(12,2))",
    "INSERT INTO t_purchase_request VALUES (1, 'PR-0001', '打印纸', 100.00)",
]
WMS = ["CREATE TABLE pr_copy (id serial PRIMARY KEY, pr_number varchar(20) NOT NULL UNIQUE, "
       "title text, amount numeric(12,2), active boolean NOT NULL DEFAULT true)"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"), FILES)
    with schema_stack(tmp_path_factory.mktemp("stack"), project, ERP, {"wms": WMS},
                      roles="capture,process,propagate,api") as s:
        yield s


def _settle(stack: DemoStack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)


def _by_row(stack: DemoStack, row_id: int) -> dict[str, Any]:
    found = rows(stack.hub_url, "SELECT * FROM golden_record WHERE entity = 'purchase_request' "
                 "AND source_key = %s", (str(row_id),))
    assert len(found) == 1, f"ERP row {row_id}: {len(found)} golden records"
    return found[0]


def _versions(stack: DemoStack, golden_id: int) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT version, business_key, attributes FROM golden_version "
                "WHERE golden_id = %s ORDER BY version", (golden_id,))


def _deliveries(stack: DemoStack, golden_id: int) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT version, business_key, operation, status FROM delivery "
                "WHERE golden_id = %s ORDER BY id", (golden_id,))


def _copies(stack: DemoStack) -> dict[str, dict[str, Any]]:
    return {r["pr_number"]: r for r in rows(stack.pg.url("wms"), "SELECT * FROM pr_copy")}


def _tasks(stack: DemoStack, kind: str, *golden_ids: int) -> list[dict[str, Any]]:
    found = rows(stack.hub_url, "SELECT golden_id, business_key, version, status FROM task "
                 "WHERE type = %s AND entity = 'purchase_request' ORDER BY id", (kind,))
    return [t for t in found if not golden_ids or t["golden_id"] in golden_ids]


def _lookup(stack: DemoStack, key: str) -> dict[str, Any] | None:
    engine = create_engine(sqlalchemy_url(stack.hub_url))
    try:
        with engine.connect() as conn:
            return find_record(conn, "purchase_request", key)
    finally:
        engine.dispose()


def test_rows_without_a_number_are_draft_records_that_reach_no_target(stack):
    execute(stack.erp_url, "INSERT INTO t_purchase_request VALUES (2, NULL, '办公椅', 800.00), "
            "(3, '', '显示器', 1200.00)")  # two drafts in one transaction
    _settle(stack)
    for row_id in (2, 3):
        draft = _by_row(stack, row_id)
        assert (draft["business_key"], draft["status"], draft["version"]) == (None, "active", 1)
        assert _versions(stack, draft["id"])[0]["business_key"] is None
        assert rows(stack.hub_url, "SELECT system, key FROM xref WHERE golden_id = %s",
                    (draft["id"],)) == [{"system": "erp", "key": str(row_id)}]
        assert _deliveries(stack, draft["id"]) == []
    assert _tasks(stack, "key_clash") == []  # two records without a key share none
    assert _tasks(stack, "rule_violation") == []  # nor do they break the unique rule
    assert set(_copies(stack)) == {"PR-0001"}
    assert rows(stack.hub_url, "SELECT id FROM inbox WHERE status = 'failed'") == []


def test_a_lookup_by_business_key_never_answers_with_a_draft(stack):
    assert _lookup(stack, "None") is None
    assert _lookup(stack, "") is None
    assert _lookup(stack, "PR-0001")["golden_id"] == _by_row(stack, 1)["id"]


def test_numbering_a_draft_keeps_its_record_and_is_no_rename(stack):
    draft = _by_row(stack, 2)
    execute(stack.erp_url, "UPDATE t_purchase_request SET number = 'PR-0002' WHERE id = 2")
    _settle(stack)
    numbered = _by_row(stack, 2)
    assert (numbered["id"], numbered["business_key"], numbered["version"]) == (
        draft["id"], "PR-0002", 2)
    assert [v["business_key"] for v in _versions(stack, draft["id"])] == [None, "PR-0002"]
    assert rows(stack.hub_url, "SELECT system, key FROM xref WHERE golden_id = %s "
                "AND system = 'erp'", (draft["id"],)) == [{"system": "erp", "key": "2"}]
    assert _tasks(stack, "key_clash") == []
    assert _deliveries(stack, draft["id"]) == [
        {"version": 2, "business_key": "PR-0002", "operation": "upsert", "status": "acked"}]
    copies = _copies(stack)
    assert set(copies) == {"PR-0001", "PR-0002"}
    assert copies["PR-0002"]["title"] == "办公椅"
    assert _lookup(stack, "PR-0002")["golden_id"] == draft["id"]


def test_a_later_change_of_the_number_is_a_rename(stack):
    before = _copies(stack)["PR-0002"]
    execute(stack.erp_url, "UPDATE t_purchase_request SET number = 'PR-0002A' WHERE id = 2")
    _settle(stack)
    record = _by_row(stack, 2)
    assert (record["business_key"], record["version"]) == ("PR-0002A", 3)
    copies = _copies(stack)
    assert set(copies) == {"PR-0001", "PR-0002A"}
    assert copies["PR-0002A"]["id"] == before["id"]  # renamed in place, not a second row
    assert _lookup(stack, "PR-0002") is None


def test_a_number_another_record_holds_is_a_key_clash(stack):
    execute(stack.erp_url, "UPDATE t_purchase_request SET number = 'PR-0001' WHERE id = 3")
    _settle(stack)
    record = _by_row(stack, 3)
    assert (record["business_key"], record["version"]) == ("PR-0001", 2)
    assert [(t["golden_id"], t["business_key"], t["status"])
            for t in _tasks(stack, "key_clash")] == [(record["id"], "PR-0001", "open")]
    assert _deliveries(stack, record["id"]) == []  # held back, as any clashing key
    assert _lookup(stack, "PR-0001")["golden_id"] == _by_row(stack, 1)["id"]


def test_a_drafts_rule_task_is_its_own_refreshed_and_closed_when_it_passes(stack):
    execute(stack.erp_url, "INSERT INTO t_purchase_request VALUES (4, NULL, '退货', -5.00), "
            "(5, NULL, '冲销', -6.00)")
    _settle(stack)
    four, five = _by_row(stack, 4), _by_row(stack, 5)
    assert sorted((t["golden_id"], t["business_key"], t["status"])
                  for t in _tasks(stack, "rule_violation", four["id"], five["id"])) == [
        (four["id"], None, "open"), (five["id"], None, "open")]

    execute(stack.erp_url, "UPDATE t_purchase_request SET title = '退货·改' WHERE id = 4")
    _settle(stack)
    open_tasks = [t for t in _tasks(stack, "rule_violation", four["id"], five["id"])
                  if t["status"] == "open"]
    assert sorted((t["golden_id"], t["version"]) for t in open_tasks) == [
        (four["id"], 2), (five["id"], 1)]  # refreshed, not a second task

    execute(stack.erp_url, "UPDATE t_purchase_request SET amount = 5.00 WHERE id = 4")
    _settle(stack)
    assert {t["golden_id"]: t["status"]
            for t in _tasks(stack, "rule_violation", four["id"], five["id"])} == {
        four["id"]: "resolved", five["id"]: "open"}


def test_a_record_whose_number_is_cleared_keeps_its_last_copy_at_the_target(stack):
    execute(stack.erp_url, "UPDATE t_purchase_request SET number = NULL, title = '办公椅·撤' "
            "WHERE id = 2")
    _settle(stack)
    record = _by_row(stack, 2)
    assert (record["business_key"], record["version"]) == (None, 4)
    assert [d["version"] for d in _deliveries(stack, record["id"])] == [2, 3]  # no delivery of v4
    assert _copies(stack)["PR-0002A"]["title"] == "办公椅"
    assert _lookup(stack, "PR-0002A") is None


def test_the_cli_names_a_draft_and_finds_it_by_golden_id(stack):
    execute(stack.erp_url, "INSERT INTO t_purchase_request VALUES (9, NULL, '文件柜', 300.00)")
    _settle(stack)
    draft = _by_row(stack, 9)
    gid = str(draft["id"])
    name = f"purchase_request (draft, no number yet) golden id {gid}"
    listed = run_mdm(stack, "records", "purchase_request")
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"\(draft, no number yet\)\s*│\s*{gid}\s*│", listed.stdout), listed.stdout
    shown = run_mdm(stack, "records", "purchase_request", gid, "--golden-id")
    assert shown.returncode == 0, shown.stderr
    assert f"purchase_request (draft, no number yet)  golden id {gid}" in shown.stdout
    history = run_mdm(stack, "history", "purchase_request", gid, "--golden-id")
    assert history.returncode == 0 and f"{name} — 1 version(s)" in history.stdout, history.stderr
    lineage = run_mdm(stack, "lineage", "purchase_request", gid, "--golden-id")
    assert lineage.returncode == 0, lineage.stderr
    assert (f"{name} (newest 10 versions; the picture: /records/purchase_request/{gid}/lineage"
            "?by=golden_id)") in lineage.stdout
    field = run_mdm(stack, "lineage", "purchase_request", gid, "--golden-id", "--field", "title")
    assert field.returncode == 0 and f"{name}: title" in field.stdout, field.stderr
    tx = rows(stack.hub_url, "SELECT cause_tx_id FROM golden_version WHERE golden_id = %s",
              (draft["id"],))[0]["cause_tx_id"]
    changed = run_mdm(stack, "audit", "tx", "erp", str(tx))
    assert changed.returncode == 0 and name in changed.stdout, changed.stderr
    for out in (listed, shown, history, lineage, field, changed):
        assert "None" not in out.stdout, out.stdout
    by_key = run_mdm(stack, "records", "purchase_request", gid)  # a golden id is no business key
    assert by_key.returncode == 1 and f"no purchase_request with business key '{gid}'" in by_key.stderr


def test_a_drafts_lineage_page_and_decisions_name_it_by_golden_id(stack):
    since = rows(stack.hub_url, "SELECT clock_timestamp() AS t")[0]["t"]
    execute(stack.erp_url, "INSERT INTO t_purchase_request VALUES (10, NULL, '碎纸机', -1.00), "
            "(11, NULL, '白板', -2.00)")
    _settle(stack)
    waived, superseded = _by_row(stack, 10), _by_row(stack, 11)
    [task] = [t for t in rows(stack.hub_url, "SELECT id, golden_id FROM task WHERE type = "
                              "'rule_violation' AND status = 'open'") if t["golden_id"] == waived["id"]]
    done = run_mdm(stack, "tasks", "resolve", str(task["id"]), "waive", "--reason", "a credit",
                   role="steward")
    assert done.returncode == 0, done.stderr
    execute(stack.erp_url, "UPDATE t_purchase_request SET amount = 2.00 WHERE id = 11")
    _settle(stack)  # the passing version supersedes the draft's task (a system decision)

    decided = {d["action"]: d for d in stack.client("auditor.kim", "auditor").get(
        "/api/v1/decisions", params={"since": since.isoformat(),
                                     "until": "2999-01-01T00:00:00+00:00"}).json()}
    assert {a: (d["business_key"], d["golden_id"]) for a, d in decided.items()} == {
        "waive": (None, waived["id"]), "superseded": (None, superseded["id"])}
    logged = rows(stack.hub_url, "SELECT action, golden_id FROM audit_log WHERE decision_id "
                  "= ANY(%s)", ([d["id"] for d in decided.values()],))
    assert {r["action"]: r["golden_id"] for r in logged} == {"waive": waived["id"],
                                                             "superseded": superseded["id"]}
    listed = run_mdm(stack, "audit", "decisions", "--since", since.isoformat())
    assert listed.returncode == 0, listed.stderr
    for record in (waived, superseded):
        assert f"purchase_request (draft, no number yet) golden id {record['id']}" in listed.stdout
    assert "None" not in listed.stdout, listed.stdout

    page = stack.client("auditor.kim", "auditor").get(
        f"/records/purchase_request/{waived['id']}/lineage", params={"by": "golden_id"})
    assert page.status_code == 200, page.text
    title = f"purchase_request (draft, golden id {waived['id']}) — lineage"
    assert f"<title>{title}</title>" in page.text and f"<h1>{title}</h1>" in page.text
    assert "None" not in page.text
