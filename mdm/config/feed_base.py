"""What every feed (a cdc/*.yaml file with a `kind:`, mdm/config/feeds.py) declares."""
from __future__ import annotations

from pydantic import Field

from mdm.config.targets import Identifier, Spec


class FeedBase(Spec):
    name: Identifier = Field(description="Source name, e.g. oa; entities name it as their "
                             "`source:`; used in xrefs and lineage.")
    description: str | None = Field(None, description="What this feed reads, for people.")
