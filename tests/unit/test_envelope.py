"""Normalising Debezium envelopes into change events; poison records are kept, not raised."""
from __future__ import annotations

import json

from mdm.capture.models import ChangeEvent, PoisonRecord, Progress, parse_envelope


def _envelope(op: str, after: dict | None, before: dict | None = None, seq: str = '["100","120"]') -> str:
    return json.dumps({
        "before": before, "after": after, "op": op,
        "source": {"snapshot": "false", "schema": "public", "table": "supplier", "txId": 781,
                   "lsn": 120, "sequence": seq, "ts_us": 1795636504407101},
    })


def test_update_becomes_a_change_event_with_lineage_fields():
    event = parse_envelope("erp", "erp.public.supplier", '{"id": 7}', _envelope("u", {"id": 7, "name": "x"}))
    assert isinstance(event, ChangeEvent)
    assert (event.table, event.op, event.row_key, event.tx_id, event.lsn) == ("public.supplier", "u", "7", 781, 120)
    assert event.commit_ts is not None and event.commit_ts.year == 2026
    assert not event.is_snapshot


def test_positions_sort_in_stream_order():
    earlier = parse_envelope("erp", "d", '{"id":1}', _envelope("u", {"id": 1}, seq='["100","990"]'))
    later = parse_envelope("erp", "d", '{"id":1}', _envelope("u", {"id": 1}, seq='["1000","1010"]'))
    assert isinstance(earlier, ChangeEvent) and isinstance(later, ChangeEvent)
    assert earlier.position < later.position


def test_composite_keys_join_in_key_order():
    event = parse_envelope("erp", "d", '{"a": 1, "b": "X"}', _envelope("c", {"a": 1, "b": "X"}))
    assert isinstance(event, ChangeEvent) and event.row_key == "1|X"


def test_tombstone_is_ignored_and_heartbeat_is_progress():
    assert parse_envelope("erp", "d", '{"id":1}', None) is None
    beat = parse_envelope("erp", "erp.message", None, json.dumps(
        {"op": "m", "source": {"lsn": 55, "sequence": '["55","55"]'}}))
    assert isinstance(beat, Progress) and beat.lsn == 55


def test_garbage_becomes_a_poison_record_with_reason():
    poison = parse_envelope("erp", "erp.public.supplier", '{"id":1}', "{not json")
    assert isinstance(poison, PoisonRecord)
    assert "unparseable" in poison.reason and poison.raw == "{not json"
