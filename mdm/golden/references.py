"""Reference values of a captured row: from the referring column(s) to the referenced
record's source key, the key the mirror and golden_record hold that record under.

An integer id 7 → "7"; a composite key (wh, bin) → "WH1|B-07" (the referenced entity's key
columns joined with |, as its own rows are keyed); a string reference 'stock.shipment.in,1'
→ "1" when it names the reference's model, else no reference to this entity. NULL — in any
column of a composite key, as SQL's MATCH SIMPLE has it — is no reference.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mdm.config.references import ParentReference, Reference

KEY_SEPARATOR = "|"  # how a composite primary key's values make one source key


class ReferenceValueError(ValueError):
    """A referring column's value is no key (a boolean, a list, text that is not 'model,id')."""


def referenced_key(reference: Reference, values: Sequence[Any]) -> str | None:
    """The referenced record's source key from the referring columns' raw values (one value,
    or one per key column of a composite reference, in order); None: no reference."""
    if reference.format == "model,id":
        return _model_reference(reference.model or "", values[0])
    if any(v is None for v in values):
        return None
    return KEY_SEPARATOR.join(key_text(v) for v in values)


def parent_key(parent: ParentReference | None, raws: Sequence[Any]) -> str | None:
    """The parent row's key a child row's parent_column value(s) name: the value itself (a
    composite key's values joined as the parent's own key is), or the id of a 'model,id'
    string naming the parent's model (None: no parent of this list)."""
    if parent is not None:
        return _model_reference(parent.model, raws[0])
    if any(raw is None for raw in raws):
        return None
    return KEY_SEPARATOR.join(key_text(raw) for raw in raws)


def key_text(value: Any) -> str:
    """One key column's value as text: 7 → "7", 7.0 → "7", "S01" → "S01"."""
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise ReferenceValueError(f"expected a key, got {type(value).__name__} {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ReferenceValueError(f"expected a key, got the fraction {value!r}")
        return str(int(value))
    return str(value)


def row_key(columns: Sequence[str], row: dict[str, Any]) -> str | None:
    """A row's source key by its key columns (None when one is missing or NULL)."""
    values = [row.get(c) for c in columns]
    if any(v is None for v in values):
        return None
    return KEY_SEPARATOR.join(key_text(v) for v in values)


def parse_model_reference(text: str) -> tuple[str, str | None]:
    """'stock.shipment.in,1' → ('stock.shipment.in', '1'). Tryton writes 'model,-1' (or
    'model,') for a model chosen without a record: id None."""
    model, sep, ident = text.partition(",")
    model, ident = model.strip(), ident.strip()
    if not sep or not model:
        raise ReferenceValueError(f"expected 'model,id', got {text[:60]!r}")
    if not ident or ident.startswith("-"):
        return model, None
    if "," in ident or " " in ident:
        raise ReferenceValueError(f"expected 'model,id', got {text[:60]!r}")
    return model, ident


def _model_reference(model: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ReferenceValueError(f"expected 'model,id' text, got {type(raw).__name__} {raw!r}")
    named, ident = parse_model_reference(raw)
    return ident if named == model else None
