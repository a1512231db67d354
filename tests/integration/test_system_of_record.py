"""A system of record per entity, not per database, on the real stack: OA's database holds
purchase requests the hub takes as their system of record (`source: oa`) and a vendor table
that is a copy of the ERP's suppliers (observed by cdc/oa.yaml). One replication slot and one
publication read both; a purchase request makes golden versions caused by oa, a hand edit of
the vendor copy opens a divergence task and makes no version. Real PostgreSQL, real Debezium,
the copy written by a kind: sql target into OA's database."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mdm.demo.stack import DemoStack
from mdm.demo.sync import wait_idle, wait_observed
from tests.helpers import eventually, execute, rows
from tests.integration.schema_stack import schema_stack, write_project

FILES = {
    "cdc/oa.yaml": """name: oa
url: ${MDM_OA_DB_URL}
slot: mdm_oa
publication: mdm_oa
observes: oa
tables:
  public.oa_vendor: {entity: supplier}
""",
    "golden_records/supplier.yaml": """entity: supplier
table: public.t_supplier
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
""",
    "golden_records/purchase_request.yaml": """entity: purchase_request
source: oa
table: public.purchase_request
business_key: number
attributes:
  number: {type: string, required: true}
  requester: {type: string}
  amount: {type: decimal}
children:
  lines:
    table: public.purchase_request_line
    parent_column: request_id
    attributes:
      item: {type: string}
      qty: {type: decimal}
""",
    "targets/oa.yaml": """name: oa
kind: sql
url: ${MDM_OA_DB_URL}
entities:
  supplier:
    table: oa_vendor
    key: vendor_code
    version_field: mdm_version
    active_field: enabled
    fields: {vendor_code: code, vendor_name: name}
""",
    "rules/supplier.yaml": """entity: supplier
divergence:
  - target: oa
    fields: [vendor_name]
""",
}
ERP = [
    "CREATE TABLE t_supplier (id integer PRIMARY KEY, code varchar(20) NOT NULL, "
    "name varchar(200) NOT NULL)",
    "INSERT INTO t_supplier VALUES (1, 'S1', '福州精工'), (2, 'S2', '厦门远航')",
]
OA = [  # oa_vendor is the demo OA's own table (prepared with the databases)
    "CREATE TABLE purchase_request (id serial PRIMARY KEY, number varchar(20) NOT NULL, "
    "requester varchar(60), amount numeric(12,2))",
    "CREATE TABLE purchase_request_line (id serial PRIMARY KEY, request_id integer NOT NULL "
    "REFERENCES purchase_request, item varchar(60), qty numeric(12,3))",
    "INSERT INTO purchase_request (number, requester, amount) VALUES ('PR-1', '张伟', 1200.50)",
    "INSERT INTO purchase_request_line (request_id, item, qty) VALUES (1, '劳保手套', 100)",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    project = write_project(tmp_path_factory.mktemp("project"), FILES)
    with schema_stack(tmp_path_factory.mktemp("stack"), project, ERP, {"oa": OA}) as s:
        _settle(s)
        yield s


def _settle(stack: DemoStack) -> None:
    wait_idle(stack.erp_url, stack.hub_url, timeout=120)
    wait_observed(stack.pg.url("oa"), stack.hub_url, "oa", timeout=120)


def _versions(stack: DemoStack, entity: str) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT business_key, version, attributes, cause_source, "
                               "cause_table FROM golden_version WHERE entity = %s "
                               "ORDER BY business_key, version", (entity,))


def _open_divergences(stack: DemoStack) -> list[dict[str, Any]]:
    return rows(stack.hub_url, "SELECT entity, business_key, system, summary FROM task "
                               "WHERE type = 'divergence' AND status = 'open'")


def test_one_slot_and_one_publication_read_both_roles_of_the_oa_database(stack):
    slots = rows(stack.hub_url, "SELECT slot_name FROM pg_replication_slots WHERE database = 'oa'")
    assert [s["slot_name"] for s in slots] == ["mdm_oa"]
    published = rows(stack.pg.url("oa"), "SELECT schemaname || '.' || tablename AS t "
                                         "FROM pg_publication_tables WHERE pubname = 'mdm_oa'")
    assert sorted(p["t"] for p in published) == [
        "public.oa_vendor", "public.purchase_request", "public.purchase_request_line"]
    assert [p["pubname"] for p in rows(stack.pg.url("oa"), "SELECT pubname FROM pg_publication")] \
        == ["mdm_oa"]


def test_purchase_requests_of_record_in_oa_make_golden_versions_caused_by_oa(stack):
    [first] = _versions(stack, "purchase_request")  # the initial snapshot's
    assert first["business_key"] == "PR-1" and first["cause_source"] == "oa"
    assert first["attributes"]["lines"] == [{"item": "劳保手套", "qty": "100.000"}]  # decimals keep their scale
    execute(stack.pg.url("oa"),
            "INSERT INTO purchase_request (number, requester, amount) VALUES ('PR-2', '李娜', 88)",
            "UPDATE purchase_request SET amount = 1300 WHERE number = 'PR-1'")
    _settle(stack)
    versions = {(v["business_key"], v["version"]): v for v in _versions(stack, "purchase_request")}
    assert set(versions) == {("PR-1", 1), ("PR-1", 2), ("PR-2", 1)}
    assert versions[("PR-1", 2)]["attributes"]["amount"] == "1300.00"
    assert {v["cause_source"] for v in versions.values()} == {"oa"}
    assert versions[("PR-2", 1)]["cause_table"] == "public.purchase_request"
    assert not [t for t in _open_divergences(stack) if t["entity"] == "purchase_request"]


def test_the_vendor_copy_is_an_echo_until_edited_by_hand_then_a_divergence_not_a_version(stack):
    copies = {r["vendor_code"]: r["vendor_name"]
              for r in rows(stack.pg.url("oa"), "SELECT vendor_code, vendor_name FROM oa_vendor")}
    assert copies == {"S1": "福州精工", "S2": "厦门远航"}  # delivered, captured back, echoes
    assert _open_divergences(stack) == []
    before = _versions(stack, "supplier")
    execute(stack.pg.url("oa"), "UPDATE oa_vendor SET vendor_name = '福州精工（OA手工修改）' "
                                "WHERE vendor_code = 'S1'")
    _settle(stack)
    assert eventually(lambda: [(t["business_key"], t["system"])
                               for t in _open_divergences(stack)] == [("S1", "oa")])
    [task] = _open_divergences(stack)
    assert "vendor_name is '福州精工（OA手工修改）', golden '福州精工'" in task["summary"]
    assert _versions(stack, "supplier") == before  # a copy never makes a version
    assert {v["cause_source"] for v in before} == {"erp"}
