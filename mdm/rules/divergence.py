"""Divergence: a target's own copy compared with what the hub sent it.

Row changes of the tables a source observes (its `tables:`, a target's copies; the same
database may hold tables of record too) arrive in the inbox like any other. Each is compared,
field by field as the entity's divergence rules say, with the payloads the target may still be
echoing: those of deliveries in flight (pending or failed, not acknowledged yet), of the newest
acknowledged one and of anything newer, and — for a row change committed before a newer version
was acknowledged — of the versions the target held until then (capture of the target lags
behind its acks). A change equal to one of them echoes the hub's own propagation (never
flagged); anything else, an older delivered value restored by hand included, is a hand edit and
opens (or refreshes) one divergence task for the record and system. An echo of the newest
delivery closes an open divergence task. Per batch, the deliveries are read with the newest
version's attributes only; an older version's are read only when a row is compared with it.
"""
from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
import psycopg

from mdm.config.loader import Project
from mdm.config.models import EntitySpec
from mdm.config.rules import DivergenceRule
from mdm.config.sources import ObservedTable
from mdm.config.targets import TargetMapping
from mdm.model.decode import DecodeError, decode
from mdm.model.deliveries import build_payload
from mdm.model.inbox import InboxRow
from mdm.model.tasks import DIVERGENCE, NewTask
from mdm.store.repositories import deliveries, golden, mirror, tasks

logger = logging.getLogger(__name__)
RECENT_DELIVERIES = 20  # delivered versions per record looked at (newest first)


@dataclass(frozen=True)
class Mismatch:
    field: str
    attribute: str
    golden: Any
    target: Any


@dataclass
class ObservedOutcome:
    compared: int = 0
    echoes: int = 0
    diverged: int = 0
    skipped: int = 0
    converged: list[tuple[str, int]] = field(default_factory=list)  # (key, version)
    done: list[int] = field(default_factory=list)  # inbox ids compared
    skipped_ids: dict[int, str] = field(default_factory=dict)  # inbox id → why not


def normalise(value: Any, attribute_type: str, how: Sequence[str]) -> Any:
    """A comparable form: decoded by the attribute's type, then trimmed / NFKC / casefolded."""
    if value is None or (isinstance(value, str) and "trim" in how and not value.strip()):
        return None
    if attribute_type == "json" or isinstance(value, (list, dict)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    try:
        value = decode(attribute_type, value)
    except DecodeError:
        value = str(value)
    if attribute_type in ("decimal", "integer", "float"):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return str(value)
    if attribute_type == "timestamptz" and isinstance(value, str):
        return datetime.fromisoformat(value)
    text = str(value)
    if "trim" in how:
        text = text.strip()
    if "width" in how:
        text = unicodedata.normalize("NFKC", text)
    if "case" in how:
        text = text.casefold()
    return text


def same(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= Decimal(str(tolerance))
    return bool(a == b)


def compare(spec: EntitySpec, target: str, rule: DivergenceRule, expected: Mapping[str, Any],
            actual: Mapping[str, Any]) -> list[Mismatch]:
    """Fields of `rule` whose target value differs from the expected payload's."""
    mapping = spec.targets[target]
    out = []
    for name in rule.fields:
        attribute = mapping.fields[name]
        kind = spec.attributes[attribute].type if attribute in spec.attributes else "json"
        want = normalise(expected.get(name), kind, rule.normalize)
        got = normalise(actual.get(name), kind, rule.normalize)
        if not same(want, got, rule.tolerance):
            out.append(Mismatch(name, attribute, expected.get(name), actual.get(name)))
    return out


def key_field(spec: EntitySpec, target: str) -> str:
    """The target field that carries the business key."""
    for name, attribute in spec.targets[target].fields.items():
        if attribute == spec.business_key:
            return name
    raise ValueError(f"{spec.entity}'s mapping to {target} does not send its business key")


class DivergenceDetector:
    def __init__(self, project: Project) -> None:
        self.project = project

    def rules_for(self, entity: str, target: str) -> list[DivergenceRule]:
        rules = self.project.rules.get(entity)
        return [r for r in rules.divergence if r.target == target] if rules else []

    def apply(self, conn: psycopg.Connection, source: str,
              events: Sequence[InboxRow]) -> ObservedOutcome:
        """Compare a batch of a target database's row changes (the inbox rows it compared are
        `done`, the others `skipped_ids` with the reason)."""
        spec = self.project.sources[source]
        target = spec.observes or ""
        outcome = ObservedOutcome()
        done, skipped = outcome.done, outcome.skipped_ids
        latest: dict[tuple[str, str], InboxRow] = {}
        for event in events:
            observed = spec.tables.get(event.table)
            if observed is None:
                skipped[event.id] = f"table {event.table} is not observed by cdc/{source}.yaml"
                continue
            done.append(event.id)
            latest[(event.table, event.row_key)] = event  # only the last state of a row counts
        by_table: dict[str, list[InboxRow]] = {}
        for (table, _), event in latest.items():
            by_table.setdefault(table, []).append(event)
        for table, table_events in by_table.items():
            self._table(conn, source, target, table, spec.tables[table], table_events, outcome)
        outcome.skipped = len(skipped)
        return outcome

    def _table(self, conn: psycopg.Connection, source: str, target: str, table: str,
               observed: ObservedTable, events: Sequence[InboxRow],
               outcome: ObservedOutcome) -> None:
        spec = self.project.entities[observed.entity]
        rules = self.rules_for(spec.entity, target)
        if not rules:
            return
        key_name = key_field(spec, target)
        rows: dict[str, tuple[InboxRow, dict[str, Any]]] = {}
        for event in events:
            image = event.after  # a delete carries only the row's id: see _deleted
            if not image:
                continue
            fields = {name: image.get(observed.column_of(name))
                      for name in spec.targets[target].fields}
            key = fields.get(key_name)
            if key is not None:
                rows[str(key)] = (event, fields)
        _remember_keys(conn, source, table, rows)
        deleted = [e for e in events if e.op == "d"]
        if deleted:
            self._deleted(conn, source, spec, target, table, deleted, rules, outcome)
        payloads = _Payloads(conn, spec.targets[target])
        sent = _recent_sends(conn, spec.entity, target, list(rows), payloads)
        echoed = self._echoes(spec, target, rules, rows, sent, payloads)
        outcome.converged.clear()
        for key, (event, fields) in rows.items():
            outcome.compared += 1
            self._judge(conn, spec, target, rules, key, event, fields, sent.get(key),
                        echoed.get(key), payloads, outcome)
        tasks.close_divergences(conn, spec.entity, target, [
            (key, version) for key, version in outcome.converged if sent[key].has_open_task])

    def _echoes(self, spec: EntitySpec, target: str, rules: Sequence[DivergenceRule],
                rows: Mapping[str, tuple[InboxRow, dict[str, Any]]],
                sent: Mapping[str, _Sent], payloads: _Payloads) -> dict[str, int]:
        """Per target row that echoes a payload the hub sent: the version it echoes (the newest
        of those `_Sent.echoable` allows that it matches). The newest version each row may echo
        is tried first (usually the one it does: the echo of the last push; its attributes
        came with the deliveries), then the others for the rows it did not match, their
        attributes read in one query."""
        tries = {key: record.echoable(rows[key][0].commit_ts)
                 for key, record in sent.items() if key in rows}
        found: dict[str, int] = {}
        for chosen in (slice(0, 1), slice(1, None)):
            wanted = {key: versions[chosen] for key, versions in tries.items()
                      if key not in found and versions[chosen]}
            payloads.load((sent[key].golden_id, v) for key, vs in wanted.items() for v in vs)
            for key, versions in wanted.items():
                fields = rows[key][1]
                for version in versions:
                    payload = payloads.get(sent[key].golden_id, version)
                    if payload is not None and \
                            all(not compare(spec, target, r, payload, fields) for r in rules):
                        found[key] = version
                        break
        return found

    def _judge(self, conn: psycopg.Connection, spec: EntitySpec, target: str,
               rules: Sequence[DivergenceRule], key: str, event: InboxRow,
               fields: dict[str, Any], record: _Sent | None, echoed: int | None,
               payloads: _Payloads, outcome: ObservedOutcome) -> None:
        if record is None:
            open_divergence(conn, spec.entity, key, None, None, target, "error",
                            f"{target} holds {spec.entity} {key}, which is not a golden record",
                            {"kind": "unknown_record", "table": event.table,
                             "row_key": event.row_key, "target_values": fields,
                             "at": _when(event)})
            outcome.diverged += 1
            return
        if echoed is not None:
            outcome.echoes += 1
            if echoed == record.newest:  # the copy is back in line with the newest push
                outcome.converged.append((key, echoed))
            return
        # what the hub sent last, or (never sent to this target) the record's current version
        shown = record.newest if record.newest is not None else record.version
        expected = payloads.get(record.golden_id, shown) or {}
        mismatches = [m for r in rules for m in compare(spec, target, r, expected, fields)]
        severity = "error" if any(r.severity == "error" for r in rules) else "warning"
        names = ", ".join(f"{m.field} is {m.target!r}, golden {m.golden!r}" for m in mismatches)
        open_divergence(conn, spec.entity, key, record.golden_id, record.version, target,
                        severity, f"{target} {spec.entity} {key}: {names}",
                        {"kind": "edited",
                         "table": event.table, "row_key": event.row_key, "at": _when(event),
                         "fields": [m.__dict__ for m in mismatches], "target_values": fields})
        outcome.diverged += 1

    def _deleted(self, conn: psycopg.Connection, source: str, spec: EntitySpec, target: str,
                 table: str, events: Sequence[InboxRow], rules: Sequence[DivergenceRule],
                 outcome: ObservedOutcome) -> None:
        """A row deleted in the target while its golden record is active: someone removed it."""
        gone = mirror.forget_rows(conn, source, table, [e.row_key for e in events])
        if not gone:
            return
        records = golden.active_by_key(conn, spec.entity, list(gone.values()))
        severity = "error" if any(r.severity == "error" for r in rules) else "warning"
        for event in events:
            record = records.get(gone.get(event.row_key, ""))
            if record is None:
                continue  # retired in the golden store (or never known): nothing to keep
            key = record[0]
            open_divergence(conn, spec.entity, key, record[1], record[2], target, severity,
                            f"{target} {spec.entity} {key}: deleted in {target}, active in golden",
                            {"kind": "deleted", "table": table, "row_key": event.row_key,
                             "at": _when(event), "fields": []})
            outcome.diverged += 1


def _remember_keys(conn: psycopg.Connection, source: str, table: str,
                   rows: Mapping[str, tuple[InboxRow, dict[str, Any]]]) -> None:
    """Which business key each target row holds, so that its delete (which carries only the
    row's id) can be told. Written once per row: echoes of later pushes cost an index probe."""
    mirror.remember_keys(conn, source, table,
                         {key: (e.row_key, e.position) for key, (e, _) in rows.items()})


@dataclass(frozen=True)
class _Delivered:
    version: int
    in_flight: bool  # a delivery of it is pending or failed: the target may apply it yet
    acked_at: datetime | None  # when a delivery of it was first acknowledged


@dataclass(frozen=True)
class _Sent:
    """What the hub sent a target of one record: delivery metadata, no attributes."""

    golden_id: int
    version: int  # the record's current version
    sent: list[_Delivered]  # newest version first
    has_open_task: bool  # a divergence task at the target: an echo of the newest closes it

    @property
    def newest(self) -> int | None:
        return self.sent[0].version if self.sent else None

    def echoable(self, committed: datetime | None) -> list[int]:
        """The versions a target row committed at `committed` may echo, newest first.

        Versions down to the newest acknowledged one, every version in flight, and an older
        acknowledged version if the row was committed before a newer one was acknowledged
        (the target held it then). An older value seen after that is not the hub's: a hand
        edit, even when it restores what the hub once sent."""
        out = []
        newer_acked_at: datetime | None = None  # earliest ack of a version newer than `s`
        for s in self.sent:
            before_newer_ack = committed is not None and newer_acked_at is not None \
                and committed <= newer_acked_at
            if newer_acked_at is None or s.in_flight or before_newer_ack:
                out.append(s.version)
            if s.acked_at is not None:
                newer_acked_at = s.acked_at if newer_acked_at is None \
                    else min(newer_acked_at, s.acked_at)
        return out


class _Payloads:
    """The payloads of versions as `mapping` renders them, read and built when first wanted:
    `load` reads a set of versions in one query, `get` one it was not given (rare)."""

    def __init__(self, conn: psycopg.Connection, mapping: TargetMapping) -> None:
        self._conn = conn
        self._mapping = mapping
        self._built: dict[tuple[int, int], dict[str, Any] | None] = {}

    def put(self, golden_id: int, version: int, attributes: dict[str, Any], status: str) -> None:
        self._built[(golden_id, version)] = build_payload(self._mapping, attributes, status)

    def load(self, versions: Iterable[tuple[int, int]]) -> None:
        wanted = {v for v in versions if v not in self._built}
        for gid, version, attributes, status in golden.version_attributes(self._conn, wanted):
            self.put(gid, version, attributes, status)
        for missing in wanted - self._built.keys():
            self._built[missing] = None  # no such version: nothing to compare with

    def get(self, golden_id: int, version: int) -> dict[str, Any] | None:
        if (golden_id, version) not in self._built:
            self.load([(golden_id, version)])
        return self._built[(golden_id, version)]


def _recent_sends(conn: psycopg.Connection, entity: str, target: str, keys: list[str],
                  payloads: _Payloads) -> dict[str, _Sent]:
    """What the hub sent `target` of the records with these keys; the newest version's payload
    (which came with it) goes into `payloads`."""
    out: dict[str, _Sent] = {}
    for (key, gid, version, d_version, in_flight, acked_at, attributes, status,
         has_task) in deliveries.recent_sends(conn, entity, target, keys, RECENT_DELIVERIES):
        sent = out.get(key)
        if sent is None:  # one entry per record: the rows repeat its current version
            sent = out[key] = _Sent(gid, version, [], bool(has_task))
        if d_version is not None:
            sent.sent.append(_Delivered(d_version, bool(in_flight), acked_at))
        if attributes is not None:
            payloads.put(gid, d_version, attributes, status)
    return out


def open_divergence(conn: psycopg.Connection, entity: str, key: str, golden_id: int | None,
                    version: int | None, system: str, severity: str, summary: str,
                    detail: dict[str, Any]) -> int:
    task_id = tasks.open_task(conn, NewTask(DIVERGENCE, entity, key, golden_id, version, system,
                                            severity, summary, detail))
    logger.info("divergence task=%d %s", task_id, summary)
    return task_id


def _when(event: InboxRow) -> str | None:
    return event.commit_ts.isoformat() if event.commit_ts else None
