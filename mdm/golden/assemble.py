"""Assemble a golden record's attributes from the mirrored main row and its child rows: each
child list, at any depth, holds the live rows under its parent row in `order_by` order."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm.config.models import ChildSpec, EntitySpec
from mdm.golden.mapper import RowImage

# (child table, parent row key) → child row key → image: the rows hanging under each parent
ChildRows = Mapping[tuple[str, str], Mapping[str, RowImage]]


def _sort_key(order_by: str | None, row_key: str, image: RowImage) -> tuple[str, str]:
    value = image.attrs.get(order_by) if order_by else None
    return ("" if value is None else str(value), row_key.zfill(20))


def assemble_record(spec: EntitySpec, main: RowImage, object_key: str,
                    children: ChildRows) -> tuple[dict[str, Any], str]:
    """(attributes, status) of the golden record whose main row (key `object_key`) is `main`.
    Child lists leave out deleted or retired rows, and with them the rows nested under them."""
    attributes: dict[str, Any] = dict(main.attrs)
    attributes.update(_lists(spec.children, object_key, children))
    status = "retired" if main.deleted or main.retired else "active"
    return attributes, status


def _lists(specs: Mapping[str, ChildSpec], parent_key: str,
           children: ChildRows) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {}
    for name, child in specs.items():
        rows = children.get((child.table, parent_key), {})
        live = [(k, r) for k, r in rows.items() if not r.deleted and not r.retired]
        live.sort(key=lambda kr: _sort_key(child.order_by, kr[0], kr[1]))
        lists[name] = [{**r.attrs, **_lists(child.children, k, children)} if child.children
                       else dict(r.attrs) for k, r in live]
    return lists

