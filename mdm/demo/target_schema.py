"""The demo targets' storage plumbing: a small connection pool and the typed columns of each
collection, read from information_schema."""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from mdm.errors import RuntimeSetupError

logger = logging.getLogger(__name__)

COLLECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "oa": {
        "vendors": ("oa_vendor", "vendor_code"),
        "staff": ("oa_staff", "staff_no"),
        "departments": ("oa_dept", "dept_code"),
        "customers": ("oa_customer", "customer_code"),
        "materials": ("oa_material", "material_code"),
    },
    "wms": {
        "suppliers": ("wms_supplier", "supplier_no"),
        "items": ("wms_item", "item_code"),
        "customers": ("wms_customer", "customer_no"),
        "operators": ("wms_operator", "operator_no"),
        "departments": ("wms_dept", "dept_code"),
    },
}
# Columns a system keeps for itself and reports in its answers: WMS's inbound status of an item
# (the hub carries it back as the material's wms_status, owned by WMS).
REPLY_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {"wms": {"items": ("stock_status",)}}
READ_ONLY_COLUMNS = ("id", "updated_at", "stock_status")
POOL_SIZE = 8
TEXT_TYPES = ("character varying", "character", "text")
JSON_TYPES = ("json", "jsonb")

# -- connections -----------------------------------------------------------------------------


class ConnectionPool:
    """At most `size` autocommit connections, reused LIFO; broken ones are discarded."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self._url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        if not self._slots.acquire(timeout=30):
            raise psycopg.OperationalError("no database connection available within 30 s")
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = self._take()
            yield conn
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _take(self) -> psycopg.Connection[Any]:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return psycopg.connect(self._url, autocommit=True)

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or conn.broken:
            return
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()
            return
        self._idle.put(conn)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# -- schema ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    cast: str  # the type values are cast to: the column's type without length/precision
    max_length: int | None
    precision: int | None
    scale: int | None


@dataclass(frozen=True)
class Collection:
    name: str
    table: str
    key: str
    columns: dict[str, Column]
    reply: tuple[str, ...] = ()  # columns reported in the answer to a write

    @property
    def writable(self) -> list[str]:
        return [c for c in self.columns if c not in READ_ONLY_COLUMNS]


def _cast_type(data_type: str, udt_schema: str, udt_name: str) -> str:
    if data_type in TEXT_TYPES:
        return "text"  # assignment to varchar(n) then rejects over-long values
    if data_type == "ARRAY":
        return f"{udt_name.lstrip('_')}[]"
    if data_type == "USER-DEFINED":
        return f'"{udt_schema}"."{udt_name}"'
    return data_type


def load_collections(conn: psycopg.Connection[Any], system: str) -> dict[str, Collection]:
    result: dict[str, Collection] = {}
    for name, (table, key) in COLLECTIONS[system].items():
        rows = conn.execute(
            "SELECT column_name, data_type, udt_schema, udt_name, character_maximum_length, "
            "numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        if not rows:
            raise RuntimeSetupError(
                f"table {table} is missing in the {system.upper()} database; "
                "run prepare_target_database first")
        columns = {
            r[0]: Column(r[0], _cast_type(r[1], r[2], r[3]), r[4],
                         r[5] if r[1] == "numeric" else None, r[6] if r[1] == "numeric" else None)
            for r in rows
        }
        result[name] = Collection(name, table, key, columns,
                                  REPLY_COLUMNS.get(system, {}).get(name, ()))
    return result
