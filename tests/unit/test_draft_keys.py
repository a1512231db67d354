"""Records without a business key yet (drafts): what counts as no key, where an entity allows
drafts, and which versions claim a key (and so can clash). No I/O."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdm.config.loader import Project, load_project
from mdm.config.models import EntitySpec
from mdm.errors import MappingError
from mdm.golden.mapper import map_row, table_mappings
from mdm.golden.uniqueness import _claims_key
from mdm.model.golden import Cause, NewVersion, Previous

REQUEST = """entity: purchase_request
table: public.t_purchase_request
business_key: number
attributes:
  number: {type: string}
  title: {type: string}
"""


def _project(tmp_path: Path, entity: str = REQUEST) -> Project:
    (tmp_path / "cdc").mkdir()
    (tmp_path / "cdc/erp.yaml").write_text("name: erp\nurl: postgresql://u@h/db\n")
    (tmp_path / "golden_records").mkdir()
    (tmp_path / "golden_records/purchase_request.yaml").write_text(entity)
    return load_project(tmp_path)


def _spec(tmp_path: Path, entity: str = REQUEST) -> EntitySpec:
    return _project(tmp_path, entity).entities["purchase_request"]


def test_an_empty_business_key_is_a_draft_where_the_key_is_not_required(tmp_path: Path):
    spec = _spec(tmp_path)
    assert spec.allows_drafts
    assert [spec.business_key_of({"number": v}) for v in (None, "", "PR-1", 42)] == [
        None, None, "PR-1", "42"]
    assert spec.business_key_of({}) is None


def test_a_required_business_key_allows_no_drafts_and_refuses_the_row(tmp_path: Path):
    project = _project(tmp_path, REQUEST.replace("number: {type: string}",
                                                 "number: {type: string, required: true}"))
    assert not project.entities["purchase_request"].allows_drafts
    mapping = table_mappings(project, "erp")["public.t_purchase_request"]
    with pytest.raises(MappingError, match="column number is required but empty"):
        map_row(mapping, "public.t_purchase_request", "1", {"id": 1, "number": None}, None, "0")


def _version(key: str | None, before: str | None | bool = False) -> NewVersion:
    """A version with business key `key`; `before`: the previous version's number (False: none)."""
    previous = None if before is False else Previous({"number": before, "title": "t"}, None)
    cause = Cause("change_event", "erp", None, None, None, None, None, None, None)
    return NewVersion(7, 2, "purchase_request", key, {"number": key, "title": "t"}, "active",
                      datetime.now(UTC), cause, previous=previous)


def test_a_draft_claims_no_key_and_its_first_number_is_claimed(tmp_path: Path):
    project = _project(tmp_path)
    assert not _claims_key(project, _version(None))  # a new draft
    assert not _claims_key(project, _version(None, before=None))  # still a draft
    assert not _claims_key(project, _version(None, before="PR-1"))  # its number cleared
    assert _claims_key(project, _version("PR-1", before=None))  # numbered: checked for a clash
    assert _claims_key(project, _version("PR-2", before="PR-1"))  # a rename
    assert not _claims_key(project, _version("PR-1", before="PR-1"))  # keeps its key
    assert _claims_key(project, _version("PR-1"))  # a new record with a key
