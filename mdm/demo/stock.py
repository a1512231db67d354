"""The demo WMS's stock levels (库存, table wms_stock: one row per material and warehouse),
seeded once from the ERP's materials so flow 7 has levels to send the ERP from the start."""
from __future__ import annotations

import logging
import random
from decimal import Decimal
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)
SQL_DIR = Path(__file__).parent / "sql"

WAREHOUSES = {"WH01": "原料仓", "WH02": "成品仓", "WH03": "备件仓"}
SEEDED_MATERIALS = 12  # the first active materials (M-1001 …) each get a level or two


def stock_levels(material_codes: list[str], seed: int = 7) -> list[tuple[str, str, Decimal, Decimal]]:
    """(item_code, warehouse, on_hand, reserved): every material in 原料仓 WH01, every third
    also in 成品仓 WH02, every fifth in 备件仓 WH03; quantities with three decimals."""
    rng = random.Random(seed)
    levels = []
    for index, code in enumerate(material_codes):
        warehouses = ["WH01"] + (["WH02"] if index % 3 == 0 else []) + (["WH03"] if index % 5 == 4 else [])
        for warehouse in warehouses:
            on_hand = Decimal(rng.randrange(0, 500_000)) / 1000
            reserved = min(on_hand, Decimal(rng.randrange(0, 50_000)) / 1000)
            levels.append((code, warehouse, on_hand, reserved))
    return levels


def prepare_stock_tables(wms_url: str, erp_url: str) -> None:
    """The WMS's wms_stock (after wms.sql) and the ERP's erp_stock with its interface log
    (idempotent: CREATE … IF NOT EXISTS)."""
    for url, name in ((wms_url, "wms_stock.sql"), (erp_url, "erp_stock.sql")):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute((SQL_DIR / name).read_text(encoding="utf-8"))


def seed_wms_stock(wms_url: str, erp_url: str, count: int = SEEDED_MATERIALS) -> int:
    """Fill wms_stock from the ERP's first `count` active materials, once (an empty table
    only); return the rows it holds."""
    with psycopg.connect(erp_url) as erp:
        codes = [row[0] for row in erp.execute(
            "SELECT code FROM material WHERE active ORDER BY code LIMIT %s", (count,))]
    with psycopg.connect(wms_url) as conn, conn.transaction():
        conn.execute("LOCK TABLE wms_stock IN SHARE ROW EXCLUSIVE MODE")
        row = conn.execute("SELECT count(*) FROM wms_stock").fetchone()
        if row and row[0]:
            return int(row[0])
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO wms_stock (item_code, warehouse, on_hand, reserved) "
                            "VALUES (%s, %s, %s, %s)", stock_levels(codes))
        row = conn.execute("SELECT count(*) FROM wms_stock").fetchone()
    logger.info("WMS stock seeded: %d levels", row[0] if row else 0)
    return int(row[0]) if row else 0


ERP_MQ_TARGET = Path(__file__).parent / "flow7" / "erp_mq.yaml"


def project_with_erp_mq(project: Path, into: Path, exchange: str = "erp.stock") -> Path:
    """A copy of `project` (made again each time: the project as it is now) with flow 7's
    message target, targets/erp_mq.yaml, on `exchange`: the project a demo with a broker runs."""
    import shutil

    from mdm.config.loader import PROJECT_FOLDERS

    if into.exists():
        shutil.rmtree(into)
    for folder in PROJECT_FOLDERS:
        if (project / folder).is_dir():
            shutil.copytree(project / folder, into / folder)
    (into / "targets").mkdir(parents=True, exist_ok=True)
    text = ERP_MQ_TARGET.read_text(encoding="utf-8")
    (into / "targets" / "erp_mq.yaml").write_text(
        text.replace("exchange: erp.stock\n", f"exchange: {exchange}\n"), encoding="utf-8")
    return into


DEFAULT_MQ_URL = "amqp://guest:guest@127.0.0.1:5672/"  # RabbitMQ's own default, on loopback


def broker_answers(url: str = DEFAULT_MQ_URL, timeout_s: float = 1.0) -> bool:
    """Whether a RabbitMQ answers at `url`: a TCP connect, then the AMQP handshake (login
    included), each bounded by `timeout_s`, so a closed port, a silent listener or a broker
    refusing the login is False within about twice `timeout_s`, never a hang."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    import aio_pika

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672),
                                      timeout=timeout_s):
            pass
    except OSError:
        return False

    async def handshake() -> None:
        connection = await asyncio.wait_for(aio_pika.connect(url, timeout=timeout_s), timeout_s)
        await connection.close()

    try:
        asyncio.run(handshake())
    except Exception:  # noqa: BLE001 — any failure of the handshake: no broker for the demo
        return False
    return True


def open_deliveries(hub_url: str, target: str) -> int:
    """Deliveries to `target` still pending or failed in the hub's store."""
    with psycopg.connect(hub_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM delivery WHERE target = %s AND status IN "
                           "('pending', 'failed')", (target,)).fetchone()
    return int(row[0]) if row else 0
