"""Convergence: hundreds of random ERP changes (every entity, every operation, multi-row
transactions, one row updated many times in one transaction) end with golden == ERP and
OA/WMS == golden for every record."""
from __future__ import annotations

import random

import psycopg

from mdm.config.loader import load_project
from mdm.demo.sync import wait_idle
from mdm.runtime.settings import REPO_ROOT
from tests.helpers import convergence_problems, target_databases

PROJECT = load_project(REPO_ROOT)
MAIN_TABLES = ["supplier", "material", "customer", "employee", "department"]


def _ids(conn: psycopg.Connection, table: str) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def _insert(conn: psycopg.Connection, rng: random.Random, table: str, n: int) -> None:
    code = f"R{n:05d}"
    if table == "supplier":
        sid = conn.execute("INSERT INTO supplier (code, name, credit_limit, established_on) VALUES "
                           "(%s, %s, %s, %s) RETURNING id",
                           (code, f"随机供应商{n}有限公司", f"{rng.randint(1, 10**7)}.{rng.randint(0, 99):02d}",
                            f"20{rng.randint(0, 25):02d}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")).fetchone()[0]
        conn.execute("INSERT INTO supplier_bank_account (supplier_id, bank_name, account_name, account_no, is_default) "
                     "VALUES (%s, '中国建设银行', %s, %s, true)", (sid, code, f"62270{n:014d}"))
    elif table == "material":
        conn.execute("INSERT INTO material (code, name, uom, standard_price) VALUES (%s, %s, %s, %s)",
                     (code, f"随机物料{n}", rng.choice("个件套箱米"), f"{rng.randint(0, 9999)}.{rng.randint(0, 9999):04d}"))
    elif table == "customer":
        conn.execute("INSERT INTO customer (code, name, region) VALUES (%s, %s, %s)", (code, f"随机客户{n}", "华南"))
    elif table == "employee":
        conn.execute("INSERT INTO employee (code, name, hire_date) VALUES (%s, %s, %s)", (code, f"随机员工{n}", "2025-05-05"))
    else:
        conn.execute("INSERT INTO department (code, name) VALUES (%s, %s)", (code, f"随机部门{n}"))


def _update(conn: psycopg.Connection, rng: random.Random, table: str, row_id: int, n: int) -> None:
    column, value = {
        "supplier": ("name", f"改名供应商{n}"), "material": ("uom", rng.choice("个件套箱米")),
        "customer": ("credit_limit", f"{rng.randint(0, 10**6)}.{rng.randint(0, 99):02d}"),
        "employee": ("mobile", f"139{rng.randint(10**7, 10**8 - 1)}"), "department": ("name", f"部门{n}"),
    }[table]
    conn.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", (value, row_id))


def _hard_delete(conn: psycopg.Connection, table: str, row_id: int) -> None:
    if table == "department":
        conn.execute("UPDATE employee SET department_id = NULL WHERE department_id = %s", (row_id,))
        conn.execute("UPDATE department SET parent_id = NULL WHERE parent_id = %s", (row_id,))
    try:
        with conn.transaction():  # a savepoint: the ERP refuses to delete a row its documents name
            conn.execute(f"DELETE FROM {table} WHERE id = %s", (row_id,))
    except psycopg.errors.ForeignKeyViolation:
        conn.execute(f"UPDATE {table} SET active = NOT active WHERE id = %s", (row_id,))


def _child_change(conn: psycopg.Connection, rng: random.Random, n: int) -> None:
    accounts = _ids(conn, "supplier_bank_account")
    choice = rng.random()
    if choice < 0.4 or not accounts:
        supplier = rng.choice(_ids(conn, "supplier"))
        conn.execute("INSERT INTO supplier_bank_account (supplier_id, bank_name, account_name, account_no) "
                     "VALUES (%s, '中国农业银行', '随机', %s)", (supplier, f"62284{n:014d}"))
    elif choice < 0.7:
        conn.execute("UPDATE supplier_bank_account SET bank_name = %s WHERE id = %s", (f"交通银行{n}", rng.choice(accounts)))
    elif choice < 0.85:
        conn.execute("UPDATE supplier_bank_account SET active = NOT active WHERE id = %s", (rng.choice(accounts),))
    else:
        conn.execute("DELETE FROM supplier_bank_account WHERE id = %s", (rng.choice(accounts),))


def _random_operation(conn: psycopg.Connection, rng: random.Random, n: int) -> None:
    table = rng.choice(MAIN_TABLES)
    ids = _ids(conn, table)
    roll = rng.random()
    if roll < 0.2 or not ids:
        _insert(conn, rng, table, n)
    elif roll < 0.55:
        _update(conn, rng, table, rng.choice(ids), n)
    elif roll < 0.65:
        for k in range(rng.randint(3, 6)):  # one row updated many times in one transaction
            _update(conn, rng, table, ids[0] if k == 0 else ids[0], n * 10 + k)
    elif roll < 0.75:
        conn.execute(f"UPDATE {table} SET active = NOT active WHERE id = %s", (rng.choice(ids),))
    elif roll < 0.83:
        _hard_delete(conn, table, rng.choice(ids))
    else:
        _child_change(conn, rng, n)


def test_random_erp_changes_converge_everywhere(stack):
    rng = random.Random(20261125)
    applied = 0
    with psycopg.connect(stack.erp_url) as conn:
        for _tx in range(120):
            for _ in range(rng.randint(1, 5)):  # multi-row transactions
                applied += 1
                _random_operation(conn, rng, applied)
            conn.commit()
    assert applied >= 300
    wait_idle(stack.erp_url, stack.hub_url, timeout=300)
    problems = convergence_problems(PROJECT, stack.erp_url, stack.hub_url,
                                    target_databases(stack))
    assert problems == [], "\n".join(problems[:20])
