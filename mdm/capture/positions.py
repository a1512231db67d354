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


_LSN_GROUPS = re.compile(r"^[0-9a-fA-F]{1,16}(:[0-9a-fA-F]{1,16}){0,3}$")
_RS_ID = re.compile(r"^0x([0-9a-fA-F]{1,8})\.([0-9a-fA-F]{1,8})\.([0-9a-fA-F]{1,4})$")


def _cdc_lsn(value: Any, name: str) -> int | None:
    """SQL Server's / Db2's LSN text ("00000027:00000758:0003", Debezium's Lsn.toString: hex
    bytes, colon after the 4th and 8th) as one integer; None for null, "" or "NULL"."""
    if value is None or value in ("", "NULL"):
        return None
    if not isinstance(value, str) or not _LSN_GROUPS.fullmatch(value) or len(value) > 40:
        raise ValueError(f"{name} {str(value)[:60]!r} is not an LSN (hex groups with colons)")
    groups = value.split(":")
    if len(groups) == 3:  # fixed widths: 4 bytes : 4 bytes : the rest
        if len(groups[0]) > 8 or len(groups[1]) > 8:
            raise ValueError(f"{name} {value!r}: expected 8-digit first and second groups")
        number = int(groups[0], 16) << 32 | int(groups[1], 16)
        return number << (4 * len(groups[2])) | int(groups[2], 16) if groups[2] else number
    return int(value.replace(":", ""), 16)


def _lsn_pair(block: dict[str, Any]) -> tuple[int, int] | None:
    """(commit, change) LSNs of a SQL Server / Db2 block, each standing in for the other when
    absent (a snapshot read carries the snapshot's commit_lsn only); None without either."""
    commit = _cdc_lsn(block.get("commit_lsn"), "source.commit_lsn")
    change = _cdc_lsn(block.get("change_lsn"), "source.change_lsn")
    if commit is None and change is None:
        return None
    pair = (commit if commit is not None else change, change if change is not None else commit)
    first, second = (p if p is not None else 0 for p in pair)
    if first >= 2**128 or second >= 2**128:
        raise ValueError("source.commit_lsn / change_lsn beyond 16 bytes")
    return first, second


def sqlserver_position(block: dict[str, Any]) -> Position:
    """SQL Server: `commit_lsn`, `change_lsn`, `event_serial_no` → "<commit>/<change>/<serial>"
    (fixed-width hex: commit order, then change order, then the event within one change: an
    update's old and new image, a key update's delete and insert). Snapshot reads carry the
    snapshot's commit_lsn only. The integer is the commit LSN's upper 64 bits (VLF sequence
    and block; the whole LSN has 80), monotone along the stream."""
    pair = _lsn_pair(block)
    if pair is None:
        return None, None
    commit, change = pair
    serial = bigint(block.get("event_serial_no") or 0, "source.event_serial_no")
    if serial is None or not 0 <= serial < 2**32:
        raise ValueError(f"source.event_serial_no {block.get('event_serial_no')!r} is out of range")
    upper = commit >> 16
    return f"{commit:032x}/{change:032x}/{serial:08x}", upper if upper < 2**63 else None


def db2_position(block: dict[str, Any]) -> Position:
    """Db2: `commit_lsn`, `change_lsn` (Debezium's Lsn text, as SQL Server's, up to 16 bytes)
    → "<commit>/<change>" in fixed-width hex. The integer is the commit LSN when it fits."""
    pair = _lsn_pair(block)
    if pair is None:
        return None, None
    commit, change = pair
    return f"{commit:032x}/{change:032x}", commit if commit < 2**63 else None


def _scn(value: Any, name: str) -> int | None:
    number = bigint(value if value != "" else None, name)
    if number is not None and number < 0:
        raise ValueError(f"{name} {number} is negative")
    return number


def oracle_position(block: dict[str, Any]) -> Position:
    """Oracle (LogMiner): `commit_scn`, `scn`, `rs_id` (" 0x00000a.00003c1f.0010 ": log
    sequence, block, byte offset of the redo record) and `ssn` (the SQL statement within it)
    → "<commit_scn>/<scn>/<rs_id>/<ssn>" in fixed-width hex: commit order, then change order
    within the transaction (several changes may share an SCN; the redo record address
    separates them). Snapshot reads carry the snapshot's `scn` only. The integer is the commit
    SCN."""
    scn = _scn(block.get("scn"), "source.scn")
    commit = _scn(block.get("commit_scn"), "source.commit_scn")
    if scn is None and commit is None:
        return None, None
    commit = scn if commit is None else commit
    scn = commit if scn is None else scn
    rs_id = block.get("rs_id")
    seq = blk = off = 0
    if isinstance(rs_id, str) and rs_id.strip():
        match = _RS_ID.fullmatch(rs_id.strip())
        if match is None:
            raise ValueError(f"source.rs_id {rs_id[:60]!r} is not 0x<seq>.<block>.<offset>")
        seq, blk, off = (int(g, 16) for g in match.groups())
    elif rs_id not in (None, ""):
        raise ValueError(f"source.rs_id {str(rs_id)[:60]!r} is not text")
    ssn = bigint(block.get("ssn") or 0, "source.ssn")
    if ssn is None or not 0 <= ssn < 2**32:
        raise ValueError(f"source.ssn {block.get('ssn')!r} is out of range")
    return f"{commit:016x}/{scn:016x}/{seq:08x}.{blk:08x}.{off:04x}/{ssn:08x}", commit


# connectors whose `source.txId` is no integer (Oracle: "6.28.807" or hex XID text), or absent
TEXT_TRANSACTION_IDS = frozenset({"oracle", "sqlserver", "db2"})


def transaction_id(block: dict[str, Any]) -> int | None:
    """The integer transaction id the inbox keeps (`tx_id`), or None where the connector's id
    is text: those events are claimed as they come (no END records: transaction metadata is
    off for them), as an event without a transaction is."""
    if block.get("connector") in TEXT_TRANSACTION_IDS:
        return None
    return bigint(block.get("txId"), "source.txId")


def postgresql_position(block: dict[str, Any]) -> Position:
    from mdm.capture.models import postgres_position  # the PostgreSQL path lives there

    return postgres_position(block)


POSITIONS: dict[str, Callable[[dict[str, Any]], Position]] = {
    "postgresql": postgresql_position,
    "mysql": mysql_position,
    "mariadb": mysql_position,  # Debezium's MariaDB connector names itself so
    "sqlserver": sqlserver_position,
    "oracle": oracle_position,
    "db2": db2_position,
}
