"""Feasible families for large conflict groups (seed 004 Alg. 1, lines 26–29).

A group of at least k_cutoff orders is too large for exhaustive search. Alg. 1
first checks for structure that makes the search simple (``IsFeasible`` /
``AlgFor``), and otherwise searches exhaustively over k_cutoff − 1 orders chosen by
a deterministic, seeded ``Select``.

Every rule here looks only at the orders' structure — which transactions they
contain, their kind and target — and at the slot seed. None reads a bid. That is
what keeps the set of blocks the default algorithm considers independent of bids
(Prop. 1 (i)), on which DSIC for searchers rests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from mevauction.building import search
from mevauction.worlds.base import World


def seeded_rank(seed: int, order_id: str) -> bytes:
    """A pseudo-random but reproducible rank: the slot seed hashed with the order id."""
    return hashlib.sha256(f"{seed}:{order_id}".encode()).digest()


def seeded_order(members: Sequence[str], seed: int) -> list[str]:
    return sorted(members, key=lambda oid: seeded_rank(seed, oid))


def select(members: Sequence[str], k: int, seed: int) -> list[str]:
    """Alg. 1 ``Select(CG, k)``: k orders chosen by seeded hash, blind to bids.

    The chosen orders keep their original relative order, so the exhaustive search
    that follows walks them deterministically.
    """
    chosen = set(seeded_order(members, seed)[:k])
    return [oid for oid in members if oid in chosen]


def share_one_transaction(world: World, members: Sequence[str]) -> bool:
    """Every order contains one common transaction: at most one can be included."""
    common = set(world.orders[members[0]].txs)
    for oid in members[1:]:
        common &= set(world.orders[oid].txs)
        if not common:
            return False
    return True


def solve_large_group(world: World, members: Sequence[str], k_cutoff: int, seed: int,
                      counterfactuals: bool = True) -> search.GroupResult:
    """Best block of a group of ≥ k_cutoff orders within its bid-independent family."""
    if share_one_transaction(world, members):
        return search.singletons(world, members)
    if world.commutative(members):
        return search.fixed_order(world, seeded_order(members, seed))
    chosen = select(members, k_cutoff - 1, seed)
    result = search.exhaustive(world, chosen, counterfactuals)
    if counterfactuals:
        # Orders Select left out are in no candidate block: zeroing their bid changes
        # nothing, so the best value without them is the group's best value.
        for oid in members:
            if oid not in result.best_without:
                result.best_without[oid] = result.value
                result.counterfactual[oid] = result.block.orders
    return result
