"""`kind: poll`: the hub pages an API's records modified since a durable cursor.

For SaaS ERPs that offer no database and no callback, only "list what was modified since"
(用友 YonSuite, 金蝶云星空 WebAPI): one `resources:` entry per entity table, each read by keyset
paging over (modified time, id) from the cursor the hub keeps in the feed_state table
(mdm/capture/poll.py explains the algorithm). Secrets are written as ${ENV_VAR}.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mdm.config.feed_base import FeedBase
from mdm.config.targets import Spec

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DOTTED = r"^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$"


def duration_s(value: object) -> float:
    """Seconds of `1h`, `30m`, `90s`, `500ms`, `2d` or a number of seconds; ValueError else."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90s, 30m or 1h; got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 90s, 30m or 1h; got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"expected a positive duration; got {value!r}")
    return seconds


class PollAuth(Spec):
    """How each request is authorised: one header, its value from a secret."""

    header: str = Field("Authorization", description="HTTP header that carries the credential.")
    scheme: str = Field("Bearer", description="Written before the token with a space "
                        "(`Bearer`); empty for a header that takes the bare value (X-Api-Key).")
    token: str = Field(description="The credential, written as ${ENV_VAR} (or ${file:/path}); "
                       "expanded when the feed starts, never logged.")

    @field_validator("token")
    @classmethod
    def _from_a_secret(cls, value: str) -> str:
        if "${" not in value:
            raise ValueError("expected a reference to a secret such as ${YONSUITE_TOKEN}, not "
                             "the credential itself (project files are committed)")
        return value


class PollParams(Spec):
    """The API's query parameter names. `modified_since` asks for records with modified time
    >= the value; the others are optional."""

    modified_since: str = Field("modified_since", description="Query parameter taking the "
                                "cursor's modified time (records modified at or after it).")
    after_id: str | None = Field(None, description="Query parameter for the id tiebreak, when "
                                 "the API answers (modified, id) > (modified_since, after_id). "
                                 "Without it the hub asks `>=` and skips what it already has.")
    page_size: str = Field("limit", description="Query parameter taking the page size.")
    cursor: str | None = Field(None, description="Query parameter taking the page token the "
                               "API returned (`next_cursor:`), for APIs that page by token.")


class PollTombstones(Spec):
    """An endpoint listing the ids deleted since a time, ordered by (deleted time, id)."""

    path: str = Field(description="Path under base_url, e.g. /api/materials/deleted.")
    records: str = Field("data", pattern=DOTTED, description="Dotted path of the list of "
                         "deleted records in the JSON answer (`data.items`).")
    id_field: str = Field("id", description="Field of a deleted record holding its id.")
    deleted_field: str = Field("deleted_at", description="Field holding when it was deleted.")
    params: PollParams = Field(PollParams(modified_since="deleted_since"),
                               description="The endpoint's query parameter names.")


class PollKeyDiff(Spec):
    """Every so often list every id the API holds (the resource's own pages from the start)
    and retire the records the hub holds that are gone."""

    every_s: float = Field(alias="every", description="How often, e.g. 1h, 30m, 90s.")

    @field_validator("every_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return duration_s(value)


class PollDeletes(Spec):
    """How deletions reach the hub (an API's list of modified records never shows them)."""

    tombstones: PollTombstones | None = Field(None, description="An endpoint of deleted ids.")
    key_diff: PollKeyDiff | None = Field(None, description="Periodic comparison of all ids.")


class PollResource(Spec):
    """One entity table read from one API list (the key under `resources:` is the table)."""

    path: str = Field(description="Path under base_url of the list, e.g. /api/materials.")
    records: str = Field("data", pattern=DOTTED, description="Dotted path of the list of "
                         "records in the JSON answer (`data.items`; `$` for a bare list).")
    id_field: str = Field("id", description="Record field holding its id (the row key).")
    modified_field: str = Field("modified_at", description="Record field holding its last "
                                "modified time (the cursor's time).")
    next_cursor: str | None = Field(None, pattern=DOTTED, description="Dotted path of the next "
                                    "page's token in the answer (with `params.cursor`).")
    params: PollParams = Field(PollParams(), description="The API's query parameter names.")
    page_size: int = Field(100, ge=1, le=10_000, description="Records asked per page.")
    max_page_size: int = Field(2000, ge=1, le=100_000, description="When more records than a "
                               "page share one modified time and the API has no `after_id` nor "
                               "cursor, the page grows up to this size to get past them.")
    deletes: PollDeletes = Field(PollDeletes(), description="How deletions are learned.")

    @model_validator(mode="after")
    def _sizes(self) -> PollResource:
        if self.max_page_size < self.page_size:
            raise ValueError(f"max_page_size: expected at least page_size ({self.page_size}); "
                             f"got {self.max_page_size}")
        if (self.next_cursor is None) != (self.params.cursor is None):
            raise ValueError("next_cursor: expected together with params.cursor (the token's "
                             "place in the answer and the parameter that sends it back)")
        return self


class PollBackoff(Spec):
    initial_s: float = Field(1.0, gt=0, description="First wait after a transient failure.")
    max_s: float = Field(60.0, gt=0, description="Longest wait between retries.")
    multiplier: float = Field(2.0, ge=1.0, description="Growth of the wait per failure.")


class PollFeed(FeedBase):
    kind: Literal["poll"]
    base_url: str = Field(description="The API's base URL; ${ENV_VAR} allowed.")
    auth: PollAuth | None = Field(None, description="Credential sent with every request.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers; "
                                    "values may use ${ENV_VAR}.")
    resources: dict[str, PollResource] = Field(
        min_length=1, description="Entity table (schema-qualified, e.g. kingdee.material, as "
        "the entity's `table:`) → the API list it is read from.")
    interval_s: float = Field(10.0, gt=0, description="Seconds between two polls once a "
                              "resource is read to its end, and after the API refused a request.")
    settle_s: float = Field(0.0, ge=0, description="Records modified less than this long ago "
                            "(by the hub's clock) wait for the next poll: set it above the API's "
                            "time resolution plus clock skew, so no write can still land at a "
                            "time the cursor has passed (金蝶: seconds → 2).")
    time_format: Literal["iso", "epoch_ms", "epoch_s"] = Field(
        "iso", description="How the API writes times, in records and in `modified_since`.")
    timezone: str = Field("UTC", description="The zone of ISO times written without an offset "
                          "(金蝶云星空 writes local time: Asia/Shanghai).")
    rate_limit_per_s: float = Field(5.0, gt=0, description="At most this many requests a second.")
    timeout_s: float = Field(10.0, gt=0, description="Per request.")
    backoff: PollBackoff = Field(PollBackoff(), description="Retries of transient failures "
                                 "(connection, timeout, 5xx, 408/425/429).")

    @field_validator("resources")
    @classmethod
    def _tables(cls, value: dict[str, PollResource]) -> dict[str, PollResource]:
        for table in value:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*", table):
                raise ValueError(f"resources.{table}: expected a schema-qualified table name "
                                 "such as kingdee.material (the entity's `table:`)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Asia/Shanghai; got {value!r}"
                             ) from None
        return value
