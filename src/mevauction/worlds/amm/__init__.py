"""The ``amm`` world: Uniswap-V2 pools, ERC-20 balances, swaps, transfers and MEV bundles.

``from_scenario(scenario)`` reads a ``mevauction.scenario/1`` document with
``world.kind == "amm"``; its workload generator is :mod:`mevauction.intake.workloads.amm`.
"""

from mevauction.worlds.amm.scenario import from_scenario
from mevauction.worlds.amm.world import AmmWorld, Pool

__all__ = ["AmmWorld", "Pool", "from_scenario"]
