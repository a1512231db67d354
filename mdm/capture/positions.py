"""Per-connector stream positions: Debezium's `source` block → (a text that sorts in stream
order, an integer the inbox keeps as `lsn`).

Keyed by Debezium's `source.connector` value; `models.position_of` dispatches here (PostgreSQL
when the block names none). Each function returns (None, None) when the block carries no
position, and raises ValueError for a malformed one (the record is then kept failed).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mdm.capture.storable import bigint

Position = tuple[str | None, int | None]

_BINLOG_INDEX = re.compile(r"\.(\d{1,10})$")


def mysql_position(block: dict[str, Any]) -> Position:
    """MySQL/MariaDB binlog: `file` (mysql-bin.000042), `pos` (the event's offset in it) and
    `row` (the row within a multi-row event) → "<file#>/<pos>/<row>" in fixed-width hex, then
    "/<gtid>" where the server reports one (lineage only: the prefix already orders). The
    integer is file# << 32 | pos (binlog files stay below 4 GiB), monotone along the stream.
    Snapshot reads carry the snapshot's binlog point and row 0: their order among themselves
    is the inbox's, as for PostgreSQL."""
    file, pos = block.get("file"), block.get("pos")
    if file in (None, "") and pos in (None, 0):
        return None, None
    if not isinstance(file, str):
        raise ValueError(f"source.file {str(file)[:60]!r} is not a binlog file name")
    match = _BINLOG_INDEX.search(file)
    if match is None:
        raise ValueError(f"source.file {file[:60]!r} does not end in a binlog index (.000042)")
    index = int(match.group(1))
    offset = bigint(pos, "source.pos")
    row = bigint(block.get("row") or 0, "source.row")
    if offset is None or offset < 0 or offset >= 2**32:
        raise ValueError(f"source.pos {pos!r} is not a binlog offset")
    if row is None or not 0 <= row < 2**32:
        raise ValueError(f"source.row {block.get('row')!r} is out of range")
    if index >= 2**31:
        raise ValueError(f"source.file {file[:60]!r}: binlog index out of range")
    text = f"{index:08x}/{offset:08x}/{row:08x}"
    gtid = block.get("gtid")
    if isinstance(gtid, str) and gtid:
        text += "/" + gtid[:120]
    return text, (index << 32) | offset


def postgresql_position(block: dict[str, Any]) -> Position:
    from mdm.capture.models import postgres_position  # the PostgreSQL path lives there

    return postgres_position(block)


POSITIONS: dict[str, Callable[[dict[str, Any]], Position]] = {
    "postgresql": postgresql_position,
    "mysql": mysql_position,
    "mariadb": mysql_position,  # Debezium's MariaDB connector names itself so
}
