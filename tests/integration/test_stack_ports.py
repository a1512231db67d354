"""The demo stack chooses free ports for OA, WMS and the API; one can be taken (e.g. as another
connection's ephemeral port) before the server binds it. The stack then chooses again instead
of waiting 30 s for a server that is gone (a CI run failed that way)."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from mdm.demo import stack as stack_module
from mdm.demo.stack import DemoStack, PortTaken
from mdm.runtime.postgres import free_port


@pytest.fixture
def demo(tmp_path) -> Iterator[DemoStack]:
    s = DemoStack(tmp_path / "stack")
    try:
        s.start_databases(seed=False)
        yield s
    finally:
        s.stop()
        s.pg.remove()


def _taken_port() -> socket.socket:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    return blocker


def test_a_chosen_port_taken_before_the_server_binds_it_is_chosen_again(demo, monkeypatch):
    with _taken_port() as blocker:
        taken = blocker.getsockname()[1]
        offered = iter([taken])
        monkeypatch.setattr(stack_module, "free_port", lambda: next(offered, None) or free_port())
        demo.start_targets()
        assert demo.oa_port != taken
        assert httpx.get(f"{demo.oa_url}/healthz").status_code == 200
        assert httpx.get(f"{demo.wms_url}/healthz").status_code == 200
        assert "address already in use" in (demo.state_dir / "targets.log").read_text()


def test_a_port_the_user_chose_is_not_changed_behind_their_back(demo):
    with _taken_port() as blocker:
        demo.oa_port = blocker.getsockname()[1]
        with pytest.raises(PortTaken):
            demo.start_targets()
