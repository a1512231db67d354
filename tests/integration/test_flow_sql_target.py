"""A flow's commands on a SQL target (an ERP's interface tables): create inserts the header and
its lines in one transaction, keeps the number the database assigned, and — sent again after
a crash left it unrecorded — finds the row its key made and inserts nothing; update writes the
hop's fields onto the row its key column names. Real PostgreSQL, real Debezium, the hub on a
project of its own."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from mdm.demo.stack import DemoStack
from tests.helpers import eventually, execute, rows
from tests.integration.schema_stack import schema_stack, write_project

FILES = {
    "golden_records/request.yaml": """entity: request
table: public.req
business_key: number
attributes:
  number: {type: string, required: true}
  status: {type: string}
  amount: {type: decimal}
children:
  lines:
    table: public.req_line
    parent_column: req_id
    attributes:
      item: {type: string}
      qty: {type: decimal}
    order_by: item
""",
    "targets/erp_db.yaml": "name: erp_db\nkind: sql\nurl: ${MDM_ERP_URL}\nmax_attempts: 3\n",
    "flows/interface.yaml": """flow: interface
hops:
  - name: order
    from: request
    when: "status: new → approved"
    to:
      target: erp_db
      operation: create
      table: po_interface
      command_key: mdm_key
      returning: doc_no
      fields: {req_no: number, amount: amount, currency: {value: CNY}, lines: lines}
      children:
        lines: {table: po_interface_line, parent_column: header_id, fields: {item: item, qty: qty}}
  - name: close
    from: request
    when: "status: approved → closed"
    to:
      target: erp_db
      operation: update
      table: po_interface
      match: req_no
      fields: {closed: {value: true}}
""",
}
ERP = [
    "CREATE TABLE req (id serial PRIMARY KEY, number varchar(20) NOT NULL, status varchar(20), "
    "amount numeric(12,2))",
    "CREATE TABLE req_line (id serial PRIMARY KEY, req_id integer NOT NULL REFERENCES req, "
    "item varchar(20), qty numeric(12,3))",
    "CREATE SEQUENCE po_interface_no START 9000001",
    "CREATE TABLE po_interface (id serial PRIMARY KEY, doc_no varchar(20) NOT NULL DEFAULT "
    "('IF' || nextval('po_interface_no')), req_no varchar(20) NOT NULL, amount numeric(12,2), "
    "currency char(3), closed boolean NOT NULL DEFAULT false, mdm_key varchar(200) UNIQUE)",
    "CREATE TABLE po_interface_line (id serial PRIMARY KEY, header_id integer NOT NULL "
    "REFERENCES po_interface, item varchar(20), qty numeric(12,3))",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"), FILES)
    with schema_stack(tmp_path_factory.mktemp("state"), project, ERP) as s:
        yield s


def _headers(stack: DemoStack) -> list[dict[str, object]]:
    return rows(stack.erp_url, "SELECT * FROM po_interface WHERE req_no = 'R-1'")


def _command(stack: DemoStack) -> dict[str, object]:
    """The create command of R-1 (empty until the hop fired)."""
    found = rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = 'interface.order' "
                 "AND business_key = 'R-1'")
    assert len(found) <= 1, found
    return found[0] if found else {}


def test_create_inserts_header_and_lines_once_and_update_writes_by_key(stack: DemoStack):
    execute(stack.erp_url, "INSERT INTO req (number, status, amount) VALUES ('R-1', 'new', 1250.50)",
            "INSERT INTO req_line (req_id, item, qty) VALUES (1, '螺栓', 12.125), (1, '垫片', 3)")
    execute(stack.erp_url, "UPDATE req SET status = 'approved'")
    assert eventually(lambda: _command(stack).get("status") == "acked", 120), _command(stack)
    [header] = _headers(stack)
    assert (header["amount"], header["currency"], header["doc_no"]) == (
        Decimal("1250.50"), "CNY", _command(stack)["target_id"])
    lines = rows(stack.erp_url, "SELECT item, qty FROM po_interface_line WHERE header_id = %s "
                 "ORDER BY item", (header["id"],))
    assert [(r["item"], r["qty"]) for r in lines] == [("垫片", Decimal("3.000")),
                                                      ("螺栓", Decimal("12.125"))]

    # the hub crashed before recording the answer: the command is due again with its key
    execute(stack.hub_url, "UPDATE delivery SET status = 'pending', next_attempt_at = now() "
            "WHERE hop = 'interface.order'")
    assert eventually(lambda: _command(stack)["attempts"] == 2
                      and _command(stack)["status"] == "acked", 120), _command(stack)
    assert [h["id"] for h in _headers(stack)] == [header["id"]]
    assert _command(stack)["target_id"] == header["doc_no"]
    assert len(rows(stack.erp_url, "SELECT 1 FROM po_interface_line")) == 2

    execute(stack.erp_url, "UPDATE req SET status = 'closed'")
    assert eventually(lambda: _headers(stack)[0]["closed"] is True, 120)
    [close] = rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = 'interface.close'")
    assert (close["operation"], close["status"], close["business_key"]) == ("update", "acked",
                                                                            "R-1")


def test_a_mapping_onto_a_missing_column_is_dead_with_the_databases_reason(stack: DemoStack):
    execute(stack.erp_url, "ALTER TABLE po_interface RENAME COLUMN currency TO currency_code")
    try:
        execute(stack.erp_url, "INSERT INTO req (number, status, amount) VALUES ('R-2', 'new', 10)")
        execute(stack.erp_url, "UPDATE req SET status = 'approved' WHERE number = 'R-2'")
        found = lambda: rows(stack.hub_url, "SELECT * FROM delivery WHERE hop = "  # noqa: E731
                             "'interface.order' AND business_key = 'R-2'")
        assert eventually(lambda: [c["status"] for c in found()] == ["dead"], 120), found()
        assert "currency" in str(found()[0]["last_error"])  # the database names the column
        assert rows(stack.erp_url, "SELECT 1 FROM po_interface WHERE req_no = 'R-2'") == []
    finally:
        execute(stack.erp_url, "ALTER TABLE po_interface RENAME COLUMN currency_code TO currency")
