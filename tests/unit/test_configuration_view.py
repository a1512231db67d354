"""The admin's configuration view shows addresses as written and as resolved, never a secret."""
from __future__ import annotations

import pytest

from mdm.api.configuration import _address


def test_a_resolved_address_masks_the_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MDM_TEST_ERP_PW", "s3cret-Pa55")
    shown = _address("postgresql://mdm:${MDM_TEST_ERP_PW}@erp.example:5432/erp", "cdc/erp.yaml")
    assert shown["written"] == "postgresql://mdm:${MDM_TEST_ERP_PW}@erp.example:5432/erp"
    assert shown["resolved"] == "postgresql://mdm:***@erp.example:5432/erp"
    assert "s3cret" not in str(shown)


def test_an_unset_variable_is_named_not_raised(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MDM_TEST_NOT_SET", raising=False)
    shown = _address("amqp://${MDM_TEST_NOT_SET}@127.0.0.1/", "targets/events.yaml")
    assert shown["resolved"].startswith("unresolved:") and "MDM_TEST_NOT_SET" in shown["resolved"]
