"""A record's links name it by business key; a draft's (no key yet) by golden id, explicitly."""
from __future__ import annotations

from mdm.lineage.graph import page, record_address


def test_a_keyed_record_is_addressed_by_its_business_key_without_a_query():
    assert record_address("supplier", "S0001", 7) == ("/api/v1/records/supplier/S0001", "")


def test_a_drafts_links_say_by_golden_id():
    assert record_address("purchase_request", None, 7) == (
        "/api/v1/records/purchase_request/7", "?by=golden_id")
    html = page("lineage", "<svg/>", {"entity": "purchase_request", "business_key": None,
                                      "golden_id": 7, "version": 1, "status": "active"}, 30)
    assert 'href="/api/v1/records/purchase_request/7/history?by=golden_id"' in html
    assert 'href="?versions=120&by=golden_id"' in html
    assert "purchase_request (draft 7)" in html
