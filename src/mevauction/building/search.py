"""Exact search of one conflict group, with every counterfactual in the same pass.

For a family of candidate blocks Ω (all orderings of all subsets of a group, or a
structured family for large groups) we need, per Fig. 3 steps (1)–(2):

- o* ∈ argmax_{o∈Ω} Σ_i b_i(o), the best block of the group, and
- for every member i, max_{o∈Ω} Σ_{j≠i} b_j(o): the best value with b_i zeroed.

The paper reruns the whole algorithm once per order (Alg. 1, lines 38–40). Since
grouping ignores bids, zeroing b_i can only change i's own group, and since Ω does
not depend on bids (Prop. 1 (i)), one walk over Ω gives all of them: every visited
block o is a candidate for o* with value Σ b(o), and for o_{-i} with value
Σ b(o) − b_i(o) (which is Σ b(o) when i ∉ o).

The walk is a depth-first search over ordered subsets with a world cursor: each
prefix is executed once (push), and undone (pop) on the way back. An order that
fails at a position has no effect and pays nothing, so blocks containing it there
equal blocks without it and the branch is skipped. Orders that share a transaction
can never be in one block together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mevauction.worlds.base import Block, World


@dataclass(slots=True)
class GroupResult:
    """The best block of a group and, per member i, the best value without b_i."""

    block: Block
    best_without: dict[str, int] = field(default_factory=dict)
    counterfactual: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def value(self) -> int:
        return self.block.value

    def refund(self, order_id: str) -> int:
        """r_i restricted to i's group: V(o*) − Σ_{j≠i} b_j(o_{-i}) (Eq. 1)."""
        return self.block.value - self.best_without[order_id]


def _exclusions(world: World, members: Sequence[str]) -> list[int]:
    """Bitmask per member of the members it shares a transaction (or another
    exclusive key, :meth:`World.exclusive_keys`) with."""
    keys = [world.exclusive_keys(oid) for oid in members]
    holders: dict[str, int] = {}  # key → bitmask of members holding it
    for idx in range(len(members)):
        for tx in keys[idx]:
            holders[tx] = holders.get(tx, 0) | 1 << idx
    masks = [0] * len(members)
    for idx in range(len(members)):
        for tx in keys[idx]:
            masks[idx] |= holders[tx] & ~(1 << idx)
    return masks


def _commuting_below(world: World, members: Sequence[str]) -> list[int]:
    """Bitmask per member of the lower-indexed members it commutes with.

    Two orders without a direct conflict (disjoint keys, no shared transaction)
    commute in a world whose state and bids depend only on the keys each order
    touches (``disjoint_orders_commute``, e.g. ``amm``): swapping them where they
    stand next to each other changes neither the state after them nor any bid —
    the premise of conflict grouping itself. In other worlds (``table``: a bid looks
    up the *sequence* of its direct-conflict predecessors) the pair must also share
    no member that conflicts with both. So every block has an equivalent *normal
    form* in which no order directly follows a higher-indexed order it commutes
    with — the lexicographically least block of its class — and the search needs
    to visit only blocks of that form.
    """
    access = [world.conflict_access(oid) for oid in members]
    n = len(members)
    conflict = [0] * n
    for idx in range(n):
        for other in range(idx):
            if access[idx].conflicts_with(access[other]):
                conflict[idx] |= 1 << other
                conflict[other] |= 1 << idx
    by_keys_only = world.disjoint_orders_commute
    masks = [0] * n
    for idx in range(n):
        for low in range(idx):
            if not conflict[idx] >> low & 1 and (by_keys_only or not conflict[idx] & conflict[low]):
                masks[idx] |= 1 << low
    return masks


# Branch and bound in ``exhaustive`` (issue 15, item 4). False walks every block of
# the reduced enumeration, as before; kept so tests can check both give equal results.
BRANCH_AND_BOUND = True
# False: the walk in Python (``visit``) even where the cursor offers it compiled
# (``exhaustive_walk``); kept so tests can check both give the same results.
FAST_WALK = True


def _bound_sums(bounds: list[int | None]) -> tuple[int, list[int]]:
    """Mask of members with a known bid bound, and Σ bounds for every subset of them
    (indexed by bitmask; members without a bound count 0 and are never pruned on)."""
    n = len(bounds)
    known = 0
    for idx, ub in enumerate(bounds):
        if ub is not None:
            known |= 1 << idx
    sums = [0] * (1 << n)
    for mask in range(1, 1 << n):
        low = mask & -mask
        ub = bounds[low.bit_length() - 1]
        sums[mask] = sums[mask ^ low] + (ub or 0)
    return known, sums


def exhaustive(world: World, members: Sequence[str], counterfactuals: bool = True,
               bound: bool | None = None) -> GroupResult:
    """Best over all orderings of all subsets of ``members`` (Alg. 1, line 24).

    Partial-order reduction: after an order, only members that conflict with it
    directly or have a larger index are tried (:func:`_commuting_below`). A skipped
    block equals a visited one in value and in every bid, and the depth-first walk
    meets blocks in lexicographic order of member indices, so o*, every
    counterfactual maximum and their tie-breaking (the first block found) are those
    of the full enumeration. The walk follows the given (bid-independent) order of
    ``members``, so the result is deterministic.

    Branch and bound (``bound``, default :data:`BRANCH_AND_BOUND`): before pushing a
    member, every block of its subtree holds the path, the member and a subset of
    the members still available, so with :meth:`World.bid_bound` it is worth at most
    ``top`` = value so far + bound of the member + Σ bounds of the available ones,
    and without b_j at most ``top`` − b_j (j on the path), ``top`` − bound_j (j
    available) or ``top`` (j never in the subtree). When none of these beats o* or
    the counterfactual maximum found so far, the subtree is skipped: the maxima are
    updated only on a strict improvement, so skipping blocks that can at best tie
    changes neither a value nor which block is kept. The result is the same block,
    the same counterfactual values and blocks as the full walk (tested equal).
    """
    members = list(members)
    n = len(members)
    everyone = (1 << n) - 1
    exclude = _exclusions(world, members)
    skip_after = _commuting_below(world, members)
    cursor = world.cursor()
    push, pop = cursor.push, cursor.pop
    path: list[int] = []
    bid_of = [0] * n  # bid of each member in the current path, 0 when absent
    # value, path (indices), the path's bids: a mutable cell the recursion updates. The
    # bids are kept so that o* is not executed again at the end: the path ran on this
    # cursor in this order, and executing it afresh gives the same bids (tested).
    best: list[Any] = [0, (), ()]
    without = [0] * n  # empty block: value 0 without anyone
    without_path: list[tuple[int, ...]] = [()] * n
    # value − b_j ≤ value: no counterfactual can improve unless value > min(without).
    floor = [0 if counterfactuals else None]
    use_bound = BRANCH_AND_BOUND if bound is None else bound
    # Subset-sum table: 2^n entries, so only for groups the exhaustive search can walk.
    bounds = [world.bid_bound(oid) for oid in members] if use_bound and n <= 16 else []
    known, sums = _bound_sums(bounds) if bounds else (0, [])
    ub = [b or 0 for b in bounds]
    members_range = range(n)

    def hopeless(top: int, idx: int, avail: int) -> bool:
        """No block of the subtree under ``idx`` can strictly improve any maximum."""
        if top > best[0]:
            return False
        if floor[0] is None or top <= floor[0]:
            return True
        for j in members_range:
            if j == idx or avail >> j & 1:  # j may be in a subtree block (or not)
                cap = top - ub[j]
            else:
                cap = top - bid_of[j]  # 0 when j is off the path: cap = top
            if cap > without[j]:
                return False
        return True

    def visit(taken: int, skip: int, total: int) -> None:
        # ``taken``: members on the path or sharing a transaction with one on it;
        # ``skip``: lower members commuting with the last order of the path.
        free = everyone & ~(taken | skip)
        while free:
            bit = free & -free
            free ^= bit
            idx = bit.bit_length() - 1
            if known:
                avail = everyone & ~(taken | bit | exclude[idx])
                if bit & known and not avail & ~known and hopeless(total + ub[idx] + sums[avail], idx, avail):
                    continue
            out = push(members[idx])
            if out.success:
                path.append(idx)
                bid_of[idx] = out.bid
                value = total + out.bid
                if value > best[0]:
                    best[0], best[1], best[2] = value, tuple(path), tuple(bid_of[i] for i in path)
                if floor[0] is not None and value > floor[0]:
                    for j in range(n):
                        v = value - bid_of[j]
                        if v > without[j]:
                            without[j] = v
                            without_path[j] = tuple(path)
                    floor[0] = min(without)
                visit(taken | bit | exclude[idx], skip_after[idx], value)
                path.pop()
                bid_of[idx] = 0
            pop()

    # A cursor may run this very walk itself (the compiled amm core: no Python call per
    # block; tests/amm/test_amm_core.py checks it gives what ``visit`` gives).
    walk = getattr(cursor, "exhaustive_walk", None)
    if walk is not None and FAST_WALK and n <= 63:
        # Its sums are 128-bit: bounds beyond any balance (a tip no sender can pay) are
        # left out, which prunes less and so changes no result.
        fits = not known or sums[-1] < 1 << 120
        walked = walk(members, exclude, skip_after, ub, known if fits else 0, sums, counterfactuals)
        if walked is not None:  # None: a bid beyond 2^120, walked below
            _, order, bids, values, blocks = walked
            result = GroupResult(Block(order, dict(zip(order, bids))))
            if counterfactuals:
                result.best_without = dict(zip(members, values))
                result.counterfactual = dict(zip(members, blocks))
            return result
    visit(0, 0, 0)
    order = tuple(members[i] for i in best[1])
    result = GroupResult(Block(order, dict(zip(order, best[2]))))
    if counterfactuals:
        for idx, oid in enumerate(members):
            result.best_without[oid] = without[idx]
            result.counterfactual[oid] = tuple(members[i] for i in without_path[idx])
    return result


def singletons(world: World, members: Sequence[str]) -> GroupResult:
    """Best over Ω = {∅} ∪ {[i] : i ∈ members}: at most one member is included.

    The special case of Alg. 1 line 26 where every bundle contains the same
    transaction (all sandwiches of one victim, all backruns of one opportunity).
    """
    values: list[int] = []
    for oid in members:
        blk = world.evaluate([oid])
        values.append(blk.value if blk.orders else 0)
    # Best and runner-up by value; ties keep the earlier member.
    first = second = -1
    for k, val in enumerate(values):
        if val > 0 and (first < 0 or val > values[first]):
            first, second = k, first
        elif val > 0 and (second < 0 or val > values[second]):
            second = k
    result = GroupResult(world_block(world, (members[first],) if first >= 0 else ()))
    for k, oid in enumerate(members):
        alt = second if k == first else first
        result.best_without[oid] = values[alt] if alt >= 0 else 0
        result.counterfactual[oid] = (members[alt],) if alt >= 0 else ()
    return result


def fixed_order(world: World, sequence: Sequence[str]) -> GroupResult:
    """Ω = {the given sequence}: orders whose effects commute, in one seeded order.

    With a single candidate block, o_{-i} = o* for every i, so each refund is the
    order's own bid — as for conflict-free orders, nobody imposes an externality.
    """
    block = world.evaluate(sequence)
    result = GroupResult(block)
    value, bids = block.value, block.bids  # one sum, not one per order
    for oid in sequence:
        result.best_without[oid] = value - bids.get(oid, 0)
        result.counterfactual[oid] = block.orders
    return result


def one_order_each(world: World, order_ids: Sequence[str]) -> dict[str, GroupResult]:
    """``fixed_order(world, [i])`` for every i (the conflict-free orders), on one
    cursor instead of one each: an order is pushed at the top of the block and
    popped, which restores the parent state exactly (World rule 1), so each is executed
    where ``evaluate`` would execute it (tested equal)."""
    cursor = world.cursor()
    out: dict[str, GroupResult] = {}
    for oid in order_ids:
        outcome = cursor.push(oid)
        cursor.pop()
        block = Block((oid,), {oid: outcome.bid}) if outcome.success else Block()
        out[oid] = GroupResult(block, {oid: 0}, {oid: block.orders})
    return out


def world_block(world: World, order: Sequence[str]) -> Block:
    """Re-execute ``order`` to attach each order's bid (one pass, outside the search)."""
    return world.evaluate(order)
