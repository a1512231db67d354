"""Assemble a golden record's attributes from the mirrored main row and its child rows."""
from __future__ import annotations

from typing import Any

from mdm.config.models import EntitySpec
from mdm.golden.mapper import RowImage


def _sort_key(order_by: str | None, row_key: str, image: RowImage) -> tuple[str, str]:
    value = image.attrs.get(order_by) if order_by else None
    return ("" if value is None else str(value), row_key.zfill(20))


def assemble(spec: EntitySpec, main: RowImage,
             children: dict[str, dict[str, RowImage]]) -> tuple[dict[str, Any], str]:
    """(attributes, status) of the golden record; child lists exclude deleted or retired rows."""
    attributes: dict[str, Any] = dict(main.attrs)
    for name, child in spec.children.items():
        rows = children.get(name, {})
        live = [(k, r) for k, r in rows.items() if not r.deleted and not r.retired]
        live.sort(key=lambda kr: _sort_key(child.order_by, kr[0], kr[1]))
        attributes[name] = [dict(r.attrs) for _, r in live]
    status = "retired" if main.deleted or main.retired else "active"
    return attributes, status
