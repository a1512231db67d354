"""Snapshot requests that do not complete: the settings that bound their resends, the reason a
given-up request carries, and the offset table that holds a request's context. No I/O."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from mdm.capture.debezium import offset_store_properties
from mdm.capture.signals import give_up_reason
from mdm.config.sources import SourceSpec

URL = "postgresql://u:p@localhost:5432/erp"


def test_resends_are_bounded_by_default_and_configurable_per_source():
    spec = SourceSpec(name="erp", url=URL)
    assert (spec.snapshot_start_timeout_s, spec.snapshot_attempts) == (60.0, 3)
    spec = SourceSpec(name="erp", url=URL, snapshot_start_timeout_s=5, snapshot_attempts=1)
    assert (spec.snapshot_start_timeout_s, spec.snapshot_attempts) == (5.0, 1)
    with pytest.raises(ValidationError):
        SourceSpec(name="erp", url=URL, snapshot_attempts=0)
    with pytest.raises(ValidationError):
        SourceSpec(name="erp", url=URL, snapshot_start_timeout_s=0)


def test_a_given_up_request_says_how_often_and_why():
    reason = give_up_reason(3, "public.customer skipped by Debezium (SQL_EXCEPTION); "
                               "not started by the engine within 60s")
    assert reason.startswith("not completed in 3 attempts (public.customer skipped by "
                             "Debezium (SQL_EXCEPTION); not started by the engine within 60s)")
    assert "'mdm resync' again" in reason
    assert give_up_reason(1, None).startswith("not completed in 1 attempt (no reason recorded)")


def test_the_offset_table_holds_offsets_of_any_size():
    ddl = offset_store_properties(SourceSpec(name="erp", url=URL),
                                  "postgresql://hub@localhost/hub")["offset.storage.jdbc.table.ddl"]
    assert "offset_val TEXT" in ddl and "offset_key TEXT" in ddl and "%s" in ddl
