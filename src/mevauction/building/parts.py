"""The parts of a large group left once the orders failing at the top of the block are
set aside (issue 15): a family of the union in :mod:`mevauction.building.large`.

rbuilder never considers an order that fails alone on the parent state; in a large
conflict group such orders (a sandwich whose victim's slippage limit the front-run
breaks, an arbitrage with nothing to take yet) are often the links that join several
pools into one group. Without them, the rest of the group falls apart into *parts*
that touch disjoint keys, and each part is much smaller than the group: its
exhaustive search or its seeded shuffles reach orderings the whole group's families
do not. So one more family is offered: every block made of one block of each part's
own family (exhaustive below ``k_cutoff``, the large-group union otherwise),
concatenated in the parts' order.

Bid-independent: whether an order fails alone at the top of the block is decided by
its program and the parent state, never by its bid (the premise of every family
here); parts are connected components of the conflict relation; the families of the
parts are bid-independent. Exact: parts touch disjoint keys, so in a world where
disjoint orders commute (the premise of conflict grouping itself) a concatenation is
worth the sum of its pieces, every bid unchanged; the family's maximum is the
concatenation of the parts' maxima, and the best value without b_i replaces only i's
part by its counterfactual maximum. Under a gas budget each part gets its share of
it by declared gas (:func:`mevauction.building.gas.group_budgets`), so every block
of the family stays within the group's budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mevauction.building import search
from mevauction.building.conflicts import conflict_groups
from mevauction.building.gas import GasCappedWorld, capped, group_budgets
from mevauction.worlds.base import Block, World

Solver = Callable[[World, Sequence[str]], search.GroupResult]


def top_of_block_parts(world: World, members: Sequence[str]) -> list[list[str]] | None:
    """The parts of ``members`` without the orders failing alone at the top of the
    block, or None when that leaves the group as it is (nothing fails)."""
    cursor = world.cursor()
    kept = []
    for oid in members:
        if cursor.push(oid).success:
            kept.append(oid)
        cursor.pop()
    if len(kept) == len(members):
        return None
    return conflict_groups(kept, world.conflict_access)


def parts_family(world: World, members: Sequence[str], solve: Solver,
                 counterfactuals: bool) -> search.GroupResult | None:
    """The best concatenation of the parts' best blocks (module docstring), with every
    member's best value without its bid; None when the group has no parts."""
    parts = top_of_block_parts(world, members)
    if parts is None:
        return None
    if isinstance(world, GasCappedWorld):
        inner, budgets = world.inner, group_budgets(world.inner, parts, world.budget)
    else:
        inner, budgets = world, [None] * len(parts)
    results = [solve(capped(inner, budget), part) for part, budget in zip(parts, budgets)]
    orders: list[str] = []
    bids: dict[str, int] = {}
    for result in results:
        orders.extend(result.block.orders)
        bids.update(result.block.bids)
    out = search.GroupResult(Block(tuple(orders), bids))
    if counterfactuals:
        value = out.value
        for oid in members:  # set aside: in no block of the family, so o_{-i} = the best
            out.best_without[oid] = value
            out.counterfactual[oid] = out.block.orders
        for k, (part, result) in enumerate(zip(parts, results)):
            for oid in part:
                out.best_without[oid] = value - result.value + result.best_without[oid]
                out.counterfactual[oid] = tuple(o for j, r in enumerate(results)
                                                for o in (result.counterfactual[oid] if j == k else r.block.orders))
    return out
