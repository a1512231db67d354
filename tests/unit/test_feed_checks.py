"""`mdm check` on feeds (mdm/config/feed_checks.py): a queue feed whose messages cannot get a
table, and a `children:` entry that is no child table of the feed's entities, are ConfigErrors
naming the file, the key and what was expected."""
from __future__ import annotations

from pathlib import Path

import pytest

from mdm.config.loader import load_project
from mdm.errors import ConfigError

FEED = "name: wms_q\nkind: amqp\nurl: ${AMQP}\nqueue: {name: wms.stock}\n"


def _entity(project: Path, name: str, table: str, source: str = "wms_q") -> None:
    (project / f"golden_records/{name}.yaml").write_text(
        f"entity: {name}\nsource: {source}\ntable: {table}\nprimary_key: sku\nbusiness_key: sku\n"
        "attributes:\n  sku: {type: string, required: true}\n", encoding="utf-8")


def _problems(project: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    return str(caught.value)


def test_a_queue_feed_no_entity_takes_and_without_a_table_cannot_map_a_message(project: Path) -> None:
    (project / "cdc/wms_q.yaml").write_text(FEED, encoding="utf-8")
    message = _problems(project)
    assert "cdc/wms_q.yaml: message.table: expected the table of each message" in message
    assert "0 do (none)" in message


def test_a_queue_feed_two_entities_take_needs_its_table(project: Path) -> None:
    (project / "cdc/wms_q.yaml").write_text(FEED, encoding="utf-8")
    _entity(project, "q_stock", "wms_q.stock")
    _entity(project, "q_bin", "wms_q.bin")
    assert "and 2 do (wms_q.bin, wms_q.stock)" in _problems(project)
    (project / "cdc/wms_q.yaml").write_text(FEED + "message: {table: wms_q.stock}\n")
    load_project(project)  # named: every message is a stock level


def test_the_one_entity_of_a_queue_feed_decides_its_table(project: Path) -> None:
    (project / "cdc/wms_q.yaml").write_text(FEED, encoding="utf-8")
    _entity(project, "q_stock", "wms_q.stock")
    load_project(project)


def test_a_queue_table_no_entity_of_the_feed_maps_is_refused(project: Path) -> None:
    (project / "cdc/wms_q.yaml").write_text(FEED + "message: {table: wms_q.stok}\n")
    _entity(project, "q_stock", "wms_q.stock")
    message = _problems(project)
    assert ("cdc/wms_q.yaml: message.table: 'wms_q.stok' is not the table of an entity whose "
            "source is wms_q (expected one of: wms_q.stock)") in message
    (project / "cdc/wms_q.yaml").write_text(
        FEED + "message: {table_by: {header: x-kind, tables: {stock: wms_q.stock, bin: wms_q.bins}}}\n")
    message = _problems(project)
    assert "message.table_by.tables.bin: 'wms_q.bins' is not the table of an entity" in message
    assert "tables.stock" not in message


def test_a_children_entry_must_be_a_child_table_of_the_feeds_entities(project: Path) -> None:
    (project / "cdc/forms.yaml").write_text(
        "name: forms\nkind: webhook\nformat: hmac\ntable: forms.request\nsecret: ${S}\n"
        "children: {forms.request_lin: {key: line_no}}\n", encoding="utf-8")
    (project / "golden_records/form_request.yaml").write_text(
        "entity: form_request\nsource: forms\ntable: forms.request\nprimary_key: id\n"
        "business_key: code\nattributes:\n  code: {type: string}\nchildren:\n  lines:\n"
        "    table: forms.request_line\n    parent_column: request_id\n"
        "    attributes: {line_no: {type: integer}}\n", encoding="utf-8")
    message = _problems(project)
    assert ("cdc/forms.yaml: children.forms.request_lin: expected a child table of an entity "
            "whose source is forms (known: forms.request_line)") in message
