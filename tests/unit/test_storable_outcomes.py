"""What a target answers is recorded whatever it holds: NUL characters, unpaired surrogates,
infinite numbers and huge status codes never reach PostgreSQL as they are."""
from __future__ import annotations

from mdm.model.deliveries import Delivery, Outcome
from mdm.propagate.storable import clean_text, storable, unstorable

D = Delivery(1, 10, 3, "material", "M-1001", "wms", "upsert", {"item_code": "M-1001"},
             "mdm-g10-v3-wms", 0)


def test_an_error_with_nul_and_secrets_is_cleaned_and_readable():
    out = storable(Outcome(D, acked=False, status_code=500,
                           error="HTTP 500: bad\x00body \ud800 https://x/?token=abc"))
    assert out.error is not None and "\x00" not in out.error and "\ud800" not in out.error
    assert "bad\\u0000body" in out.error and "token=***" in out.error and "abc" not in out.error


def test_an_ack_with_an_unstorable_write_back_is_a_terminal_failure_naming_the_field():
    for value, words in (("A\x00B", "NUL"), (float("inf"), "inf"), ({"k\x00": 1}, "NUL")):
        out = storable(Outcome(D, acked=True, status_code=200, target_id="7",
                               write_back={"wms_status": value}))
        assert not out.acked and out.terminal and out.write_back is None
        assert out.error is not None and words in out.error and "wms_status" in out.error


def test_a_status_beyond_smallint_is_dropped_and_named():
    out = storable(Outcome(D, acked=False, status_code=99999, error="HTTP 99999 (in batch): x"))
    assert out.status_code is None and out.error is not None and "99999" in out.error


def test_clean_values_pass_unchanged():
    ok = Outcome(D, acked=True, status_code=200, target_id="7", write_back={"wms_status": "在库"})
    assert storable(ok) == ok
    assert unstorable({"a": [1, "b", 2.5]}) is None
    assert clean_text("x" * 5000).endswith("…")
