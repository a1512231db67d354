"""Which delivered payloads a target's row may still be echoing: in flight, the newest
acknowledged and anything newer, and older ones only for a row committed before a newer
version was acknowledged. An older value seen later is a hand edit."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mdm.rules.divergence import _Delivered, _Sent

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _sent(*delivered: _Delivered) -> _Sent:
    return _Sent(1, delivered[0].version, list(delivered), False)


def _d(version: int, acked_at: datetime | None = None, in_flight: bool = False) -> _Delivered:
    return _Delivered(version, in_flight, acked_at)


def _versions(sent: _Sent, committed: datetime | None) -> list[int]:
    return sent.echoable(committed)


def test_after_a_newer_ack_only_the_newest_acknowledged_version_is_an_echo():
    sent = _sent(_d(2, T0 + timedelta(seconds=10)), _d(1, T0))
    assert _versions(sent, T0 + timedelta(minutes=5)) == [2]
    assert _versions(sent, None) == [2]  # no commit time: only what is certain


def test_a_row_committed_before_the_newer_ack_may_echo_the_older_version():
    sent = _sent(_d(2, T0 + timedelta(seconds=10)), _d(1, T0))
    assert _versions(sent, T0 + timedelta(seconds=5)) == [2, 1]


def test_versions_in_flight_and_newer_than_the_newest_ack_are_echoes():
    sent = _sent(_d(4, in_flight=True), _d(3), _d(2, T0 + timedelta(seconds=10)),
                 _d(1, T0, in_flight=True))
    assert _versions(sent, T0 + timedelta(minutes=5)) == [4, 3, 2, 1]
    assert sent.newest == 4
