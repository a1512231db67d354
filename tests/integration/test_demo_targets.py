"""The demo ERP seed and the demo OA/WMS REST targets against a real PostgreSQL."""
from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

with warnings.catch_warnings():
    # Starlette >= 1.10 warns at import that its TestClient prefers httpx2 over httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from mdm.demo.seed import ERP_TABLES, is_valid_uscc, seed_erp
from mdm.demo.targets import COLLECTIONS, create_target_app, prepare_target_database
from mdm.runtime.postgres import EmbeddedPostgres
from tests.helpers import running_postgres

SEED_SIZES = {"suppliers": 220, "materials": 1200, "employees": 120, "customers": 150}


@pytest.fixture(scope="module")
def _pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with running_postgres(tmp_path_factory.mktemp("pg")) as pg:
        yield pg


@pytest.fixture(scope="module")
def erp(_pg: EmbeddedPostgres) -> Iterator[psycopg.Connection[Any]]:
    _pg.create_database("erp")
    with psycopg.connect(_pg.url("erp"), autocommit=True) as conn:
        counts = seed_erp(conn, **SEED_SIZES)  # (its speed is the bench's business, not a test's)
        assert counts["supplier"] == SEED_SIZES["suppliers"]
        yield conn


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


# -- the ERP seed ----------------------------------------------------------------------------


def test_seed_counts_match_and_reseeding_changes_nothing(erp: psycopg.Connection[Any]) -> None:
    counts = seed_erp(erp, **SEED_SIZES)
    assert counts["supplier"] == 220
    assert counts["material"] == 1200
    assert counts["employee"] == 120
    assert counts["customer"] == 150
    assert 20 <= counts["department"] <= 30
    assert 220 <= counts["supplier_bank_account"] <= 440
    assert 220 <= counts["supplier_tax_identifier"] <= 440
    assert set(counts) == set(ERP_TABLES)
    actual = {t: _rows(erp, f"SELECT count(*) FROM {t}")[0][0] for t in ERP_TABLES}
    assert actual == counts


def test_codes_follow_the_erp_patterns(erp: psycopg.Connection[Any]) -> None:
    patterns = {"supplier": r"S\d{4}", "customer": r"C\d{4}", "employee": r"E\d{4}",
                "material": r"M-\d{4}", "department": r"D\d{2}(\d{2}){0,2}"}
    for table, pattern in patterns.items():
        codes = [c for (c,) in _rows(erp, f"SELECT code FROM {table}")]
        assert all(re.fullmatch(pattern, c) for c in codes), table
    assert _rows(erp, "SELECT min(code), max(code) FROM supplier")[0] == ("S0001", "S0220")
    assert _rows(erp, "SELECT min(code) FROM material")[0] == ("M-1001",)


def test_every_supplier_has_exactly_one_default_bank_account(erp: psycopg.Connection[Any]) -> None:
    rows = _rows(erp, """
        SELECT s.code, count(b.id), count(b.id) FILTER (WHERE b.is_default)
        FROM supplier s LEFT JOIN supplier_bank_account b ON b.supplier_id = s.id
        GROUP BY s.code""")
    assert len(rows) == 220
    assert all(1 <= accounts <= 2 and defaults == 1 for _, accounts, defaults in rows)
    assert any(accounts == 2 for _, accounts, _ in rows)
    for bank, number, holder, supplier in _rows(erp, """
            SELECT b.bank_name, b.account_no, b.account_name, s.name
            FROM supplier_bank_account b JOIN supplier s ON s.id = b.supplier_id"""):
        assert re.fullmatch(r"\d{16,19}", number)
        assert "银行" in bank and bank.endswith("行")
        assert holder == supplier


def test_every_supplier_has_one_valid_uscc(erp: psycopg.Connection[Any]) -> None:
    rows = _rows(erp, """
        SELECT s.code, array_agg(t.id_value) FILTER (WHERE t.id_type = 'USCC'),
               array_agg(t.id_value) FILTER (WHERE t.id_type = 'VAT')
        FROM supplier s LEFT JOIN supplier_tax_identifier t ON t.supplier_id = s.id
        GROUP BY s.code""")
    assert len(rows) == 220
    vat_count = 0
    for code, usccs, vats in rows:
        assert usccs is not None and len(usccs) == 1, code
        assert is_valid_uscc(usccs[0]), (code, usccs[0])
        if vats:
            vat_count += 1
            assert vats == [usccs[0][2:17]]  # the old 15-character 税号
    assert 0 < vat_count < 220
    types = {t for (t,) in _rows(erp, "SELECT DISTINCT id_type FROM supplier_tax_identifier")}
    assert types == {"USCC", "VAT"}
    customer_ids = [t for (t,) in _rows(erp, "SELECT tax_id FROM customer "
                                             "WHERE tax_id IS NOT NULL")]
    assert customer_ids and all(is_valid_uscc(t) for t in customer_ids)


def test_departments_form_a_three_level_tree(erp: psycopg.Connection[Any]) -> None:
    rows = _rows(erp, """
        SELECT d.code, p.code, d.manager_code, e.code, e.department_id = d.id
        FROM department d
        LEFT JOIN department p ON p.id = d.parent_id
        LEFT JOIN employee e ON e.code = d.manager_code""")
    parents = {code: parent for code, parent, *_ in rows}
    for code, parent in parents.items():
        if len(code) == 3:
            assert parent is None
        else:
            assert parent == code[:-2], code
    depth = {code: 1 + sum(1 for _ in _ancestors(code, parents)) for code in parents}
    assert set(depth.values()) == {1, 2, 3}
    managed = [(manager, found, same) for _, _, manager, found, same in rows if manager]
    assert len(managed) >= 20
    assert all(found == manager and same for manager, found, same in managed)
    names = {n for (n,) in _rows(erp, "SELECT name FROM department")}
    assert {"总经办", "财务部", "采购部", "生产部", "一车间", "仓储物流部", "原料仓"} <= names


def _ancestors(code: str, parents: dict[str, str | None]) -> Iterator[str]:
    seen: set[str] = set()
    parent = parents[code]
    while parent is not None:
        assert parent not in seen, f"cycle at {parent}"
        seen.add(parent)
        yield parent
        parent = parents[parent]


def test_materials_are_realistic_and_some_descriptions_are_toasted(
        erp: psycopg.Connection[Any]) -> None:
    long_count, longest = _rows(erp, """
        SELECT count(*) FILTER (WHERE length(description) > 4000), max(length(description))
        FROM material""")[0]
    assert long_count >= 10
    assert longest > 4000
    toast_bytes = _rows(erp, """
        SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'material'""")[0][0]
    assert toast_bytes > 0
    dangling = _rows(erp, """
        SELECT count(*) FROM material m LEFT JOIN supplier s ON s.code = m.default_supplier_code
        WHERE s.id IS NULL""")[0][0]
    assert dangling == 0
    uoms = {u for (u,) in _rows(erp, "SELECT DISTINCT uom FROM material")}
    assert uoms <= set("个件套米箱卷桶张") | {"千克"}
    assert len(uoms) >= 6
    price, weight = _rows(erp, "SELECT standard_price, weight_kg FROM material LIMIT 1")[0]
    assert isinstance(price, Decimal) and price.as_tuple().exponent == -4
    assert isinstance(weight, Decimal) and weight.as_tuple().exponent == -3
    shelf = _rows(erp, "SELECT count(*) FILTER (WHERE shelf_life_days > 0) FROM material")[0][0]
    assert 0 < shelf < 1200


def test_about_three_percent_of_rows_are_inactive(erp: psycopg.Connection[Any]) -> None:
    for table in ("supplier", "customer", "material", "employee"):
        total, inactive = _rows(erp, f"SELECT count(*), count(*) FILTER (WHERE NOT active) "
                                     f"FROM {table}")[0]
        assert 0.01 <= inactive / total <= 0.06, table


def test_people_and_companies_look_chinese(erp: psycopg.Connection[Any]) -> None:
    for name, gender, mobile, email, code in _rows(
            erp, "SELECT name, gender, mobile, email, code FROM employee"):
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", name)
        assert gender in ("M", "F")
        assert re.fullmatch(r"1[3-9]\d{9}", mobile)
        assert email == f"{code.lower()}@example.com"
    for (name,) in _rows(erp, "SELECT name FROM supplier UNION ALL SELECT name FROM customer"):
        assert name.endswith("有限公司"), name
    regions = {r for (r,) in _rows(erp, "SELECT DISTINCT region FROM customer")}
    assert {"华东", "华南"} <= regions
    audit = _rows(erp, "SELECT last_audit_at FROM supplier WHERE last_audit_at IS NOT NULL")[0][0]
    assert audit.tzinfo is not None


def test_seeding_is_deterministic(_pg: EmbeddedPostgres) -> None:
    dumps = []
    for name in ("seed_a", "seed_b"):
        _pg.create_database(name)
        with psycopg.connect(_pg.url(name)) as conn:
            seed_erp(conn, suppliers=15, materials=40, employees=30, customers=10, seed=7)
            dumps.append([
                _rows(conn, "SELECT code, name, address, credit_limit, last_audit_at FROM supplier "
                            "ORDER BY code"),
                _rows(conn, "SELECT id_value FROM supplier_tax_identifier ORDER BY id"),
                _rows(conn, "SELECT code, name, spec, standard_price, description FROM material "
                            "ORDER BY code"),
            ])
    assert dumps[0] == dumps[1]
    assert len(dumps[0][0]) == 15


# -- the targets -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target_urls(_pg: EmbeddedPostgres) -> dict[str, str]:
    urls = {}
    for system in ("oa", "wms"):
        _pg.create_database(f"target_{system}")
        urls[system] = _pg.url(f"target_{system}")
        prepare_target_database(urls[system], system)
        prepare_target_database(urls[system], system)  # idempotent
    return urls


@pytest.fixture
def oa(target_urls: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_target_app("oa", target_urls["oa"])) as client:
        yield client


@pytest.fixture
def wms(target_urls: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_target_app("wms", target_urls["wms"])) as client:
        yield client


def _count(url: str, query: str, *params: Any) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        assert row is not None
        return int(row[0])


def test_target_tables_have_the_documented_shape(target_urls: dict[str, str]) -> None:
    for system, collections in COLLECTIONS.items():
        with psycopg.connect(target_urls[system]) as conn:
            for table, key in collections.values():
                columns = {c for (c,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (table,))}
                assert {"id", key, "mdm_version", "updated_at"} <= columns, table
                unique = conn.execute("""
                    SELECT count(*) FROM pg_index i JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                    WHERE i.indrelid = %s::regclass AND i.indisunique AND a.attname = %s""",
                    (table, key)).fetchone()
                assert unique is not None and unique[0] == 1, table
            assert conn.execute("SELECT to_regclass('api_idempotency')").fetchone() == (
                "api_idempotency",)


VENDOR = {
    "vendor_name": "苏州恒达精密机械有限公司",
    "short_name": "恒达精密",
    "credit_limit": "1200.5",
    "payment_terms_days": 30,
    "established_on": "2015-03-01",
    "last_audit_at": "2024-05-06T10:30:00+08:00",
    "remark": "年度合格供应商",
    "bank_accounts": [{"bank": "中国工商银行苏州分行", "no": "6222020200112233445",
                       "default": True}],
    "tax_ids": {"USCC": "91350100M000100Y43"},
    "enabled": True,
    "mdm_version": 1,
}


def test_put_creates_then_updates_with_typed_values(oa: TestClient) -> None:
    created = oa.put("/api/vendors/S9001", json=VENDOR)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"] == "S9001" and body["status"] == "created"
    assert isinstance(body["id"], int)

    row = oa.get("/api/vendors/S9001").json()
    assert row["id"] == body["id"]
    assert row["vendor_code"] == "S9001"
    assert row["vendor_name"] == "苏州恒达精密机械有限公司"
    assert row["credit_limit"] == "1200.50"  # numeric(14,2) keeps its scale
    assert row["payment_terms_days"] == 30
    assert row["established_on"] == "2015-03-01"
    audit = datetime.fromisoformat(row["last_audit_at"])
    assert audit.tzinfo is not None
    assert audit == datetime.fromisoformat("2024-05-06T10:30:00+08:00")
    assert row["bank_accounts"] == VENDOR["bank_accounts"]
    assert row["tax_ids"] == {"USCC": "91350100M000100Y43"}
    assert row["enabled"] is True
    assert row["mdm_version"] == 1
    assert datetime.fromisoformat(row["updated_at"]).tzinfo is not None

    updated = oa.put("/api/vendors/S9001", json={
        "vendor_code": "S9001", "credit_limit": 98765.4321, "enabled": False,
        "remark": None, "mdm_version": 2})
    assert updated.status_code == 200, updated.text
    assert updated.json() == {"id": body["id"], "key": "S9001", "status": "updated"}
    row = oa.get("/api/vendors/S9001").json()
    assert row["credit_limit"] == "98765.43"
    assert row["enabled"] is False
    assert row["remark"] is None
    assert row["mdm_version"] == 2
    assert row["vendor_name"] == "苏州恒达精密机械有限公司"  # fields not sent are kept


def test_decimal_text_is_not_rounded_through_float(oa: TestClient) -> None:
    response = oa.put("/api/materials/M-9001", json={
        "material_name": "六角螺栓", "spec": "M8×30 GB/T 5782", "uom": "个",
        "standard_price": 1234567890.1234})
    assert response.status_code == 201, response.text
    assert oa.get("/api/materials/M-9001").json()["standard_price"] == "1234567890.1234"


def test_idempotent_replay_writes_nothing(oa: TestClient, target_urls: dict[str, str]) -> None:
    headers = {"Idempotency-Key": "vendors/S9002/v1"}
    first = oa.put("/api/vendors/S9002", json={"vendor_name": "深圳市华联电子科技有限公司",
                                               "mdm_version": 1}, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replay" not in first.headers
    before = oa.get("/api/vendors/S9002").json()

    replay = oa.put("/api/vendors/S9002", json={"vendor_name": "改过的名字", "mdm_version": 9},
                    headers=headers)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replay"] == "true"
    assert replay.json() == first.json()
    assert oa.get("/api/vendors/S9002").json() == before  # not even updated_at moved
    assert _count(target_urls["oa"], "SELECT count(*) FROM api_idempotency WHERE key = %s",
                  headers["Idempotency-Key"]) == 1
    stats = oa.get("/_stats").json()
    assert stats["replays"] == 1 and stats["puts"] == 2

    reused = oa.put("/api/vendors/S9003", json={"vendor_name": "x"}, headers=headers)
    assert reused.status_code == 422
    assert "S9002" in reused.json()["detail"]
    assert oa.get("/api/vendors/S9003").status_code == 404


def test_failed_write_does_not_store_its_idempotency_key(
        oa: TestClient, target_urls: dict[str, str]) -> None:
    headers = {"Idempotency-Key": "vendors/S9004/v1"}
    missing_name = oa.put("/api/vendors/S9004", json={"short_name": "无名"}, headers=headers)
    assert missing_name.status_code == 422
    assert "vendor_name" in missing_name.json()["detail"]
    assert _count(target_urls["oa"], "SELECT count(*) FROM api_idempotency WHERE key = %s",
                  headers["Idempotency-Key"]) == 0
    retried = oa.put("/api/vendors/S9004", json={"vendor_name": "无锡宏远五金制品有限公司"},
                     headers=headers)
    assert retried.status_code == 201
    assert "Idempotent-Replay" not in retried.headers


@pytest.mark.parametrize(("body", "field"), [
    ({"vendor_name": "甲", "colour": "red"}, "colour"),
    ({"vendor_name": "甲", "id": 5}, "id"),
    ({"vendor_name": "甲", "credit_limit": "abc"}, "credit_limit"),
    ({"vendor_name": "甲", "credit_limit": "1e13"}, "credit_limit"),
    ({"vendor_name": "甲", "established_on": "2024-13-45"}, "established_on"),
    ({"vendor_name": "甲", "payment_terms_days": "thirty"}, "payment_terms_days"),
    ({"vendor_name": "甲", "short_name": "长" * 61}, "short_name"),
    ({"vendor_name": "甲", "enabled": {"yes": 1}}, "enabled"),
])
def test_bad_fields_are_rejected_with_their_name(oa: TestClient, body: dict[str, Any],
                                                 field: str) -> None:
    response = oa.put("/api/vendors/S9100", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert oa.get("/api/vendors/S9100").status_code == 404


def test_a_body_key_other_than_the_path_key_renames_the_record(oa: TestClient) -> None:
    created = oa.put("/api/vendors/S9110", json={"vendor_name": "改码前"})
    assert created.status_code == 201
    renamed = oa.put("/api/vendors/S9110", json={"vendor_code": "S9111", "vendor_name": "改码后"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["id"] == created.json()["id"]
    assert oa.get("/api/vendors/S9110").status_code == 404
    assert oa.get("/api/vendors/S9111").json()["vendor_name"] == "改码后"
    # nothing to rename, or the new key taken: refused, nothing written
    missing = oa.put("/api/vendors/S9112", json={"vendor_code": "S9113", "vendor_name": "甲"})
    assert missing.status_code == 404 and "S9112" in missing.json()["detail"]
    assert oa.get("/api/vendors/S9113").status_code == 404
    assert oa.put("/api/vendors/S9114", json={"vendor_name": "乙"}).status_code == 201
    taken = oa.put("/api/vendors/S9114", json={"vendor_code": "S9111", "vendor_name": "乙"})
    assert taken.status_code == 409 and "S9111" in taken.json()["detail"]
    assert oa.get("/api/vendors/S9114").json()["vendor_name"] == "乙"


def test_non_object_body_is_rejected(oa: TestClient) -> None:
    response = oa.put("/api/vendors/S9101", content=b"[1, 2]",
                      headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert oa.put("/api/vendors/S9101", content=b"{nope").status_code == 422


def test_unknown_collection_and_missing_records(oa: TestClient) -> None:
    for response in (oa.put("/api/widgets/W1", json={}), oa.get("/api/widgets/W1"),
                     oa.get("/api/widgets"), oa.delete("/api/widgets/W1")):
        assert response.status_code == 404
        assert "widgets" in response.json()["detail"]
    missing = oa.get("/api/vendors/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
    assert oa.delete("/api/vendors/NOPE").status_code == 204


def test_delete_and_list(oa: TestClient) -> None:
    for code in ("D91", "D9101", "D9102"):
        assert oa.put(f"/api/departments/{code}", json={
            "dept_name": f"部门{code}", "parent_code": code[:-2] if len(code) > 3 else None,
        }).status_code == 201
    listing = oa.get("/api/departments", params={"limit": 2, "offset": 0}).json()
    assert len(listing["items"]) == 2 and listing["total"] >= 3
    everything = oa.get("/api/departments", params={"limit": 1000}).json()["items"]
    codes = [item["dept_code"] for item in everything]
    assert {"D91", "D9101", "D9102"} <= set(codes)
    ids = [item["id"] for item in everything]
    assert ids == sorted(ids)
    assert oa.get("/api/departments", params={"limit": 0}).status_code == 422

    assert oa.delete("/api/departments/D9102").status_code == 204
    assert oa.get("/api/departments/D9102").status_code == 404
    assert oa.delete("/api/departments/D9102").status_code == 204
    assert oa.get("/_stats").json()["deletes"] == 1


def test_fault_injection_fails_without_writing(oa: TestClient) -> None:
    armed = oa.post("/_faults", json={"fail_next": 2, "status": 503, "delay_ms": 0})
    assert armed.status_code == 200 and armed.json()["fail_next"] == 2
    for _ in range(2):
        failed = oa.put("/api/customers/C9001", json={"customer_name": "成都市博远商贸有限公司"})
        assert failed.status_code == 503
    assert oa.get("/api/customers/C9001").status_code == 404
    ok = oa.put("/api/customers/C9001", json={"customer_name": "成都市博远商贸有限公司",
                                              "region": "西南", "credit_limit": 500000})
    assert ok.status_code == 201
    assert oa.get("/_stats").json() == {"puts": 3, "replays": 0, "failures_injected": 2,
                                        "writes": 1, "deletes": 0, "batches": 0}

    oa.post("/_faults", json={"fail_next": 1, "status": 500})
    assert oa.delete("/api/customers/C9001").status_code == 500
    assert oa.get("/api/customers/C9001").status_code == 200

    oa.post("/_faults", json={"fail_next": 1, "status": 429, "delay_ms": 150})
    started = time.monotonic()
    assert oa.put("/api/customers/C9001", json={"region": "华北"}).status_code == 429
    assert time.monotonic() - started >= 0.15
    assert oa.get("/api/customers/C9001").json()["region"] == "西南"


def test_fault_delay_only_then_succeeds(oa: TestClient) -> None:
    oa.post("/_faults", json={"fail_next": 1, "status": 0, "delay_ms": 200})
    started = time.monotonic()
    response = oa.put("/api/customers/C9002", json={"customer_name": "青岛海天船舶配件有限公司"})
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.2
    assert oa.get("/_stats").json()["failures_injected"] == 0
    assert oa.post("/_faults", json={"fail_next": 1, "status": 42}).status_code == 422


def test_batch_answers_each_item_and_a_bad_item_fails_alone(wms: TestClient) -> None:
    items = [{"key": "M-B1", "version": 1, "idempotency_key": "k-b1",
              "payload": {"item_name": "六角螺栓", "unit": "个"}},
             {"key": "M-B2", "version": 1, "idempotency_key": "k-b2",
              "payload": {"item_name": "x" * 300}},  # longer than item_name allows
             {"key": "M-B3", "version": 2, "payload": {"item_name": "平垫圈", "unit": "个"}}]
    response = wms.post("/api/items/_batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[0]["stock_status"] == "待入库"  # WMS reports its own status of the item
    assert wms.get("/api/items/M-B1").json()["item_name"] == "六角螺栓"
    assert wms.get("/api/items/M-B2").status_code == 404
    again = wms.post("/api/items/_batch", json={"items": items[:1]}).json()["results"][0]
    assert again["status"] == 200 and again["id"] == results[0]["id"]  # replayed by its key
    assert wms.get("/_stats").json()["batches"] == 2


def test_faults_can_target_one_record_and_a_share_of_calls(oa: TestClient) -> None:
    oa.post("/_faults", json={"fail_next": 100, "status": 422, "keys": ["C9301"]})
    assert oa.put("/api/customers/C9301", json={"customer_name": "甲"}).status_code == 422
    assert oa.put("/api/customers/C9302", json={"customer_name": "乙"}).status_code == 201
    oa.post("/_faults", json={"fail_next": 200, "status": 500, "rate": 0.5})
    codes = [oa.put("/api/customers/C9303", json={"customer_name": "丙"}).status_code
             for _ in range(40)]
    assert 0 < codes.count(500) < 40 and set(codes) <= {500, 200, 201}
    oa.post("/_faults", json={"fail_next": 0})


def test_wms_items_round_trip(wms: TestClient) -> None:
    description = "本物料适用于数控车床主轴部位。" * 400  # > 4 KB
    response = wms.put("/api/items/M-1001", json={
        "item_name": "深沟球轴承", "spec": "6204-2RS", "unit": "套", "weight_kg": "0.063",
        "shelf_life_days": None, "effective_from": "2020-12-09", "description": description,
        "default_supplier_no": "S0001", "is_active": True, "mdm_version": 3})
    assert response.status_code == 201, response.text
    row = wms.get("/api/items/M-1001").json()
    assert row["weight_kg"] == "0.063"
    assert row["shelf_life_days"] is None
    assert row["effective_from"] == "2020-12-09"
    assert row["description"] == description
    assert row["is_active"] is True
    assert wms.get("/healthz").json() == {"status": "ok", "system": "wms"}
    assert wms.put("/api/vendors/S1", json={"vendor_name": "x"}).status_code == 404
    for collection in COLLECTIONS["wms"]:
        assert wms.get(f"/api/{collection}").status_code == 200
