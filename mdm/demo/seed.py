"""Seed the demo ERP with realistic, deterministic Chinese master data (用友/金蝶 style).

Creates the tables of `sql/erp.sql` and, when `supplier` is empty, fills every table via COPY.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from mdm.demo.uscc import make_uscc
from mdm.demo.vocabulary import (
    BANKS,
    CITIES,
    CITY_WEIGHTS,
    CUSTOMER_INDUSTRIES,
    DEPARTMENTS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    MATERIAL_KINDS,
    ROADS,
    SUPPLIER_INDUSTRIES,
    SUPPLIER_REMARKS,
    SURNAMES,
    TRADE_NAMES,
    City,
    Department,
    long_description,
    sentence,
)
from mdm.rules.uscc import USCC_ALPHABET, is_valid_uscc, uscc_check_digit  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)
T = TypeVar("T")

ERP_SQL = Path(__file__).parent / "sql" / "erp.sql"
ERP_TABLES = (
    "department", "employee", "supplier", "supplier_bank_account",
    "supplier_tax_identifier", "customer", "material",
)
INACTIVE_RATE = 0.03
LONG_DESCRIPTION_RATE = 0.03
CST = timezone(timedelta(hours=8), "CST")
_SEED_LOCK_ID = 0x6D646D5345454400  # pg_advisory_xact_lock key: "mdmSEED"

# -- record builders -------------------------------------------------------------------------


def _person_name(rng: random.Random) -> tuple[str, str]:
    gender = rng.choice("MF")
    pool = GIVEN_MALE if gender == "M" else GIVEN_FEMALE
    given = "".join(rng.choice(pool) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given, gender


def _mobile(rng: random.Random) -> str:
    prefix = rng.choice(("130", "131", "133", "135", "136", "137", "138", "139", "150", "151",
                         "152", "155", "158", "159", "177", "180", "181", "186", "187", "188",
                         "189", "199"))
    return prefix + f"{rng.randint(0, 99_999_999):08d}"


def _landline(rng: random.Random, city: City) -> str:
    return f"{city.area_code}-{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"


def _address(rng: random.Random, city: City, district: str) -> str:
    head = city.province if city.is_municipality else f"{city.province}{city.name}市"
    number = f"{rng.randint(1, 999)}号"
    extra = rng.choice(("", "", "", f"{rng.randint(1, 12)}号厂房", f"{rng.choice('ABCD')}栋"
                        f"{rng.randint(1, 9)}楼"))
    return f"{head}{district}{rng.choice(ROADS)}{number}{extra}"


def _company_name(rng: random.Random, city: City, industry: str, taken: set[str]) -> str:
    for _ in range(50):
        place = city.name + ("市" if rng.random() < 0.5 else "")
        suffix = "股份有限公司" if rng.random() < 0.15 else "有限公司"
        name = f"{place}{rng.choice(TRADE_NAMES)}{industry}{suffix}"
        if name not in taken:
            taken.add(name)
            return name
    name = f"{city.name}{rng.choice(TRADE_NAMES)}{rng.choice(TRADE_NAMES)}{industry}有限公司"
    taken.add(name)
    return name


def _money(rng: random.Random, low: int, high: int, step: int) -> Decimal:
    return Decimal(rng.randrange(low, high + 1, step)).quantize(Decimal("0.01"))


def _random_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _inactive_indexes(rng: random.Random, candidates: Sequence[T]) -> set[T]:
    """About INACTIVE_RATE of `candidates`, chosen at random."""
    count = round(len(candidates) * INACTIVE_RATE)
    return set(rng.sample(list(candidates), count))


@dataclass
class _Supplier:
    row: tuple[Any, ...]
    code: str
    name: str
    category: str
    city: City
    division: str
    established_on: date


def _supplier(rng: random.Random, index: int, taken: set[str], active: bool) -> _Supplier:
    city = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
    district, division = city.pick_district(rng)
    industry, short, category = rng.choice(SUPPLIER_INDUSTRIES)
    name = _company_name(rng, city, industry, taken)
    trade = name.removeprefix(city.name).removeprefix("市")[:2]
    contact, _ = _person_name(rng)
    phone = _mobile(rng) if rng.random() < 0.3 else _landline(rng, city)
    established = _random_date(rng, date(1995, 1, 1), date(2021, 12, 31))
    audit = None
    if rng.random() < 0.9:
        audit = datetime(2023, 1, 1, 8, 30, tzinfo=CST) + timedelta(
            days=rng.randint(0, 900), minutes=rng.randint(0, 600))
    remark = rng.choice(SUPPLIER_REMARKS) if rng.random() < 0.6 else None
    code = f"S{index:04d}"
    row = (code, name, trade + short, category, contact, phone, _address(rng, city, district),
           _money(rng, 50_000, 5_000_000, 10_000), rng.choice((0, 15, 30, 30, 45, 60, 60, 90, 120)),
           established, audit, remark, active)
    return _Supplier(row, code, name, category, city, division, established)


def _bank_accounts(rng: random.Random, supplier: _Supplier) -> list[tuple[Any, ...]]:
    count = 2 if rng.random() < 0.3 else 1
    default_at = rng.randrange(count)
    rows = []
    for i, (bank, length) in enumerate(rng.sample(BANKS, count)):
        branch = f"{supplier.city.name}分行" if rng.random() < 0.5 else (
            f"{supplier.city.name}{rng.choice(supplier.city.districts)[0][:-1]}支行")
        number = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))
        is_default = i == default_at
        active = is_default or rng.random() >= 0.1
        rows.append((bank + branch, supplier.name, number, is_default, active))
    return rows


def _tax_identifiers(rng: random.Random, supplier: _Supplier) -> list[tuple[Any, ...]]:
    uscc = make_uscc(rng, supplier.division)
    issued = max(supplier.established_on, date(2016, 1, 1))  # USCCs replaced old codes in 2016
    valid_from = issued + timedelta(days=rng.randint(0, 400))
    rows: list[tuple[Any, ...]] = [("USCC", uscc, valid_from)]
    if rng.random() < 0.25:  # old 15-character 纳税人识别号: 行政区划码 + 组织机构代码
        rows.append(("VAT", uscc[2:17], supplier.established_on))
    return rows


def _customer(rng: random.Random, index: int, taken: set[str], active: bool) -> tuple[Any, ...]:
    city = rng.choices(CITIES, weights=CITY_WEIGHTS)[0]
    _, division = city.pick_district(rng)
    name = _company_name(rng, city, rng.choice(CUSTOMER_INDUSTRIES), taken)
    contact, _ = _person_name(rng)
    phone = _mobile(rng) if rng.random() < 0.5 else _landline(rng, city)
    tax_id = make_uscc(rng, division) if rng.random() < 0.92 else None
    return (f"C{index:04d}", name, city.region, _money(rng, 100_000, 20_000_000, 50_000), tax_id,
            contact, phone, active)


def _material(rng: random.Random, index: int, suppliers: list[_Supplier], long_text: bool,
              active: bool, taken: set[tuple[str, str]]) -> tuple[Any, ...]:
    for _ in range(20):  # avoid exact duplicates while the combinations last
        kind = rng.choice(MATERIAL_KINDS)
        spec = kind.make_spec(rng)
        if (kind.name, spec) not in taken:
            break
    taken.add((kind.name, spec))
    price = Decimal(str(round(rng.uniform(*kind.price), 4))).quantize(Decimal("0.0001"))
    weight = Decimal(str(round(rng.uniform(*kind.weight), 3))).quantize(Decimal("0.001"))
    matching = [s for s in suppliers if s.category == kind.category] or suppliers
    supplier_code = rng.choice(matching).code if matching else None
    if long_text:
        description: str | None = long_description(rng, kind.name, spec)
    elif rng.random() < 0.8:
        description = f"{kind.name}，规格{spec}，{kind.usage}。" + sentence(rng)
    else:
        description = None
    effective = _random_date(rng, date(2018, 1, 1), date(2025, 6, 30))
    return (f"M-{1000 + index}", kind.name, spec, kind.category, kind.uom, price, weight,
            supplier_code, kind.shelf_life_days, effective, description, active)


@dataclass
class _Employee:
    code: str
    department: Department
    title: str
    is_manager: bool


def _staffing(rng: random.Random, count: int) -> list[_Employee]:
    """One manager per active department first, then staff spread over the departments."""
    active = [d for d in DEPARTMENTS if d.active]
    staff: list[_Employee] = []
    for dept in active[:count]:
        staff.append(_Employee("", dept, dept.manager_title, True))
    weights = [3 if len(d.code) == 7 else 2 if len(d.code) == 5 else 1 for d in active]
    while len(staff) < count:
        dept = rng.choices(active, weights=weights)[0]
        staff.append(_Employee("", dept, rng.choice(dept.staff_titles), False))
    for i, employee in enumerate(staff, start=1):
        employee.code = f"E{i:04d}"
    return staff


def _employee_row(rng: random.Random, emp: _Employee, dept_ids: dict[str, int],
                  active: bool) -> tuple[Any, ...]:
    name, gender = _person_name(rng)
    low, high = emp.department.salary
    floor = high - (high - low) // 3 if emp.is_manager else low
    salary = _money(rng, floor // 100 * 100, high, 100)
    hired = _random_date(rng, date(2008, 3, 1), date(2025, 3, 31))
    return (emp.code, name, gender, dept_ids[emp.department.code], emp.title, _mobile(rng),
            f"{emp.code.lower()}@example.com", hired, salary, active)


# -- database --------------------------------------------------------------------------------


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _ids(conn: psycopg.Connection, table: str) -> dict[str, int]:
    return {code: id_ for code, id_ in conn.execute(f"SELECT code, id FROM {table}")}


def _insert_departments(conn: psycopg.Connection) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO department (code, name, parent_id, active) "
            "VALUES (%s, %s, (SELECT id FROM department WHERE code = %s), %s)",
            [(d.code, d.name, d.parent_code, d.active) for d in DEPARTMENTS],
        )
    return _ids(conn, "department")


def _insert_employees(conn: psycopg.Connection, rng: random.Random, count: int,
                      dept_ids: dict[str, int]) -> None:
    staff = _staffing(rng, count)
    leavers = _inactive_indexes(rng, [e.code for e in staff if not e.is_manager])
    _copy(conn, "employee", ("code", "name", "gender", "department_id", "title", "mobile", "email",
                             "hire_date", "monthly_salary", "active"),
          [_employee_row(rng, emp, dept_ids, emp.code not in leavers) for emp in staff])
    managers = [(emp.code, emp.department.code) for emp in staff if emp.is_manager]
    with conn.cursor() as cur:
        cur.executemany("UPDATE department SET manager_code = %s WHERE code = %s", managers)


def _insert_suppliers(conn: psycopg.Connection, rng: random.Random, count: int,
                      taken: set[str]) -> list[_Supplier]:
    inactive = _inactive_indexes(rng, range(1, count + 1))
    suppliers = [_supplier(rng, i, taken, i not in inactive) for i in range(1, count + 1)]
    _copy(conn, "supplier", ("code", "name", "short_name", "category", "contact_person", "phone",
                             "address", "credit_limit", "payment_terms_days", "established_on",
                             "last_audit_at", "remark", "active"),
          [s.row for s in suppliers])
    ids = _ids(conn, "supplier")
    banks, taxes = [], []
    for supplier in suppliers:
        sid = ids[supplier.code]
        banks += [(sid, *row) for row in _bank_accounts(rng, supplier)]
        taxes += [(sid, *row) for row in _tax_identifiers(rng, supplier)]
    _copy(conn, "supplier_bank_account",
          ("supplier_id", "bank_name", "account_name", "account_no", "is_default", "active"), banks)
    _copy(conn, "supplier_tax_identifier", ("supplier_id", "id_type", "id_value", "valid_from"),
          taxes)
    return suppliers


def _insert_customers(conn: psycopg.Connection, rng: random.Random, count: int,
                      taken: set[str]) -> None:
    inactive = _inactive_indexes(rng, range(1, count + 1))
    _copy(conn, "customer", ("code", "name", "region", "credit_limit", "tax_id", "contact_person",
                             "phone", "active"),
          [_customer(rng, i, taken, i not in inactive) for i in range(1, count + 1)])


def _insert_materials(conn: psycopg.Connection, rng: random.Random, count: int,
                      suppliers: list[_Supplier]) -> None:
    long_count = max(1, round(count * LONG_DESCRIPTION_RATE)) if count else 0
    long_indexes = set(rng.sample(range(1, count + 1), long_count))
    taken: set[tuple[str, str]] = set()
    inactive = _inactive_indexes(rng, range(1, count + 1))
    rows = [_material(rng, i, suppliers, i in long_indexes, i not in inactive, taken)
            for i in range(1, count + 1)]
    _copy(conn, "material", ("code", "name", "spec", "category", "uom", "standard_price",
                             "weight_kg", "default_supplier_code", "shelf_life_days",
                             "effective_from", "description", "active"), rows)
    conn.execute("UPDATE material m SET default_supplier_id = s.id FROM supplier s "
                 "WHERE s.code = m.default_supplier_code")


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row counts of the ERP tables."""
    counts = {}
    for table in ERP_TABLES:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def seed_erp(conn: psycopg.Connection, *, suppliers: int = 220, materials: int = 1200,
             employees: int = 120, customers: int = 150, seed: int = 42) -> dict[str, int]:
    """Create the ERP tables and, if `supplier` is empty, fill them; return row counts per table."""
    rng = random.Random(seed)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK_ID,))
        conn.execute(ERP_SQL.read_text(encoding="utf-8"))
        if conn.execute("SELECT 1 FROM supplier LIMIT 1").fetchone():
            logger.info("ERP already seeded; leaving its data unchanged")
            return table_counts(conn)
        dept_ids = _insert_departments(conn)
        _insert_employees(conn, rng, employees, dept_ids)
        company_names: set[str] = set()
        supplier_list = _insert_suppliers(conn, rng, suppliers, company_names)
        _insert_customers(conn, rng, customers, company_names)
        _insert_materials(conn, rng, materials, supplier_list)
        counts = table_counts(conn)
    logger.info("ERP seeded: %s", ", ".join(f"{t}={n}" for t, n in counts.items()))
    return counts
