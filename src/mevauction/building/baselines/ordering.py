"""rbuilder's ordering builders: ``mgp-ordering`` and ``mp-ordering``.

The live builders Flashbots runs by default (docs/building.md, "rbuilder's builders";
flashbots/rbuilder ``building/builders/ordering_builder.rs``):

1. simulate every order alone at the top of the block; orders whose simulation
   fails are never considered;
2. keep a priority queue keyed by the sort value (coinbase profit ÷ gas for
   ``mev-gas-price``, coinbase profit for ``max-profit``), ties by order id;
3. pop the best order and execute it on top of the partial block. If it fails,
   does not fit in the gas left, or repeats a transaction already in the block,
   it is dropped. If its in-block sort value is below 95% of the value it was
   queued with, the execution is rolled back and the order goes back into the
   queue once with the lower, in-block value (``failed_order_retries = 1``); a
   second shortfall drops it.

Block value is the sum of the included orders' bids — what the proposer-side
auction receives (the payout transaction of a real builder is not modelled).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from mevauction.building.baselines.simulation import (
    DEFAULT_BLOCK_GAS_LIMIT,
    PartialBlock,
    SimValue,
    simulate_top_of_block,
    sort_value,
)
from mevauction.worlds.base import Block, World

# rbuilder ``enforce_inplace_sim_result``: in-block value must reach 95% of the queued one.
INPLACE_NUMERATOR = 95
INPLACE_DENOMINATOR = 100
FAILED_ORDER_RETRIES = 1


def below_inplace_threshold(sorting: str, queued: SimValue, inplace: SimValue) -> bool:
    """True when the in-block value fell below 95% of the value it was queued with."""
    return sort_value(sorting, inplace) * INPLACE_DENOMINATOR < sort_value(sorting, queued) * INPLACE_NUMERATOR


class OrderingBuilder:
    """Greedy pop-best-and-commit builder parameterised by its sort key."""

    name = ""
    sorting = ""
    OPTIONS = ("block_gas_limit",)

    def __init__(self, block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT):
        self.block_gas_limit = block_gas_limit

    def build(self, world: World, order_ids: Sequence[str]) -> Block:
        simulated = simulate_top_of_block(world, order_ids)
        queue = [self._entry(oid, value) for oid, value in simulated.items()]
        heapq.heapify(queue)
        block = PartialBlock(world, self.block_gas_limit)
        retries: dict[str, int] = {}
        while queue:
            _, oid, queued = heapq.heappop(queue)
            inplace = block.try_commit(oid)
            if inplace is None or not below_inplace_threshold(self.sorting, queued, inplace):
                continue
            block.rollback_last()
            if retries.get(oid, 0) < FAILED_ORDER_RETRIES:
                retries[oid] = retries.get(oid, 0) + 1
                heapq.heappush(queue, self._entry(oid, inplace))
        return block.block()

    def _entry(self, oid: str, value: SimValue) -> tuple[int, str, SimValue]:
        # heapq pops the smallest: negate the key so the most valuable comes first.
        return (-sort_value(self.sorting, value), oid, value)


class MevGasPriceOrdering(OrderingBuilder):
    """``mgp-ordering``: sorted by coinbase profit ÷ gas used."""

    name = "mgp-ordering"
    sorting = "mev-gas-price"


class MaxProfitOrdering(OrderingBuilder):
    """``mp-ordering``: sorted by coinbase profit."""

    name = "mp-ordering"
    sorting = "max-profit"
