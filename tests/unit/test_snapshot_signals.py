"""Incremental snapshots without I/O: what `mdm resync` asks Debezium to read, the signal it
sends, the engine properties of both ways (read-only, signal table), and how Debezium's
notifications and snapshot rows become per-table progress."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mdm.capture.debezium import debezium_properties
from mdm.capture.models import ChangeEvent
from mdm.capture.signals import SnapshotTracker, is_notification, notification_steps, signal_data
from mdm.capture.snapshots import TRANSACTIONAL_HEARTBEAT, resync_plan
from mdm.config.loader import load_project
from mdm.errors import ConfigError, MdmError
from mdm.model.snapshots import (SnapshotEnded, SnapshotRequest, SnapshotRows, SnapshotStarted,
                                 TableDone, TableRunning, request_of_signal, signal_id)
from tests.helpers import edit_file

HUB = "postgresql://mdm:secret@127.0.0.1:5432/mdm_hub"


def test_resync_of_keys_reads_their_main_rows_and_child_rows_by_parent(project: Path):
    source, tables, conditions = resync_plan(load_project(project), "supplier", ["S0001", "O'K"])
    assert source == "erp"
    assert tables[-1] == "public.supplier" and set(tables) == {
        "public.supplier", "public.supplier_bank_account", "public.supplier_tax_identifier"}
    keyed = "CAST(\"code\" AS text) IN ('S0001', 'O''K')"
    assert conditions["public.supplier"] == keyed
    assert conditions["public.supplier_bank_account"] == (
        f"\"supplier_id\" IN (SELECT \"id\" FROM \"public\".\"supplier\" WHERE {keyed})")


def test_resync_of_a_whole_entity_reads_every_row_its_filters_keep(project: Path):
    edit_file(project / "golden_records/supplier.yaml", "table: public.supplier\n",
              "table: public.supplier\nwhere: category <> 'X'\n")
    _, _, conditions = resync_plan(load_project(project), "supplier")
    assert conditions == {"public.supplier": "category <> 'X'"}
    _, _, keyed = resync_plan(load_project(project), "supplier", ["S1"])
    assert keyed["public.supplier"] == "(category <> 'X') AND CAST(\"code\" AS text) IN ('S1')"


def test_resync_of_an_unknown_entity_names_the_known_ones(project: Path):
    with pytest.raises(MdmError, match="no entity 'suplier'.*supplier"):
        resync_plan(load_project(project), "suplier")


def test_the_signal_names_the_tables_and_their_conditions():
    request = SnapshotRequest(7, "erp", "resync", ("public.a", "public.b"), {"public.b": "x = 1"})
    assert orjson.loads(signal_data(request)) == {
        "type": "incremental", "data-collections": ["public.a", "public.b"],
        "additional-conditions": [{"data-collection": "public.b", "filter": "x = 1"}]}
    assert request_of_signal(signal_id(7)) == 7
    assert request_of_signal("0c8942b3-7d0e-47a8") is None


@pytest.fixture(autouse=True)
def _erp_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_ERP_URL", "postgresql://erp:secret@127.0.0.1:5432/erp")


def test_without_a_signal_table_snapshots_are_read_only_with_a_transactional_heartbeat(project: Path):
    spec = load_project(project).sources["erp"]
    props = debezium_properties(spec, ["public.supplier"], HUB)
    assert props["read.only"] == "true" and props["signal.enabled.channels"] == "in-process"
    assert "signal.data.collection" not in props
    assert props["heartbeat.action.query"] == TRANSACTIONAL_HEARTBEAT
    assert props["table.include.list"] == "public.supplier"
    assert props["notification.enabled.channels"] == "sink"


def test_a_signal_table_is_captured_and_named_to_debezium(project: Path):
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slot: mdm_erp\nsignal_table: mdm_signal")
    spec = load_project(project).sources["erp"]
    props = debezium_properties(spec, ["public.supplier"], HUB)
    assert spec.signal_table == "public.mdm_signal"
    assert props["signal.data.collection"] == "public.mdm_signal"
    assert "read.only" not in props
    assert props["table.include.list"] == "public.supplier,public.mdm_signal"
    assert "(false," in props["heartbeat.action.query"]


def test_a_signal_table_that_is_no_table_name_is_refused_naming_file_and_key(project: Path):
    edit_file(project / "cdc/erp.yaml", "slot: mdm_erp", "slot: mdm_erp\nsignal_table: a;drop")
    with pytest.raises(ConfigError, match=r"cdc/erp.yaml.*signal_table.*schema.table"):
        load_project(project)


def _note(type_: str, aggregate: str, **data: str) -> str:
    return orjson.dumps({"id": data.pop("id", "x"), "type": type_, "aggregate_type": aggregate,
                         "additional_data": {"connector_name": "erp", **data}}).decode()


def test_notifications_become_progress_steps():
    tables = ("public.a", "public.b")
    assert notification_steps(_note("STARTED", "Initial Snapshot"), tables) == [
        SnapshotStarted("initial", tables)]
    assert notification_steps(_note("STARTED", "Incremental Snapshot", id="mdm-snapshot-3",
                                    data_collections="public.b"), tables) == [
        SnapshotStarted("incremental", ("public.b",), 3)]
    assert notification_steps(_note("IN_PROGRESS", "Initial Snapshot",
                                    current_collection_in_progress="public.a"), tables) == [
        TableRunning("initial", "public.a")]
    assert notification_steps(_note("TABLE_SCAN_COMPLETED", "Incremental Snapshot",
                                    id="mdm-snapshot-3", scanned_collection="public.b",
                                    total_rows_scanned="40", status="SQL_EXCEPTION"), tables) == [
        TableDone("incremental", "public.b", 40, 3, "SQL_EXCEPTION")]
    assert notification_steps(_note("ABORTED", "Incremental Snapshot", id="mdm-snapshot-3"),
                              tables) == [SnapshotEnded("incremental", 3, aborted=True)]
    # no initial snapshot at this start: one an earlier engine left open is over
    assert notification_steps(_note("SKIPPED", "Initial Snapshot"), tables) == [
        SnapshotEnded("initial")]
    assert notification_steps("{\"id\": 1, \"aggregate_type\": []}", tables) == []


def _read(table: str, snapshot: str) -> ChangeEvent:
    raw = orjson.dumps({"op": "r", "source": {"snapshot": snapshot}}).decode()
    return ChangeEvent("erp", table, "r", "1", "p", None, {}, None, None, None, True, raw)


def test_the_tracker_keeps_rows_and_notifications_in_the_order_capture_saw_them():
    tracker = SnapshotTracker(("public.a",))
    tracker.note(_note("STARTED", "Initial Snapshot"))
    tracker.row(_read("public.a", "first"))
    tracker.row(_read("public.a", "true"))
    tracker.note(_note("TABLE_SCAN_COMPLETED", "Initial Snapshot", scanned_collection="public.a",
                       total_rows_scanned="2"))
    tracker.row(_read("public.b", "incremental"))
    assert tracker.take() == [SnapshotStarted("initial", ("public.a",)),
                              SnapshotRows("initial", "public.a", 2),
                              TableDone("initial", "public.a", 2),
                              SnapshotRows("incremental", "public.b", 1)]
    assert tracker.take() == []


def test_only_notifications_are_taken_for_notifications():
    assert is_notification(_note("STARTED", "Initial Snapshot"))
    assert not is_notification('{"status":"BEGIN","id":"571:53195832","event_count":null}')
    assert not is_notification('{"before":null,"after":{"id":1},"op":"c"}')
