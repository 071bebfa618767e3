"""The Boost+ mechanism on generated amm slots."""

from __future__ import annotations

import pytest

from mevauction.intake.scenario import parse_scenario
from mevauction.intake.workloads.amm import generate


@pytest.mark.parametrize("orders, seed", [(40, 1), (90, 2), (150, 3)])
def test_auction_on_generated_amm_slot_keeps_the_invariants(orders, seed):
    scenario = parse_scenario(generate(orders, seed, builders=[{"id": "B1", "algorithm": "default", "bid": 0}]))
    world = scenario.world
    report = scenario.run_auction()
    assert report.winner == "default"  # B1 bids 0 < β0
    # The final block executes to exactly the reported bids, with no shared transaction.
    executed = world.evaluate(report.block)
    assert executed.orders == tuple(report.block)
    txs = [tx for oid in report.block for tx in world.orders[oid].txs]
    assert len(txs) == len(set(txs))
    for oid, s in report.searchers.items():
        assert s.bid == executed.bids.get(oid, 0)
        assert 0 <= s.refund <= max(s.bid, 0) or (oid not in report.block and s.refund == 0)
    assert report.proposer >= 0  # budget balance (Theorem 3)
    assert report.beta0 == sum(executed.bids[o] for o in report.default.block.orders)
