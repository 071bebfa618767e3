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
    """Bitmask per member of the members it shares a transaction with."""
    holders: dict[str, int] = {}  # tx hash → bitmask of members containing it
    for idx, oid in enumerate(members):
        for tx in world.orders[oid].txs:
            holders[tx] = holders.get(tx, 0) | 1 << idx
    masks = [0] * len(members)
    for idx, oid in enumerate(members):
        for tx in world.orders[oid].txs:
            masks[idx] |= holders[tx] & ~(1 << idx)
    return masks


def exhaustive(world: World, members: Sequence[str], counterfactuals: bool = True) -> GroupResult:
    """Best over all orderings of all subsets of ``members`` (Alg. 1, line 24).

    Ties keep the first block found; the walk visits members in the given
    (bid-independent) order, so the result is deterministic.
    """
    members = list(members)
    n = len(members)
    exclude = _exclusions(world, members)
    cursor = world.cursor()
    path: list[int] = []
    bid_of = [0] * n  # bid of each member in the current path, 0 when absent
    best = [0, ()]  # value, path (indices)
    without = [0] * n  # empty block: value 0 without anyone
    without_path: list[tuple[int, ...]] = [()] * n

    def visit(used: int, blocked: int, total: int) -> None:
        for idx in range(n):
            bit = 1 << idx
            if used & bit or blocked & bit:
                continue
            out = cursor.push(members[idx])
            if out.success:
                path.append(idx)
                bid_of[idx] = out.bid
                value = total + out.bid
                if value > best[0]:
                    best[0], best[1] = value, tuple(path)
                if counterfactuals:
                    for j in range(n):
                        v = value - bid_of[j]
                        if v > without[j]:
                            without[j] = v
                            without_path[j] = tuple(path)
                visit(used | bit, blocked | exclude[idx], value)
                path.pop()
                bid_of[idx] = 0
            cursor.pop()

    visit(0, 0, 0)
    order = tuple(members[i] for i in best[1])
    block = world_block(world, order)
    result = GroupResult(block)
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
    for oid in sequence:
        result.best_without[oid] = block.value_without(oid)
        result.counterfactual[oid] = block.orders
    return result


def world_block(world: World, order: Sequence[str]) -> Block:
    """Re-execute ``order`` to attach each order's bid (one pass, outside the search)."""
    return world.evaluate(order)
