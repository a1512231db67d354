"""References inside child lists, and child lists of a composite-key entity, on the real stack
(embedded PostgreSQL, real Debezium, a SQL target): a purchase order's lines name their
material over the line table's foreign key; the target receives each line with the material's
code and its own id of it, only after those materials are acknowledged there; a line naming a
material the hub does not know holds the order with its reason (a task after the wait) until
it arrives (or, a draft, is numbered — also one inserted in the same transaction); a
material's new code re-sends the orders whose lines show it; a receipt's written-back state on
a version held on an unknown material is held with it. A bin keyed by (warehouse, code)
lists its slots, matched over a two-column key."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from tests.helpers import eventually, execute, rows
from tests.integration.hr_target import current_record, hr_rows, hr_stack, received_log_sql

MATERIAL = """entity: material
table: public.material
business_key: code
attributes:
  code: {type: string}   # a material may be a draft: no code yet
  name: {type: string}
targets:
  hr: {table: hr_material, key: code, fields: {code: code, name: name}, retire: delete}
"""
PURCHASE_ORDER = """entity: purchase_order
table: public.po
business_key: number
unknown_reference_task_after: 1s
attributes:
  number: {type: string, required: true}
children:
  lines:
    table: public.po_line
    parent_column: po_id
    order_by: line_no
    attributes:
      line_no: {type: integer}
      material: {references: material, column: material_id}
      qty: {type: decimal}
targets:
  hr:
    table: hr_po
    key: po_no
    retire: delete
    fields: {po_no: number, lines: lines}
    children:
      lines: {fields: {line: line_no, material_code: material.code,
                       material_ref: material.xref, qty: qty}}
"""
# A receipt's state is the target's answer (written back): a version of its own.
RECEIPT = """entity: receipt
table: public.receipt
business_key: number
attributes:
  number: {type: string, required: true}
  material: {references: material, column: material_id}
  hr_state: {type: string, owner: hr}
targets:
  hr: {table: hr_receipt, key: number, retire: delete, write_back: {state: hr_state},
       fields: {number: number, material_code: material.code}}
"""
BIN = """entity: bin
table: public.bin
primary_key: [wh, code]
business_key: label
attributes:
  label: {type: string, required: true}
children:
  slots:
    table: public.bin_slot
    parent_column: [bin_wh, bin_code]
    order_by: slot
    attributes:
      slot: {type: string}
"""
# No foreign keys: a line may name a material the ERP does not have (yet).
ERP = [
    "CREATE TABLE material (id integer PRIMARY KEY, code varchar(20), name text)",
    "CREATE TABLE po (id integer PRIMARY KEY, number varchar(20) NOT NULL)",
    "CREATE TABLE po_line (id integer PRIMARY KEY, po_id integer NOT NULL, line_no integer, "
    "material_id integer, qty numeric(12, 3))",
    "CREATE TABLE bin (wh varchar(10), code varchar(10), label varchar(20) NOT NULL, "
    "PRIMARY KEY (wh, code))",
    "CREATE TABLE bin_slot (id integer PRIMARY KEY, bin_wh varchar(10) NOT NULL, "
    "bin_code varchar(10) NOT NULL, slot varchar(10))",
    "CREATE TABLE receipt (id integer PRIMARY KEY, number varchar(20) NOT NULL, "
    "material_id integer)",
    "INSERT INTO material VALUES (1, 'M01', '螺栓'), (2, 'M02', '螺母')",
    "INSERT INTO po VALUES (1, 'PO1')",
    "INSERT INTO po_line VALUES (1, 1, 1, 1, 5), (2, 1, 2, 2, 7.5)",
    "INSERT INTO bin VALUES ('WH1', 'B07', '一号库七架'), ('WH2', 'B07', '二号库七架')",
    "INSERT INTO bin_slot VALUES (1, 'WH1', 'B07', 'S2'), (2, 'WH1', 'B07', 'S1'), "
    "(3, 'WH2', 'B07', 'S9')",
]
# The target: what it received, in order; materials refused (retried) while `refusing` has a row.
HR_SQL = [
    "CREATE TABLE hr_material (id serial PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, "
    "name text)",
    "CREATE TABLE hr_po (id serial PRIMARY KEY, po_no varchar(20) NOT NULL UNIQUE, lines jsonb)",
    "CREATE TABLE hr_receipt (id serial PRIMARY KEY, number varchar(20) NOT NULL UNIQUE, "
    "material_code varchar(20), state text NOT NULL DEFAULT 'received')",
    *received_log_sql("hr_material", "materials are refused for now", ("code", "po_no"),
                      ("hr_material", "hr_po")),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    files = {"golden_records/material.yaml": MATERIAL,
             "golden_records/purchase_order.yaml": PURCHASE_ORDER,
             "golden_records/bin.yaml": BIN, "golden_records/receipt.yaml": RECEIPT}
    with hr_stack(tmp_path_factory, files, ERP, HR_SQL) as s:
        yield s


def _lines(stack: DemoStack, number: str) -> list[dict[str, Any]] | None:
    found = hr_rows(stack, f"SELECT lines FROM hr_po WHERE po_no = '{number}'")
    return found[0]["lines"] if found else None


def _material_ids(stack: DemoStack) -> dict[str, str]:
    return {r["code"]: str(r["id"]) for r in hr_rows(stack, "SELECT id, code FROM hr_material")}


def test_a_lines_material_is_stored_as_its_source_key_and_sent_as_its_code_and_target_id(stack):
    lines = current_record(stack, "purchase_order", "1")["attributes"]["lines"]
    assert [line["material"] for line in lines] == ["1", "2"]
    assert eventually(lambda: _lines(stack, "PO1") is not None)
    ids = _material_ids(stack)
    assert _lines(stack, "PO1") == [
        {"line": 1, "material_code": "M01", "material_ref": ids["M01"], "qty": "5.000"},
        {"line": 2, "material_code": "M02", "material_ref": ids["M02"], "qty": "7.500"}]
    order = [(r["tbl"], r["key"]) for r in hr_rows(stack, "SELECT * FROM received ORDER BY seq")]
    assert order.index(("hr_material", "M02")) < order.index(("hr_po", "PO1"))


def test_an_order_waits_until_its_lines_new_material_is_acknowledged_at_the_target(stack):
    execute(stack.pg.url("oa"), "INSERT INTO refusing VALUES ('materials')")
    execute(stack.erp_url, "BEGIN; INSERT INTO material VALUES (3, 'M03', '垫圈'); "
            "INSERT INTO po VALUES (2, 'PO2'); INSERT INTO po_line VALUES (3, 2, 1, 1, 1), "
            "(4, 2, 2, 3, 2); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url, outbox=False)
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM delivery WHERE entity = "
                                   "'material' AND business_key = 'M03' AND attempts >= 2"))
    assert _lines(stack, "PO2") is None  # its line's material is refused: the order waits
    [waiting] = rows(stack.hub_url, "SELECT status, attempts FROM delivery WHERE entity = "
                     "'purchase_order' AND business_key = 'PO2'")
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)

    execute(stack.pg.url("oa"), "DELETE FROM refusing")
    assert eventually(lambda: _lines(stack, "PO2") is not None, timeout=60)
    ids = _material_ids(stack)
    assert [(line["material_code"], line["material_ref"]) for line in _lines(stack, "PO2")] == [
        ("M01", ids["M01"]), ("M03", ids["M03"])]


def test_a_line_naming_an_unknown_material_holds_the_order_until_it_arrives(stack):
    execute(stack.erp_url, "BEGIN; INSERT INTO po VALUES (3, 'PO3'); "
            "INSERT INTO po_line VALUES (5, 3, 1, 2, 1), (6, 3, 2, 99, 4); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url)
    record = current_record(stack, "purchase_order", "3")
    assert record["quality"] == "held"
    [hold] = rows(stack.hub_url, "SELECT * FROM reference_hold WHERE golden_id = %s",
                  (record["id"],))
    assert (hold["attribute"], hold["referenced_entity"], hold["referenced_key"]) == (
        "lines.material", "material", "99")
    assert rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s", (record["id"],)) == []
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM task WHERE type = "
                                   "'unknown_reference' AND golden_id = %s AND status = 'open'",
                                   (record["id"],)), timeout=60)
    [task] = rows(stack.hub_url, "SELECT summary FROM task WHERE type = 'unknown_reference' "
                  "AND golden_id = %s", (record["id"],))
    assert "lines.material names material 99" in task["summary"]

    execute(stack.erp_url, "INSERT INTO material VALUES (99, 'M99', '销钉')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: _lines(stack, "PO3") is not None, timeout=60)
    assert [line["material_code"] for line in _lines(stack, "PO3")] == ["M02", "M99"]
    assert current_record(stack, "purchase_order", "3")["quality"] == "ok"
    assert rows(stack.hub_url, "SELECT 1 FROM reference_hold") == []


def test_a_composite_key_entity_lists_the_child_rows_matched_over_both_key_columns(stack):
    assert [s["slot"] for s in current_record(stack, "bin", "WH1|B07")["attributes"]["slots"]] == [
        "S1", "S2"]
    assert [s["slot"] for s in current_record(stack, "bin", "WH2|B07")["attributes"]["slots"]] == [
        "S9"]
    execute(stack.erp_url, "UPDATE bin_slot SET bin_wh = 'WH2' WHERE id = 1",
            "INSERT INTO bin_slot VALUES (4, 'WH1', 'B07', 'S3')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert [s["slot"] for s in current_record(stack, "bin", "WH1|B07")["attributes"]["slots"]] == [
        "S1", "S3"]
    assert [s["slot"] for s in current_record(stack, "bin", "WH2|B07")["attributes"]["slots"]] == [
        "S2", "S9"]
    assert rows(stack.hub_url, "SELECT 1 FROM inbox WHERE status = 'failed'") == []


def _refusing_materials_while(stack: DemoStack, erp_sql: str) -> None:
    """Materials refused by the target; `erp_sql` committed and processed."""
    execute(stack.pg.url("oa"), "INSERT INTO refusing VALUES ('materials') ON CONFLICT DO NOTHING")
    execute(stack.erp_url, erp_sql)
    wait_idle(stack.erp_url, stack.hub_url, outbox=False)


def _project_and_conn(stack: DemoStack) -> tuple[Any, Any]:
    import psycopg

    from mdm.config.loader import load_project

    return load_project(stack.project_dir), psycopg.connect(stack.hub_url, autocommit=True)


def test_a_replay_and_a_push_again_wait_for_the_lines_materials_too(stack):
    from mdm.propagate.replay import replay
    from mdm.store.repositories.outbox import enqueue_push

    _refusing_materials_while(stack, "BEGIN; INSERT INTO material VALUES (5, 'M05', '卡簧'); "
                              "INSERT INTO po VALUES (5, 'PO5'); "
                              "INSERT INTO po_line VALUES (10, 5, 1, 5, 3); COMMIT")
    record = current_record(stack, "purchase_order", "5")
    project, conn = _project_and_conn(stack)
    with conn:
        assert replay(conn, project, "purchase_order", "hr", key="PO5").queued == 1
        with conn.transaction():
            enqueue_push(conn, project, record["id"], record["version"], "hr", "test")
    deliveries = rows(stack.hub_url, "SELECT idempotency_key, status, attempts, requires_id "
                      "FROM delivery WHERE golden_id = %s ORDER BY id", (record["id"],))
    assert len(deliveries) == 3  # processed, replayed, pushed again
    [material] = rows(stack.hub_url, "SELECT id FROM golden_record WHERE entity = 'material' "
                      "AND source_key = '5'")
    assert all(d["requires_id"] == [material["id"]] for d in deliveries)
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM delivery WHERE entity = "
                                   "'material' AND business_key = 'M05' AND attempts >= 2"))
    assert _lines(stack, "PO5") is None
    assert {(d["status"], d["attempts"]) for d in rows(
        stack.hub_url, "SELECT status, attempts FROM delivery WHERE golden_id = %s",
        (record["id"],))} == {("pending", 0)}
    execute(stack.pg.url("oa"), "DELETE FROM refusing")
    assert eventually(lambda: _lines(stack, "PO5") is not None, timeout=60)
    assert [line["material_code"] for line in _lines(stack, "PO5")] == ["M05"]


def _clash_task(stack: DemoStack, golden_id: int) -> int:
    [task] = rows(stack.hub_url, "SELECT id FROM task WHERE type = 'key_clash' AND golden_id = %s "
                  "AND status = 'open'", (golden_id,))
    return int(task["id"])


def test_a_stewards_edited_version_naming_an_unknown_material_stays_held(stack):
    from mdm.steward.decisions import resolve_task

    execute(stack.erp_url, "BEGIN; INSERT INTO po VALUES (7, 'PO1'); "  # PO1's number: a clash
            "INSERT INTO po_line VALUES (11, 7, 1, 98, 1); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url)
    record = current_record(stack, "purchase_order", "7")
    assert record["quality"] == "held"
    project, conn = _project_and_conn(stack)
    with conn:
        resolve_task(conn, project, _clash_task(stack, record["id"]), "approve_edited", "tester",
                     values={"number": "PO7"})
    after = current_record(stack, "purchase_order", "7")
    assert (after["business_key"], after["quality"]) == ("PO7", "held")
    [hold] = rows(stack.hub_url, "SELECT version, quality FROM reference_hold WHERE golden_id = %s",
                  (record["id"],))
    assert (hold["version"], hold["quality"]) == (after["version"], "approved")
    assert rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s", (record["id"],)) == []

    execute(stack.erp_url, "INSERT INTO material VALUES (98, 'M98', '铆钉')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: _lines(stack, "PO7") is not None, timeout=60)
    assert [line["material_code"] for line in _lines(stack, "PO7")] == ["M98"]
    assert current_record(stack, "purchase_order", "7")["quality"] == "approved"


def test_a_key_freed_does_not_release_a_version_held_on_an_unknown_material(stack):
    execute(stack.erp_url, "BEGIN; INSERT INTO po VALUES (8, 'PO2'); "  # PO2's number: a clash
            "INSERT INTO po_line VALUES (12, 8, 1, 97, 1); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url)
    record = current_record(stack, "purchase_order", "8")
    assert record["quality"] == "held" and _clash_task(stack, record["id"])
    execute(stack.erp_url, "UPDATE po SET number = 'PO2X' WHERE id = 2")  # the key is freed
    wait_idle(stack.erp_url, stack.hub_url)
    assert rows(stack.hub_url, "SELECT status FROM task WHERE type = 'key_clash' AND golden_id "
                "= %s", (record["id"],)) == [{"status": "resolved"}]
    assert current_record(stack, "purchase_order", "8")["quality"] == "held"
    assert rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s", (record["id"],)) == []

    execute(stack.erp_url, "INSERT INTO material VALUES (97, 'M97', '键')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert current_record(stack, "purchase_order", "8")["quality"] == "ok"
    assert eventually(lambda: (_lines(stack, "PO2") or [{}])[0].get("material_code") == "M97",
                      timeout=60)


def _held_until_the_draft_is_numbered(stack: DemoStack, record: dict[str, Any], material: int,
                                      code: str, number: str) -> None:
    """The held order `record` has no delivery and gets an unknown_reference task naming the
    draft `material`; once the material gets `code`, order `number` reaches the target with
    it and is no longer held."""
    assert rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s", (record["id"],)) == []
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM task WHERE type = "
                                   "'unknown_reference' AND golden_id = %s", (record["id"],)),
                      timeout=60)
    [task] = rows(stack.hub_url, "SELECT summary FROM task WHERE type = 'unknown_reference' "
                  "AND golden_id = %s", (record["id"],))
    assert (f"lines.material names material {material} (a draft: no business key yet)"
            in task["summary"])

    execute(stack.erp_url, f"UPDATE material SET code = '{code}' WHERE id = {material}")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: _lines(stack, number) is not None, timeout=60)
    assert [line["material_code"] for line in _lines(stack, number)] == [code]
    assert current_record(stack, "purchase_order", record["source_key"])["quality"] == "ok"


def test_a_line_naming_a_draft_material_holds_the_order_until_it_is_numbered(stack):
    execute(stack.erp_url, "INSERT INTO material VALUES (50, NULL, '未编号物料')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert current_record(stack, "material", "50")["business_key"] is None  # a draft
    execute(stack.erp_url, "BEGIN; INSERT INTO po VALUES (9, 'PO9'); "
            "INSERT INTO po_line VALUES (13, 9, 1, 50, 2); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url)
    record = current_record(stack, "purchase_order", "9")
    assert record["quality"] == "held"
    _held_until_the_draft_is_numbered(stack, record, 50, "M50", "PO9")



def _delivery_ids(stack: DemoStack, golden_id: int) -> list[int]:
    return [d["id"] for d in rows(stack.hub_url, "SELECT id FROM delivery WHERE golden_id = %s "
                                  "ORDER BY id", (golden_id,))]


def test_a_materials_new_code_is_re_sent_in_the_lines_of_the_orders_naming_it(stack):
    execute(stack.erp_url, "BEGIN; INSERT INTO material VALUES (60, 'M60', '轴承'); "
            "INSERT INTO po VALUES (60, 'PO60'), (61, 'PO61'); INSERT INTO po_line VALUES "
            "(60, 60, 1, 60, 1), (61, 60, 2, 1, 2), (62, 61, 1, 1, 1); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: _lines(stack, "PO60") and _lines(stack, "PO61"), timeout=60)
    naming, other = (current_record(stack, "purchase_order", k) for k in ("60", "61"))
    sent = {r["id"]: _delivery_ids(stack, r["id"]) for r in (naming, other)}
    execute(stack.erp_url, "UPDATE material SET name = '滚动轴承' WHERE id = 60")  # not shown
    wait_idle(stack.erp_url, stack.hub_url)
    assert {r["id"]: _delivery_ids(stack, r["id"]) for r in (naming, other)} == sent

    execute(stack.erp_url, "UPDATE material SET code = 'M60X' WHERE id = 60")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: [line["material_code"] for line in _lines(stack, "PO60") or []]
                      == ["M60X", "M01"], timeout=60)
    material = current_record(stack, "material", "60")
    [resent] = rows(stack.hub_url, "SELECT * FROM delivery WHERE golden_id = %s AND id <> ALL(%s)",
                    (naming["id"], sent[naming["id"]]))
    assert resent["version"] == naming["version"]  # the same version, sent again
    assert current_record(stack, "purchase_order", "60")["version"] == naming["version"]
    assert resent["idempotency_key"].endswith(f"-r{material['id']}v{material['version']}")
    assert resent["requires_id"] == [material["id"]]
    assert eventually(lambda: rows(stack.hub_url, "SELECT status FROM delivery WHERE id = %s",
                                   (resent["id"],)) == [{"status": "acked"}], timeout=60)
    assert _delivery_ids(stack, other["id"]) == sent[other["id"]]  # its lines show no M60
    order = [(r["tbl"], r["key"]) for r in hr_rows(stack, "SELECT * FROM received ORDER BY seq")]
    assert order.index(("hr_material", "M60X")) < len(order) - 1 - order[::-1].index(
        ("hr_po", "PO60"))


def test_a_draft_material_inserted_with_its_order_holds_the_order_until_numbered(stack):
    execute(stack.erp_url, "BEGIN; INSERT INTO material VALUES (70, NULL, '新物料'); "
            "INSERT INTO po VALUES (70, 'PO70'); INSERT INTO po_line VALUES (70, 70, 1, 70, 3); "
            "COMMIT")  # one transaction: the draft and its order in one processing batch
    wait_idle(stack.erp_url, stack.hub_url)
    assert current_record(stack, "material", "70")["business_key"] is None
    record = current_record(stack, "purchase_order", "70")
    assert record["quality"] == "held"
    [hold] = rows(stack.hub_url, "SELECT * FROM reference_hold WHERE golden_id = %s",
                  (record["id"],))
    assert (hold["attribute"], hold["referenced_entity"], hold["referenced_key"]) == (
        "lines.material", "material", "70")
    _held_until_the_draft_is_numbered(stack, record, 70, "M70", "PO70")


def test_a_written_back_value_on_a_held_version_is_held_and_released_with_it(stack):
    _refusing_materials_while(stack, "BEGIN; INSERT INTO material VALUES (80, 'M80', '垫片'); "
                              "INSERT INTO receipt VALUES (80, 'R80', 80); COMMIT")
    execute(stack.erp_url, "UPDATE receipt SET material_id = 96 WHERE id = 80")  # unknown
    wait_idle(stack.erp_url, stack.hub_url, outbox=False)
    held = current_record(stack, "receipt", "80")
    assert (held["version"], held["quality"]) == (2, "held")

    execute(stack.pg.url("oa"), "DELETE FROM refusing")  # version 1 goes, hr answers its state
    assert eventually(lambda: current_record(stack, "receipt", "80")["version"] == 3, timeout=60)
    answered = current_record(stack, "receipt", "80")
    assert answered["attributes"]["hr_state"] == "received"
    assert answered["attributes"]["material"] == "96" and answered["quality"] == "held"
    [hold] = rows(stack.hub_url, "SELECT version, referenced_key FROM reference_hold WHERE "
                  "golden_id = %s", (held["id"],))
    assert (hold["version"], hold["referenced_key"]) == (3, "96")

    execute(stack.erp_url, "INSERT INTO material VALUES (96, 'M96', '挡圈')")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: hr_rows(stack, "SELECT material_code FROM hr_receipt WHERE number = "
                                  "'R80'") == [{"material_code": "M96"}], timeout=60)
    assert current_record(stack, "receipt", "80")["quality"] == "ok"


def test_an_admins_retry_sending_the_current_version_waits_for_its_lines_new_material(stack):
    # PO90's first version is refused for good at hr (dead); its second names a material hr
    # refuses for now: the admin's retry sends that version in the dead one's stead, waiting
    execute(stack.pg.url("oa"), "ALTER TABLE hr_po ADD CONSTRAINT hr_po_not_po90 "
            "CHECK (po_no <> 'PO90')")
    execute(stack.erp_url, "BEGIN; INSERT INTO po VALUES (90, 'PO90'); "
            "INSERT INTO po_line VALUES (90, 90, 1, 1, 2); COMMIT")

    def record() -> dict[str, Any]:
        return current_record(stack, "purchase_order", "90")

    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM delivery WHERE entity = "
                                   "'purchase_order' AND business_key = 'PO90' "
                                   "AND status = 'dead'"), timeout=60)
    _refusing_materials_while(stack, "BEGIN; INSERT INTO material VALUES (90, 'M90', '螺杆'); "
                              "INSERT INTO po_line VALUES (91, 90, 2, 90, 1); COMMIT")
    execute(stack.pg.url("oa"), "ALTER TABLE hr_po DROP CONSTRAINT hr_po_not_po90")
    [dead] = rows(stack.hub_url, "SELECT id, version FROM delivery WHERE golden_id = %s "
                  "AND status = 'dead'", (record()["id"],))
    assert (dead["version"], record()["version"]) == (1, 2)

    from mdm.steward.redelivery import retry  # what POST /api/v1/deliveries/{id}/retry runs

    project, conn = _project_and_conn(stack)
    with conn:
        retried = retry(conn, project, dead["id"], "admin.kim")
    assert (retried.version, retried.replaced) == (2, True)
    [material] = rows(stack.hub_url, "SELECT id FROM golden_record WHERE entity = 'material' "
                      "AND source_key = '90'")
    tried = rows(stack.hub_url, "SELECT max(attempts) AS n FROM delivery WHERE golden_id = %s",
                 (material["id"],))[0]["n"]
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s "
                                   "AND attempts >= %s", (material["id"], tried + 2)))
    [due] = rows(stack.hub_url, "SELECT status, attempts, requires_id FROM delivery WHERE id = %s",
                 (retried.delivery_id,))
    assert (due["status"], due["attempts"], due["requires_id"]) == ("pending", 0, [material["id"]])
    assert _lines(stack, "PO90") is None  # its material is still refused: the retry waits

    execute(stack.pg.url("oa"), "DELETE FROM refusing")
    assert eventually(lambda: _lines(stack, "PO90") is not None, timeout=60)
    assert [line["material_code"] for line in _lines(stack, "PO90")] == ["M01", "M90"]
    order = [(r["tbl"], r["key"]) for r in hr_rows(stack, "SELECT * FROM received ORDER BY seq")]
    assert order.index(("hr_material", "M90")) < order.index(("hr_po", "PO90"))
