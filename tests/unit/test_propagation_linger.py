"""The propagation loop lingers after a large claim of master data (newer versions pile up
and supersede older ones) but never for a flow's commands, which supersede nothing."""
from __future__ import annotations

from mdm.model.deliveries import Delivery
from mdm.propagate.worker import LOADED_BATCH, lingers


def _due(count: int, hop: str | None) -> list[Delivery]:
    return [Delivery(n, n, 1, "material", f"M-{n}", "erp", "create" if hop else "upsert", {},
                     f"k-{hop}-{n}", 0, hop=hop) for n in range(count)]


def test_a_large_claim_of_master_data_lingers():
    assert lingers(_due(LOADED_BATCH, None))


def test_a_large_claim_of_commands_does_not_linger():
    assert not lingers(_due(LOADED_BATCH * 3, "purchase_receipt.stock_in"))


def test_commands_in_a_claim_do_not_count_towards_the_load():
    assert not lingers(_due(LOADED_BATCH - 1, None) + _due(50, "purchase_receipt.stock_in"))
