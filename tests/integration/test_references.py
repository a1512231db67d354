"""References on the real stack (embedded PostgreSQL, real Debezium, a SQL target): an employee
reaches the target only after its department is acknowledged there, as the department's code
and the target's own id of it; a version naming a department the hub does not know is held
with its reason, gets a task after the configured wait, and flows when the department comes; a
Tryton-style string reference ('stock.shipment.in,1') and a composite key are followed; a
department's new code is re-sent to its employees' copies."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle
from tests.helpers import eventually, execute, rows
from tests.integration.hr_target import current_record, hr_rows, hr_stack, received_log_sql

DEPARTMENT = """entity: department
table: public.dept
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
targets:
  hr: {table: hr_dept, key: code, fields: {code: code, name: name}, retire: delete}
"""
EMPLOYEE = """entity: employee
table: public.emp
business_key: code
unknown_reference_task_after: 1s
attributes:
  code: {type: string, required: true}
  name: {type: string}
  department: {references: department, column: dept_id}
targets:
  hr:
    table: hr_staff
    key: staff_no
    retire: delete
    fields: {staff_no: code, staff_name: name, dept_code: department.code,
             dept_ref: department.xref}
"""
SHIPMENT = """entity: shipment
table: public.shipment
business_key: number
attributes:
  number: {type: string, required: true}
children:
  lines:   # Tryton-style: each line names its document as 'model,id'
    table: public.shipment_line
    parent_column: origin
    parent: {format: "model,id", model: stock.shipment.in}
    attributes:
      product: {type: string}
    order_by: product
"""
MOVE = """entity: move
table: public.stock_move
business_key: code
attributes:
  code: {type: string, required: true}
  shipment: {references: {entity: shipment, format: "model,id", model: stock.shipment.in},
             column: origin}
targets:
  hr: {table: hr_move, key: move_no, retire: delete,
       fields: {move_no: code, shipment_no: shipment.number}}
"""
BIN = """entity: bin
table: public.bin
primary_key: [wh, code]
business_key: label
attributes:
  label: {type: string, required: true}
"""
ITEM = """entity: item
table: public.item
business_key: code
attributes:
  code: {type: string, required: true}
  bin: {references: {entity: bin, columns: [bin_wh, bin_code]}}
targets:
  hr: {table: hr_item, key: item_no, retire: delete, fields: {item_no: code, bin_label: bin.label}}
"""
# No foreign keys: like many ERPs, this one lets a row name a department that is not there.
ERP = [
    "CREATE TABLE dept (id integer PRIMARY KEY, code varchar(20) NOT NULL, name text)",
    "CREATE TABLE emp (id integer PRIMARY KEY, code varchar(20) NOT NULL, name text, "
    "dept_id integer)",
    "CREATE TABLE shipment (id integer PRIMARY KEY, number varchar(20) NOT NULL)",
    "CREATE TABLE shipment_line (id integer PRIMARY KEY, origin varchar(60), product text)",
    "CREATE TABLE stock_move (id integer PRIMARY KEY, code varchar(20) NOT NULL, origin varchar(60))",
    "CREATE TABLE bin (wh varchar(10), code varchar(10), label varchar(20) NOT NULL, "
    "PRIMARY KEY (wh, code))",
    "CREATE TABLE item (id integer PRIMARY KEY, code varchar(20) NOT NULL, bin_wh varchar(10), "
    "bin_code varchar(10))",
    "INSERT INTO dept VALUES (1, 'D01', '财务部')",
    "INSERT INTO emp VALUES (1, 'E01', '张三', 1)",
]
# The target: what it received, in order; departments refused (for a while: retried) while
# `refusing` has a row.
HR_SQL = [
    "CREATE TABLE hr_dept (id serial PRIMARY KEY, code varchar(20) NOT NULL UNIQUE, name text)",
    "CREATE TABLE hr_staff (id serial PRIMARY KEY, staff_no varchar(20) NOT NULL UNIQUE, "
    "staff_name text, dept_code varchar(20), dept_ref varchar(20))",
    "CREATE TABLE hr_move (id serial PRIMARY KEY, move_no varchar(20) NOT NULL UNIQUE, "
    "shipment_no varchar(20))",
    "CREATE TABLE hr_item (id serial PRIMARY KEY, item_no varchar(20) NOT NULL UNIQUE, "
    "bin_label varchar(20))",
    *received_log_sql("hr_dept", "departments are refused for now", ("code", "staff_no"),
                      ("hr_dept", "hr_staff")),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    files = {"golden_records/department.yaml": DEPARTMENT,
             "golden_records/employee.yaml": EMPLOYEE, "golden_records/shipment.yaml": SHIPMENT,
             "golden_records/move.yaml": MOVE, "golden_records/bin.yaml": BIN,
             "golden_records/item.yaml": ITEM}
    with hr_stack(tmp_path_factory, files, ERP, HR_SQL) as s:
        yield s


def _staff(stack: DemoStack, code: str) -> dict[str, Any] | None:
    found = hr_rows(stack, f"SELECT * FROM hr_staff WHERE staff_no = '{code}'")
    return found[0] if found else None


def test_the_snapshot_delivers_an_employee_as_its_departments_code_and_target_id(stack):
    assert current_record(stack, "employee", "1")["attributes"]["department"] == "1"
    [dept] = hr_rows(stack, "SELECT id FROM hr_dept WHERE code = 'D01'")
    staff = _staff(stack, "E01")
    assert staff is not None
    assert (staff["dept_code"], staff["dept_ref"]) == ("D01", str(dept["id"]))
    order = [(r["tbl"], r["key"]) for r in hr_rows(stack, "SELECT * FROM received ORDER BY seq")]
    assert order.index(("hr_dept", "D01")) < order.index(("hr_staff", "E01"))


def test_an_employee_waits_until_its_new_department_is_acknowledged_at_the_target(stack):
    execute(stack.pg.url("oa"), "INSERT INTO refusing VALUES ('departments')")
    execute(stack.erp_url, "BEGIN; INSERT INTO dept VALUES (2, 'D02', '采购部'); "
            "INSERT INTO emp VALUES (2, 'E02', '李四', 2); COMMIT")
    wait_idle(stack.erp_url, stack.hub_url, outbox=False)
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM delivery WHERE entity = "
                                   "'department' AND business_key = 'D02' AND attempts >= 2"))
    assert _staff(stack, "E02") is None  # refused department: its employee is not sent
    [waiting] = rows(stack.hub_url, "SELECT status, attempts FROM delivery WHERE entity = "
                     "'employee' AND business_key = 'E02'")
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)

    execute(stack.pg.url("oa"), "DELETE FROM refusing")
    assert eventually(lambda: _staff(stack, "E02") is not None, timeout=60)
    staff = _staff(stack, "E02")
    [dept] = hr_rows(stack, "SELECT id FROM hr_dept WHERE code = 'D02'")
    assert staff is not None and (staff["dept_code"], staff["dept_ref"]) == ("D02", str(dept["id"]))
    acks = {r["entity"]: r["acked_at"] for r in rows(
        stack.hub_url, "SELECT entity, acked_at FROM delivery WHERE business_key IN ('D02', "
        "'E02') AND status = 'acked'")}
    assert acks["department"] < acks["employee"]


def test_a_version_naming_an_unknown_department_is_held_then_released(stack):
    execute(stack.erp_url, "INSERT INTO emp VALUES (3, 'E03', '王五', 9)")
    wait_idle(stack.erp_url, stack.hub_url)
    record = current_record(stack, "employee", "3")
    assert (record["attributes"]["department"], record["quality"]) == ("9", "held")
    [hold] = rows(stack.hub_url, "SELECT * FROM reference_hold WHERE golden_id = %s",
                  (record["id"],))
    assert (hold["attribute"], hold["referenced_entity"], hold["referenced_key"]) == (
        "department", "department", "9")
    assert rows(stack.hub_url, "SELECT 1 FROM delivery WHERE golden_id = %s", (record["id"],)) == []
    assert rows(stack.hub_url, "SELECT 1 FROM inbox WHERE status = 'failed'") == []
    assert eventually(lambda: rows(stack.hub_url, "SELECT 1 FROM task WHERE type = "
                                   "'unknown_reference' AND golden_id = %s AND status = 'open'",
                                   (record["id"],)), timeout=60)
    [task] = rows(stack.hub_url, "SELECT summary FROM task WHERE type = 'unknown_reference'")
    assert "department names department 9" in task["summary"]

    execute(stack.erp_url, "INSERT INTO dept VALUES (9, 'D09', '仓储部')")
    wait_idle(stack.erp_url, stack.hub_url)
    staff = _staff(stack, "E03")
    assert staff is not None and staff["dept_code"] == "D09"
    assert current_record(stack, "employee", "3")["quality"] == "ok"
    assert rows(stack.hub_url, "SELECT 1 FROM reference_hold") == []
    [closed] = rows(stack.hub_url, "SELECT status, resolution FROM task WHERE type = "
                    "'unknown_reference' AND golden_id = %s", (record["id"],))
    assert (closed["status"], closed["resolution"]) == ("resolved", "released")


def test_a_later_version_without_the_unknown_reference_is_no_longer_held(stack):
    execute(stack.erp_url, "INSERT INTO emp VALUES (4, 'E04', '赵六', 77)")
    wait_idle(stack.erp_url, stack.hub_url)
    assert current_record(stack, "employee", "4")["quality"] == "held"
    execute(stack.erp_url, "UPDATE emp SET dept_id = 1 WHERE id = 4")
    wait_idle(stack.erp_url, stack.hub_url)
    staff = _staff(stack, "E04")
    assert staff is not None and staff["dept_code"] == "D01"
    assert rows(stack.hub_url, "SELECT 1 FROM reference_hold") == []


def test_a_departments_new_code_is_re_sent_to_its_employees(stack):
    before = current_record(stack, "employee", "1")["version"]
    execute(stack.erp_url, "UPDATE dept SET code = 'D01X' WHERE id = 1")
    wait_idle(stack.erp_url, stack.hub_url)
    assert eventually(lambda: (_staff(stack, "E01") or {}).get("dept_code") == "D01X")
    assert current_record(stack, "employee", "1")["version"] == before  # no employee version
    staff = _staff(stack, "E04")
    assert staff is not None and staff["dept_code"] == "D01X"


def test_a_string_reference_names_a_model_and_an_id(stack):
    execute(stack.erp_url, "INSERT INTO shipment VALUES (1, 'IN/0001')",
            "INSERT INTO stock_move VALUES (1, 'MV1', 'stock.shipment.in,1'), "
            "(2, 'MV2', 'stock.shipment.out,1'), (3, 'MV3', NULL)")
    wait_idle(stack.erp_url, stack.hub_url)
    assert [current_record(stack, "move", k)["attributes"]["shipment"] for k in "123"] == [
        "1", None, None]
    moves = {r["move_no"]: r["shipment_no"] for r in hr_rows(stack, "SELECT * FROM hr_move")}
    assert moves == {"MV1": "IN/0001", "MV2": None, "MV3": None}


def test_child_rows_find_their_parent_by_a_string_reference(stack):
    execute(stack.erp_url, "INSERT INTO shipment VALUES (2, 'IN/0002')",
            "INSERT INTO shipment_line VALUES (1, 'stock.shipment.in,2', '螺栓'), "
            "(2, 'stock.shipment.out,2', '螺母'), (3, 'stock.shipment.in,2', '垫圈')")
    wait_idle(stack.erp_url, stack.hub_url)
    lines = current_record(stack, "shipment", "2")["attributes"]["lines"]
    assert [line["product"] for line in lines] == ["垫圈", "螺栓"]  # the 'out' line is another list's
    assert rows(stack.hub_url, "SELECT 1 FROM inbox WHERE status = 'failed'") == []
    execute(stack.erp_url, "UPDATE shipment_line SET origin = 'stock.shipment.out,2' WHERE id = 3")
    wait_idle(stack.erp_url, stack.hub_url)
    lines = current_record(stack, "shipment", "2")["attributes"]["lines"]
    assert [line["product"] for line in lines] == ["螺栓"]


def test_a_composite_reference_follows_the_key_columns(stack):
    execute(stack.erp_url, "INSERT INTO bin VALUES ('WH1', 'B07', '一号库七架')",
            "INSERT INTO item VALUES (1, 'IT1', 'WH1', 'B07'), (2, 'IT2', 'WH1', NULL)")
    wait_idle(stack.erp_url, stack.hub_url)
    assert current_record(stack, "bin", "WH1|B07")["attributes"]["label"] == "一号库七架"
    assert current_record(stack, "item", "1")["attributes"]["bin"] == "WH1|B07"
    assert current_record(stack, "item", "2")["attributes"]["bin"] is None
    items = {r["item_no"]: r["bin_label"] for r in hr_rows(stack, "SELECT * FROM hr_item")}
    assert items == {"IT1": "一号库七架", "IT2": None}


def test_a_record_shows_the_business_key_of_what_it_references_looked_up(stack):
    import psycopg

    from mdm.config.loader import load_project
    from mdm.store.database import create_hub_engine
    from mdm.store.repositories.records import referenced_records
    from mdm.store.repositories.reference_holds import referenced_of

    engine = create_hub_engine(stack.hub_url)
    with engine.connect() as conn:
        shown = referenced_records(conn, {"department": ("department", "2"),
                                          "missing": ("department", "404")})
    engine.dispose()
    assert shown["department"]["business_key"] == "D02" and shown["missing"] is None
    spec = load_project(stack.project_dir).entities["employee"]
    with psycopg.connect(stack.hub_url) as conn:
        [record] = referenced_of(conn, spec, {"department": "2"}).values()
    assert record.attributes["code"] == "D02" and "hr" in record.xrefs
