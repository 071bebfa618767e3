"""The default algorithm of Boost+ (Boost+ paper, Alg. 1 ``BlockBuilding``).

Orders are partitioned into conflict groups (``GetConflictGroups``); each group is
solved on its own, since orders of different groups neither affect nor depend on
each other, and the group blocks are concatenated:

- a group of fewer than ``k_cutoff`` orders is searched exhaustively over all
  orderings of all its subsets (Ω_CG, line 24);
- a larger group is handled by :mod:`mevauction.building.large` (structural special
  cases, else an exhaustive search over ``k_cutoff − 1`` orders chosen by ``Select``).

``k_cutoff`` defaults to 8, the paper's choice (§ 5.3). Besides the default block
o*, :meth:`DefaultBuilder.solve` returns for every order i the value of the
counterfactual block o_{-i} — the best block when b_i is zeroed (lines 38–40) — from
the same pass over each group (see :mod:`mevauction.building.search`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mevauction.building import search
from mevauction.building.conflicts import conflict_groups
from mevauction.building.gas import capped, group_budgets
from mevauction.building.large import solve_group
from mevauction.worlds.base import Block, World

K_CUTOFF = 8


@dataclass(slots=True)
class DefaultSolution:
    """o*, its value β0, and per order i the refund r_i of Eq. (1)."""

    block: Block
    groups: list[list[str]]
    refunds: dict[str, int] = field(default_factory=dict)
    counterfactual: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def value(self) -> int:
        return self.block.value


class DefaultBuilder:
    """Alg. 1 as a builder plug-in (``default``)."""

    name = "default"
    OPTIONS = ("k_cutoff", "seed", "block_gas_limit")

    def __init__(self, k_cutoff: int = K_CUTOFF, seed: int = 0, block_gas_limit: int | None = None):
        if k_cutoff < 2:
            raise ValueError("k_cutoff must be at least 2")
        self.k_cutoff = k_cutoff
        self.seed = seed
        # None: no limit. Otherwise the gas the block may use, shared among the
        # groups by a bid-independent rule (mevauction.building.gas).
        self.block_gas_limit = block_gas_limit

    def solve_group(self, world: World, members: Sequence[str], counterfactuals: bool = True) -> search.GroupResult:
        return solve_group(world, members, self.k_cutoff, self.seed, counterfactuals)

    def solve(self, world: World, order_ids: Sequence[str], counterfactuals: bool = True) -> DefaultSolution:
        """o* over ``order_ids`` and, unless disabled, every refund r_i."""
        groups = conflict_groups(order_ids, world.conflict_access)
        orders: list[str] = []
        bids: dict[str, int] = {}
        solution = DefaultSolution(Block(), groups)
        budgets = group_budgets(world, groups, self.block_gas_limit)
        # Conflict-free orders without a gas cap: executed on one cursor, not one each.
        alone = search.one_order_each(world, [g[0] for g, b in zip(groups, budgets) if len(g) == 1 and b is None])
        for members, budget in zip(groups, budgets):
            single = alone.get(members[0]) if len(members) == 1 else None
            if single is not None:
                result = single
            else:
                result = self.solve_group(capped(world, budget), members, counterfactuals)
            orders.extend(result.block.orders)
            bids.update(result.block.bids)
            if counterfactuals:
                value = result.value  # r_i = V(o*) − best without b_i (``GroupResult.refund``)
                for oid in members:
                    solution.refunds[oid] = value - result.best_without[oid]
                    solution.counterfactual[oid] = result.counterfactual[oid]
        solution.block = Block(tuple(orders), bids)
        return solution

    def build(self, world: World, order_ids: Sequence[str]) -> Block:
        return self.solve(world, order_ids, counterfactuals=False).block
