"""The ``evm`` world: real signed transactions executed by pyrevm (issue 3).

``from_scenario(scenario)`` builds an :class:`EvmWorld` from a scenario whose
``world.kind`` is ``"evm"``; ``generate(orders, seed, **opts)`` builds such a
scenario from funded keys and the workload contracts (users' swaps and transfers,
competing searchers' arbitrages and backruns).
"""

from mevauction.worlds.evm.generate import generate
from mevauction.worlds.evm.world import EvmCursor, EvmWorld, from_scenario

__all__ = ["EvmCursor", "EvmWorld", "from_scenario", "generate"]
