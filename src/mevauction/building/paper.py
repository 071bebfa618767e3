"""``paper``: Alg. 1 of the Boost+ paper exactly as written (seed 004), beside ``default``.

The same conflict groups and exhaustive search below ``k_cutoff``; a group of at
least ``k_cutoff`` orders gets only the paper's line 26–29: the two special cases
(every order shares one transaction → at most one of them; commutative → one seeded
order of all of them), else an exhaustive search over ``Select(CG, k_cutoff − 1)``
— the rest of the group is left out. ``default`` searches the union of this family
with larger ones (:mod:`mevauction.building.large`); ``paper`` shows what that buys.
The gas rule and the verified-structure rule are the same as ``default``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from mevauction.building import search
from mevauction.building.default import DefaultBuilder
from mevauction.building.large import seeded_order, select, share_one_transaction
from mevauction.worlds.base import World


def paper_large_group(world: World, members: Sequence[str], k_cutoff: int, seed: int,
                      counterfactuals: bool = True) -> search.GroupResult:
    if share_one_transaction(world, members):
        return search.singletons(world, members)
    if world.commutative(members):
        return search.fixed_order(world, seeded_order(members, seed))
    chosen = select(members, k_cutoff - 1, seed)
    result = search.exhaustive(world, chosen, counterfactuals)
    if counterfactuals:  # members left out bid 0 in every block: o_{-i} = o*
        for oid in members:
            if oid not in result.best_without:
                result.best_without[oid] = result.value
                result.counterfactual[oid] = result.block.orders
    return result


class PaperBuilder(DefaultBuilder):
    name = "paper"

    def solve_group(self, world: World, members: Sequence[str], counterfactuals: bool = True) -> search.GroupResult:
        if len(members) < self.k_cutoff:
            return super().solve_group(world, members, counterfactuals)
        return paper_large_group(world, members, self.k_cutoff, self.seed, counterfactuals)
