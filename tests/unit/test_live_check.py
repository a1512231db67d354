"""`mdm check --live`'s comparison, without a database: a project and a catalog snapshot in,
findings out (each naming file, key and what was expected)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from mdm.capture.introspect import libpq_url, postgres_family, url_connector
from mdm.config.live_check import Catalog, Column, Family, Finding, Table, compare, fits, probes
from mdm.config.loader import Project, load_project

FILES = {
    "cdc/erp.yaml": "name: erp\nurl: ${MDM_ERP_URL}\n",
    "cdc/oa.yaml": """name: oa
authority: observed
observes: oa
url: ${MDM_OA_DB_URL}
slot: mdm_oa
publication: mdm_oa
tables:
  public.oa_party: {entity: party, columns: {p_name: pname}}
""",
    "targets/oa.yaml": "name: oa\nkind: rest\nbase_url: http://oa.example\n",
    "targets/hr.yaml": """name: hr
kind: sql
url: postgresql+psycopg://hub@db.example/hr
entities:
  party:
    table: hr_party
    key: party_no
    active_field: active
    fields: {party_no: code, party_name: name, born: founded}
""",
    "golden_records/party.yaml": """entity: party
table: public.party
business_key: code
where: "kind = 'S'"
attributes:
  code: {type: string}
  name: {type: string, column: full_name}
  credit: {type: decimal}
  founded: {type: date}
  score: {type: float}
retired_when: {column: active, equals: false}
ignore_columns: [created_at]
children:
  lines:
    table: public.party_line
    parent_column: party_id
    attributes:
      seq: {type: integer}
      note: {type: string}
    order_by: seq
targets:
  oa: {path: /parties, active_field: enabled, fields: {p_code: code, p_name: name}}
""",
}
TYPES: Mapping[str, tuple[str, Family]] = {
    "int": ("integer", "integer"), "text": ("character varying(40)", "text"),
    "num": ("numeric(14,2)", "numeric"), "date": ("date", "date"),
    "float": ("double precision", "float"), "bool": ("boolean", "boolean"),
    "ts": ("timestamp without time zone", "timestamp"),
}
PARTY = {"id": "int", "code": "text", "full_name": "text", "credit": "num", "founded": "date",
         "score": "float", "active": "bool", "created_at": "ts", "kind": "text"}
LINE = {"id": "int", "party_id": "int", "seq": "int", "note": "text", "created_at": "ts"}


def _table(name: str, columns: Mapping[str, str]) -> Table:
    made = {}
    for column, kind in columns.items():
        written, family = TYPES[kind]
        made[column] = Column(column, written, family, 2 if kind == "num" else None)
    return Table(name, made)


def _catalogs(party: Mapping[str, str] = PARTY, line: Mapping[str, str] | None = LINE,
              hr: Mapping[str, str] | None = None, oa: Mapping[str, str] | None = None,
              refused: str | None = None) -> dict[str, Catalog]:
    erp = {"public.party": _table("public.party", party)}
    if line is not None:
        erp["public.party_line"] = _table("public.party_line", line)
    hr_columns = hr or {"party_no": "text", "party_name": "text", "born": "date", "active": "bool"}
    oa_columns = oa or {"id": "int", "p_code": "text", "pname": "text"}
    return {
        "source erp": Catalog("source erp", erp, {("public.party", "kind = 'S'"): refused},
                              frozenset({*erp, "public.party_lines"})),
        "source oa": Catalog("source oa", {"public.oa_party": _table("public.oa_party", oa_columns)}),
        "target hr": Catalog("target hr", {"public.hr_party": _table("public.hr_party", hr_columns)}),
    }


@pytest.fixture()
def loaded(tmp_path: Path) -> Project:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return load_project(tmp_path)


def _one(findings: list[Finding], file: str, key: str) -> Finding:
    matching = [f for f in findings if f.file == file and f.key == key]
    assert len(matching) == 1, findings
    return matching[0]


PARTY_FILE = "golden_records/party.yaml"


def test_a_catalog_that_has_everything_gives_no_finding(loaded: Project):
    assert compare(loaded, _catalogs()) == []


def test_a_renamed_column_is_an_error_naming_file_key_and_column(loaded: Project):
    party = {k: v for k, v in PARTY.items() if k != "full_name"} | {"fullname": "text"}
    found = _one(compare(loaded, _catalogs(party=party)), PARTY_FILE, "attributes.name.column")
    assert found.level == "error"
    assert "column 'full_name' does not exist in public.party (did you mean 'fullname'?)" in found.message


@pytest.mark.parametrize(("column", "kind", "declared"), [
    ("credit", "text", "decimal"), ("founded", "int", "date"), ("score", "text", "float"),
])
def test_types_that_do_not_fit_are_errors(loaded: Project, column: str, kind: str, declared: str):
    findings = compare(loaded, _catalogs(party={**PARTY, column: kind}))
    found = _one(findings, PARTY_FILE, f"attributes.{column}")
    assert found.level == "error"
    assert found.message.startswith(f"type {declared} cannot be read from column public.party.{column}")
    assert TYPES[kind][0] in found.message


@pytest.mark.parametrize(("column", "kind"), [("code", "int"), ("score", "num"), ("credit", "int")])
def test_types_that_read_without_loss_are_no_finding(loaded: Project, column: str, kind: str):
    assert compare(loaded, _catalogs(party={**PARTY, column: kind})) == []


def test_the_compatibility_table():
    def column(family: Family, scale: int | None = None) -> Column:
        return Column("c", family, family, scale)

    assert "integer" not in fits(column("text"), "read")
    assert "decimal" not in fits(column("text"), "read")
    assert "integer" in fits(column("numeric", 0), "read")
    assert "integer" not in fits(column("numeric", 2), "read")
    assert {"float", "decimal"} <= fits(column("float"), "read")
    assert "integer" not in fits(column("float"), "read")
    assert "string" not in fits(column("date"), "read")  # Debezium sends epoch days
    assert fits(column("timestamptz"), "read") == {"timestamptz"}
    assert "date" in fits(column("text"), "write")  # a target's text column takes anything
    assert "string" not in fits(column("integer"), "write")


def test_an_ignored_column_that_no_table_has_is_a_typo(loaded: Project):
    party = {k: v for k, v in PARTY.items() if k != "created_at"} | {"created_on": "ts"}
    line = {k: v for k, v in LINE.items() if k != "created_at"}
    found = _one(compare(loaded, _catalogs(party=party, line=line)), PARTY_FILE, "ignore_columns.0")
    assert "column 'created_at' is in none of public.party, public.party_line" in found.message
    assert "did you mean 'created_on'?" in found.message


def test_an_ignored_column_of_a_child_table_only_is_no_typo(loaded: Project):
    party = {k: v for k, v in PARTY.items() if k != "created_at"}
    assert compare(loaded, _catalogs(party=party)) == []


def test_columns_neither_mapped_nor_ignored_are_a_note(loaded: Project):
    found = _one(compare(loaded, _catalogs(party={**PARTY, "fax": "text"})), PARTY_FILE, "table")
    assert found.level == "note"
    assert "neither mapped nor ignored: fax" in found.message


def test_a_missing_child_table_is_named_with_a_hint(loaded: Project):
    findings = compare(loaded, _catalogs(line=None))
    found = _one(findings, PARTY_FILE, "children.lines.table")
    assert found.level == "error"
    assert "table public.party_line does not exist in source erp's database" in found.message
    assert "did you mean 'public.party_lines'?" in found.message


def test_a_where_the_database_refuses_is_an_error_with_its_message(loaded: Project):
    refusal = "operator does not exist: character varying > integer"
    found = _one(compare(loaded, _catalogs(refused=refusal)), PARTY_FILE, "where")
    assert found.level == "error" and refusal in found.message


def test_a_where_naming_a_missing_column_is_an_error(loaded: Project):
    party = {k: v for k, v in PARTY.items() if k != "kind"} | {"kinds": "text"}
    found = _one(compare(loaded, _catalogs(party=party)), PARTY_FILE, "where")
    assert "names column(s) kind, which public.party does not have" in found.message


def test_a_parent_column_of_another_type_than_the_parent_key(loaded: Project):
    line = {**LINE, "party_id": "text"}
    found = _one(compare(loaded, _catalogs(line=line)), PARTY_FILE, "children.lines.parent_column")
    assert "is character varying(40), but public.party.id, the key it points to, is integer" in found.message


def test_a_missing_parent_column_and_order_by_column(loaded: Project):
    line = {k: v for k, v in LINE.items() if k not in ("party_id", "seq")}
    findings = compare(loaded, _catalogs(line=line))
    assert "column 'party_id'" in _one(findings, PARTY_FILE, "children.lines.parent_column").message
    seq = _one(findings, PARTY_FILE, "children.lines.attributes.seq")
    assert "column 'seq' (order_by seq) does not exist" in seq.message


def test_sql_target_columns_and_types(loaded: Project):
    hr = {"party_no": "text", "party_name": "text", "born": "int"}
    findings = compare(loaded, _catalogs(hr=hr))
    born = _one(findings, "targets/hr.yaml", "entities.party.fields.born")
    assert born.message.startswith("type date cannot be written to column public.hr_party.born")
    active = _one(findings, "targets/hr.yaml", "entities.party.active_field")
    assert "column 'active' does not exist in public.hr_party" in active.message


def test_an_observed_copy_names_its_columns_and_notes_its_types(loaded: Project):
    findings = compare(loaded, _catalogs(oa={"id": "int", "p_code": "date", "p_name": "text"}))
    missing = _one(findings, "cdc/oa.yaml", "tables.public.oa_party.columns.p_name")
    assert missing.level == "error" and "column 'pname'" in missing.message
    typed = _one(findings, "cdc/oa.yaml", "tables.public.oa_party")
    assert typed.level == "note" and "party's field p_code in its mapping to oa" in typed.message


def test_a_database_without_a_catalog_is_not_judged(loaded: Project):
    catalogs = _catalogs(hr={"nothing": "text"})
    del catalogs["target hr"]
    assert compare(loaded, catalogs) == []


def test_probes_name_each_database_its_tables_and_filters(loaded: Project):
    found = {p.database: p for p in probes(loaded)}
    assert set(found) == {"source erp", "source oa", "target hr"}
    erp = found["source erp"]
    assert erp.file == "cdc/erp.yaml" and erp.url == "${MDM_ERP_URL}"
    assert erp.tables == ("public.party", "public.party_line")
    assert erp.filters == (("public.party", "kind = 'S'"),)
    assert found["target hr"].connector is None and found["target hr"].tables == ("public.hr_party",)
    assert found["source oa"].tables == ("public.oa_party",)


@pytest.mark.parametrize(("typname", "category", "family"), [
    ("varchar", "S", "text"), ("bpchar", "S", "text"), ("int8", "N", "integer"),
    ("numeric", "N", "numeric"), ("float8", "N", "float"), ("timestamptz", "D", "timestamptz"),
    ("jsonb", "U", "json"), ("_int4", "A", "json"), ("mood", "E", "text"), ("point", "G", "other"),
])
def test_postgres_types_map_to_families(typname: str, category: str, family: str):
    assert postgres_family(typname, category) == family


def test_sql_target_urls_name_their_connector_and_libpq_form():
    assert url_connector("postgresql+psycopg://u@h/db") == "postgresql"
    assert url_connector("mysql+pymysql://u@h/db") == "mysql"
    assert libpq_url("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_read_only_snapshots_need_postgresql_13_or_a_signal_table(loaded: Project,
                                                                  tmp_path: Path):
    catalogs = _catalogs()
    erp = catalogs["source erp"]
    old = compare(loaded, {**catalogs, "source erp": replace(erp, server_version=120015)})
    finding = _one(old, "cdc/erp.yaml", "signal_table")
    assert finding.level == "error"
    assert finding.message == (
        "unset, so incremental snapshots are read-only, which needs PostgreSQL 13 or later "
        "(pg_current_snapshot()); source erp's server is 12.15: set signal_table: schema.table "
        "(capture creates it)")
    recent = compare(loaded, {**catalogs, "source erp": replace(erp, server_version=130000)})
    assert [f for f in recent if f.file == "cdc/erp.yaml"] == []
    (tmp_path / "cdc/erp.yaml").write_text("name: erp\nurl: ${MDM_ERP_URL}\n"
                                           "signal_table: mdm_signal\n", encoding="utf-8")
    with_table = load_project(tmp_path)
    assert "public.mdm_signal" in next(p for p in probes(with_table)
                                       if p.database == "source erp").tables
    on_old = {**catalogs, "source erp": replace(erp, server_version=120015)}
    assert _one(compare(with_table, on_old), "cdc/erp.yaml", "signal_table").level == "note"


@pytest.mark.parametrize(("columns", "level"), [
    ({"id": "text", "type": "text", "data": "text"}, None),
    ({"signal_id": "text", "kind": "text", "payload": "text", "at": "ts"}, None),  # by position
    ({"id": "int", "type": "text", "data": "text"}, "error"),
    ({"id": "text", "type": "text"}, "error"),
])
def test_a_signal_table_needs_three_text_columns_first(tmp_path: Path, columns, level):
    for name, text in {**FILES, "cdc/erp.yaml": "name: erp\nurl: ${MDM_ERP_URL}\n"
                       "signal_table: mdm_signal\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    catalogs = _catalogs()
    erp = catalogs["source erp"]
    signal = _table("public.mdm_signal", columns)
    with_signal = replace(erp, tables={**erp.tables, "public.mdm_signal": signal})
    found = [f for f in compare(load_project(tmp_path), {**catalogs, "source erp": with_signal})
             if f.key == "signal_table"]
    assert [f.level for f in found] == ([] if level is None else [level])
    if level:
        assert "first three columns must be text for id, type and data" in found[0].message
