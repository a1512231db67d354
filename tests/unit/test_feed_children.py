"""A feed's document with child lists (`lines: [...]` inside its JSON) is split as a CDC source
delivers it (mdm/capture/documents.py, document_rows.py): its own row, one row per item keyed
`<parent key>|<item key>` with the parent column set, in one transaction with its END; an item
gone since the last version is deleted (with what it holds); what cannot be split is kept
failed with its reason. The hub's rows are stand-ins here (the real stack:
tests/integration/test_webhook_source.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mdm.capture import document_rows
from mdm.capture.documents import Document, document_with_children
from mdm.capture.models import ChangeEvent, PoisonRecord, TransactionEnd
from mdm.capture.queue_message import Received, mapping_of, message_event
from mdm.config.feed_children import Splits, child_splits
from mdm.config.feed_queue import QueueFeed
from mdm.config.feed_webhook import WebhookFeed
from mdm.config.loader import load_project
from mdm.config.models import EntitySpec

ENTITY = {
    "entity": "form_request", "source": "forms", "table": "forms.request", "primary_key": "id",
    "business_key": "request_no", "attributes": {"request_no": {"type": "string"}},
    "children": {"lines": {
        "table": "forms.request_line", "parent_column": "request_id",
        "attributes": {"line_no": {"type": "integer"}, "qty": {"type": "decimal"}},
        "children": {"lots": {"table": "forms.request_lot", "parent_column": "line_id",
                              "primary_key": "lot", "attributes": {"lot": {"type": "string"}}}}}}}


def _splits(**children: Any) -> Splits:
    feed = WebhookFeed.model_validate({"name": "forms", "kind": "webhook", "format": "hmac",
                                       "table": "forms.request", "secret": "${S}",
                                       "children": children})
    return child_splits(feed, [EntitySpec.model_validate(ENTITY)])


def _doc(row: dict[str, Any] | None, splits: Splits | None = None, op: str = "u",
         position: str = "h/e1") -> Document | ChangeEvent | PoisonRecord:
    return document_with_children(splits if splits is not None else _splits(
        **{"forms.request_line": {"key": "line_no"}}), "forms", "forms.request", "7", row,
        position, op=op)


def _rows(doc: Document) -> dict[tuple[str, str], Any]:
    return {(e.table, e.row_key): e.after for e in doc.events}


PR = {"id": 7, "request_no": "PR-7", "lines": [{"line_no": 1, "qty": "2.5", "lots": [{"lot": "A"}]},
                                              {"line_no": 2, "qty": "1"}]}


def test_a_document_is_its_own_row_and_one_row_per_item_in_one_transaction() -> None:
    doc = _doc(PR)
    assert isinstance(doc, Document)
    assert _rows(doc) == {
        ("forms.request", "7"): {"id": 7, "request_no": "PR-7"},  # the list is rows of its own
        ("forms.request_line", "7|1"): {"line_no": 1, "qty": "2.5", "request_id": "7"},
        ("forms.request_lot", "7|1|A"): {"lot": "A", "line_id": "7|1"},
        ("forms.request_line", "7|2"): {"line_no": 2, "qty": "1", "request_id": "7"}}
    assert {e.position for e in doc.events} == {"h/e1"}
    assert {e.tx_id for e in doc.events} == {doc.tx_id} and doc.tx_id > 0
    assert _doc(PR).tx_id == doc.tx_id  # the same document sent again: the same transaction
    assert [(c.split.table, c.parent_key, sorted(c.keys)) for c in doc.carried] == [
        ("forms.request_lot", "7|1", ["7|1|A"]),  # line 2 has no lots: they stay as they are
        ("forms.request_line", "7", ["7|1", "7|2"])]


def test_the_list_field_and_item_key_default_to_the_entitys_list_and_primary_key() -> None:
    doc = _doc({"id": 7, "lines": [{"id": 70, "line_no": 1}]}, _splits())
    assert isinstance(doc, Document)
    assert ("forms.request_line", "7|70") in _rows(doc)
    declared = _splits(**{"forms.request_line": {"field": "data.items", "key": ["line_no", "qty"]}})
    doc = _doc({"id": 7, "data": {"items": [{"line_no": 1, "qty": 3.0}]}}, declared)
    assert isinstance(doc, Document)
    assert _rows(doc)[("forms.request_line", "7|1|3")] == {"line_no": 1, "qty": 3.0,
                                                           "request_id": "7"}


def test_a_document_without_the_list_leaves_the_list_as_it_is() -> None:
    doc = _doc({"id": 7, "request_no": "PR-7"})
    assert isinstance(doc, Document)
    assert list(_rows(doc)) == [("forms.request", "7")] and doc.carried == []


@pytest.mark.parametrize("lines, reason", [
    ("three", "lines is not a list"),
    ([{"qty": 1}], "lines[0] has no line_no"),
    ([{"line_no": 1}, {"line_no": 1.0}], "two items have the key '1' (line_no)"),
    ([5], "lines[0] is not a JSON object"),
    ([{"line_no": [1]}], "expected a key, got list"),
])
def test_a_list_that_cannot_be_split_keeps_the_document_failed_with_why(lines: Any,
                                                                       reason: str) -> None:
    failed = _doc({"id": 7, "lines": lines})
    assert isinstance(failed, PoisonRecord) and reason in failed.reason
    assert failed.row_key == "7" and failed.destination == "forms.request"


class Hub:
    """Stand-ins for the hub's rows (mdm/store/repositories/document_rows.py)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.mirror: list[tuple[str, str, str]] = []  # (table, parent key, row key) alive
        self.pending: list[tuple[str, str, dict[str, Any]]] = []  # (table, row key, row)
        self.locked: list[str] = []
        repo = document_rows.document_rows
        monkeypatch.setattr(repo, "lock_documents", lambda conn, keys: self.locked.extend(keys))
        monkeypatch.setattr(repo, "live_rows", lambda conn, source, table, parents: [
            (p, r) for t, p, r in self.mirror if t == table and p in parents])
        monkeypatch.setattr(repo, "pending_rows", lambda conn, source, table, prefixes: [
            (r, row) for t, r, row in self.pending
            if t == table and any(r.startswith(p) for p in prefixes)])


def _deleted(batch: Any) -> list[tuple[str, str]]:
    return [(e.table, e.row_key) for e in batch.events if e.op == "d"]


def test_an_item_gone_since_the_last_version_is_deleted_with_what_it_holds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub(monkeypatch)
    hub.mirror += [("forms.request_line", "7", "7|1"), ("forms.request_line", "7", "7|2"),
                   ("forms.request_lot", "7|2", "7|2|B"), ("forms.request_line", "77", "77|1")]
    hub.pending += [("forms.request_line", "7|3", {"request_id": "7"}),  # not processed yet
                    ("forms.request_line", "7|4", {"request_id": "7|4x"})]  # another parent's
    doc = _doc({"id": 7, "lines": [{"line_no": 1}]})
    batch = document_rows.complete(None, "forms", [doc])  # type: ignore[arg-type]
    assert _deleted(batch) == [("forms.request_line", "7|2"), ("forms.request_line", "7|3"),
                               ("forms.request_lot", "7|2|B")]
    assert {e.tx_id for e in batch.events} == {doc.tx_id}  # type: ignore[union-attr]
    assert batch.ends == [TransactionEnd("forms", doc.tx_id, len(batch.events))]  # type: ignore[union-attr]
    assert hub.locked == ["forms\nforms.request\n7"]


def test_two_versions_in_one_batch_the_second_deletes_what_the_first_brought(
        monkeypatch: pytest.MonkeyPatch) -> None:
    Hub(monkeypatch)
    first = _doc({"id": 7, "lines": [{"line_no": 1}, {"line_no": 2}]}, position="h/e1")
    second = _doc({"id": 7, "lines": [{"line_no": 2}]}, position="h/e2")
    batch = document_rows.complete(None, "forms", [first, second])  # type: ignore[arg-type]
    assert [(e.position, e.row_key) for e in batch.events if e.op == "d"] == [("h/e2", "7|1")]
    assert len(batch.ends) == 2


def test_a_deleted_document_deletes_its_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub(monkeypatch)
    hub.mirror += [("forms.request_line", "7", "7|1"), ("forms.request_lot", "7|1", "7|1|A")]
    doc = _doc(None, op="d")
    assert isinstance(doc, Document)
    batch = document_rows.complete(None, "forms", [doc])  # type: ignore[arg-type]
    assert [(e.table, e.row_key, e.op) for e in batch.events] == [
        ("forms.request", "7", "d"), ("forms.request_line", "7|1", "d"),
        ("forms.request_lot", "7|1|A", "d")]


def test_events_and_failed_records_pass_through_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub(monkeypatch)
    plain = document_with_children({}, "forms", "forms.request", "8", {"id": 8}, "h/e3")
    failed = _doc({"id": 7, "lines": "x"})
    batch = document_rows.complete(None, "forms", [plain, failed])  # type: ignore[arg-type]
    assert batch.events == [plain] and batch.poison == [failed] and batch.ends == []
    assert hub.locked == []


def test_a_queue_message_with_lines_is_split_by_its_entitys_child_list(project: Path) -> None:
    (project / "cdc/forms_q.yaml").write_text(
        "name: forms_q\nkind: amqp\nurl: ${AMQP}\nqueue: {name: forms}\n"
        "message: {fields: data}\nchildren: {forms.request_line: {key: line_no}}\n",
        encoding="utf-8")
    entity = {**ENTITY, "source": "forms_q"}
    (project / "golden_records/form_request.yaml").write_bytes(orjson.dumps(entity))
    loaded = load_project(project)
    feed = loaded.feeds["forms_q"]
    assert isinstance(feed, QueueFeed)
    body = orjson.dumps({"data": {"id": 9, "lines": [{"line_no": 1, "qty": 12.345}]}})
    doc = message_event(mapping_of(loaded, feed), Received(body, message_id="m-9"))
    assert isinstance(doc, Document)
    assert _rows(doc)[("forms.request_line", "9|1")] == {"line_no": 1, "qty": "12.345",
                                                        "request_id": "9"}
    assert {e.position for e in doc.events} == {"h/m-9"}
