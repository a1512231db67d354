"""cdc/*.yaml `kind: poll` (mdm/config/feed_poll.py): a 金蝶-like feed loads and an entity
takes it as its source; bad values name the file, the key and what was expected; the runner
is registered."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mdm.capture.feeds import FEED_KINDS, running_feeds
from mdm.config.feed_poll import PollFeed
from mdm.config.loader import load_project
from mdm.errors import ConfigError

FEED = """\
name: kingdee
kind: poll
description: 金蝶云星空 materials
base_url: ${KD_URL}
auth: {header: X-Api-Key, scheme: '', token: '${KD_TOKEN}'}
timezone: Asia/Shanghai
settle_s: 2
rate_limit_per_s: 3
resources:
  kingdee.material:
    path: /api/materials
    records: data.items
    id_field: id
    modified_field: modified_at
    page_size: 50
    params: {modified_since: modified_since, page_size: limit}
    deletes:
      tombstones: {path: /api/materials/deleted}
      key_diff: {every: 1h}
"""
ENTITY = """\
entity: kd_material
source: kingdee
table: kingdee.material
primary_key: id
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
"""


def _write(project: Path, feed: str = FEED) -> None:
    (project / "cdc/kingdee.yaml").write_text(feed, encoding="utf-8")
    (project / "golden_records/kd_material.yaml").write_text(ENTITY, encoding="utf-8")


def test_a_poll_feed_loads_and_an_entity_takes_it_as_its_source(project: Path) -> None:
    _write(project)
    loaded = load_project(project)
    spec = loaded.feeds["kingdee"]
    assert isinstance(spec, PollFeed)
    resource = spec.resources["kingdee.material"]
    assert resource.deletes.key_diff is not None and resource.deletes.key_diff.every_s == 3600
    assert resource.deletes.tombstones is not None
    assert resource.deletes.tombstones.params.modified_since == "deleted_since"
    assert loaded.entities_of_record("kingdee") == ["kd_material"]
    assert "poll" in FEED_KINDS and running_feeds(loaded) == ["kingdee"]


@pytest.mark.parametrize(("change", "expected"), [
    (("every: 1h", "every: soon"), r"resources\.kingdee\.material\.deletes\.key_diff\.every.*"
                                   r"expected a duration"),
    (("page_size: 50", "page_size: 0"), r"resources\.kingdee\.material\.page_size"),
    (("token: '${KD_TOKEN}'", "token: 's3cr3t'"), r"auth\.token.*expected a reference to a secret"),
    (("timezone: Asia/Shanghai", "timezone: Mars/Olympus"), r"timezone.*IANA time zone"),
    (("  kingdee.material:", "  material:"), r"resources.*schema-qualified table name"),
    (("    records: data.items", "    records: 'data..items'"), r"records.*pattern"),
    (("rate_limit_per_s: 3", "rate_limit_per_s: -1"), r"rate_limit_per_s.*greater than 0"),
    (("    page_size: 50", "    page_size: 50\n    max_page_size: 10"),
     r"max_page_size: expected at least page_size"),
    (("    page_size: 50", "    page_size: 50\n    next_cursor: data.next"),
     r"next_cursor: expected together with params.cursor"),
    (("    path: /api/materials\n", "    path: /api/materials\n    pages: 3\n"),
     r"pages: unknown key"),
])
def test_a_bad_value_names_the_file_the_key_and_what_was_expected(
        project: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in FEED
    _write(project, FEED.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    message = str(caught.value)
    assert "cdc/kingdee.yaml" in message
    assert re.search(expected, message), message
