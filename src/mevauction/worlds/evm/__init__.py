"""The ``evm`` world: real signed transactions executed by pyrevm.

``from_scenario(scenario)`` builds an :class:`EvmWorld` from a scenario whose
``world.kind`` is ``"evm"``; its workload generator (funded keys and the workload
contracts: users' swaps and transfers, competing searchers' arbitrages and backruns)
is :mod:`mevauction.intake.workloads.evm`.
"""

from mevauction.worlds.evm.world import EvmCursor, EvmWorld, from_scenario

__all__ = ["EvmCursor", "EvmWorld", "from_scenario"]
