"""What every feed (a cdc/*.yaml file with a `kind:`, mdm/config/feeds.py) declares."""
from __future__ import annotations

from pydantic import Field, field_validator

from mdm.config.targets import Identifier, Spec


class FeedChild(Spec):
    """How a child list arrives inside a feed's documents (`lines: [...]` in the JSON): which
    list field, and which fields of one of its items identify it under its document."""

    field: str | None = Field(None, pattern=r"^[^.\s]+(\.[^.\s]+)*$", description=(
        "Dotted path of the list in the parent document (or parent item, for a nested list); "
        "default: the entity's name for the list (`lines`)."))
    key: str | list[str] | None = Field(None, description=(
        "The item field(s) identifying an item within its document (line_no); default: the "
        "child list's primary_key. The child row's key is the parent's key, '|', this key."))

    @field_validator("key")
    @classmethod
    def _named(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else value
        if names is not None and (not names or not all(n.strip() for n in names)):
            raise ValueError("expected a field name or a non-empty list of field names")
        return value

    @property
    def key_fields(self) -> list[str] | None:
        return None if self.key is None else [self.key] if isinstance(self.key, str) \
            else list(self.key)


class FeedBase(Spec):
    name: Identifier = Field(description="Source name, e.g. oa; entities name it as their "
                             "`source:`; used in xrefs and lineage.")
    description: str | None = Field(None, description="What this feed reads, for people.")
    children: dict[str, FeedChild] = Field(default_factory=dict, description=(
        "Child table (schema.table, as the entity's `children.<list>.table`) → how its rows "
        "arrive inside the documents: {field, key}. Without an entry, every child list of the "
        "entities this feed is the source of is read from the document field named like the "
        "list, keyed by the list's primary_key. A document that carries the list (even empty) "
        "carries all of it: an item gone since the last version is deleted; a document without "
        "the field leaves the list as it was."))

    @field_validator("children")
    @classmethod
    def _qualified(cls, value: dict[str, FeedChild]) -> dict[str, FeedChild]:
        return {(t if "." in t else f"public.{t}"): c for t, c in value.items()}
