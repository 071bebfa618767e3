"""The block gas limit as a bid-independent rule (issue 15; docs/mechanism.md "Departures" (e)).

Fig. 3 appends the conflict-free orders S to whichever block wins, and the default
algorithm solves each conflict group on its own; neither step looks at gas. Here:

1. S is kept in arrival order while it fits in the limit (``keep_conflict_free``);
   the rest of S is left out. What is left, R = limit − gas(S kept), is the budget
   of every block on M \\ S: o* and each builder's block.
2. When all of M \\ S fits in R, nothing changes. Otherwise each conflict group g
   gets the budget ⌊R · gas(g) / gas(M \\ S)⌋ (``group_budgets``) and its family
   is the blocks within that budget: an order that does not fit where it stands
   fails there (:class:`GasCappedWorld`), as it would on a full block.

Every quantity is an order's declared ``Order.gas`` (for the ``evm`` world, the gas
it used alone at the top of the block), never a bid, so the family searched is
still the same whatever anybody bids (Prop. 1 (i)) and its maximum still exact.
"""

from __future__ import annotations

from collections.abc import Sequence

from mevauction.worlds.base import Outcome, World, WorldView


def declared_gas(world: World, order_ids: Sequence[str]) -> int:
    orders = world.orders
    return sum(orders[i].gas for i in order_ids)


def keep_conflict_free(world: World, conflict_free: Sequence[str], limit: int) -> list[str]:
    """The conflict-free orders kept, in their given (arrival) order, while they fit."""
    kept: list[str] = []
    used = 0
    for oid in conflict_free:
        gas = world.orders[oid].gas
        if used + gas <= limit:
            kept.append(oid)
            used += gas
    return kept


def group_budgets(world: World, groups: Sequence[Sequence[str]], budget: int | None) -> list[int | None]:
    """Per group, its gas budget (None: unconstrained, all of the group fits)."""
    if budget is None:
        return [None] * len(groups)
    sizes = [declared_gas(world, g) for g in groups]
    total = sum(sizes)
    if total <= budget:
        return [None] * len(groups)
    return [budget * size // total for size in sizes]


class _CappedCursor:
    """A cursor of the inner world that refuses, as a failure, an order that does not
    fit in the gas budget left; refused frames never reach the inner cursor."""

    __slots__ = ("budget", "cursor", "frames", "orders", "used")

    def __init__(self, world: GasCappedWorld):
        self.cursor = world.inner.cursor()
        self.orders = world.orders
        self.budget = world.budget
        self.used = 0
        self.frames: list[int] = []  # per frame: gas it added, or -1 for a refused push

    def push(self, order_id: str) -> Outcome:
        gas = self.orders[order_id].gas
        if self.used + gas > self.budget:
            self.frames.append(-1)
            return Outcome(0, False, gas, "does not fit in the block gas budget")
        out = self.cursor.push(order_id)
        added = gas if out.success else 0
        self.frames.append(added)
        self.used += added
        return out

    def pop(self) -> None:
        added = self.frames.pop()
        if added < 0:
            return
        self.used -= added
        self.cursor.pop()


class GasCappedWorld(WorldView):
    """A view of ``inner`` whose blocks never use more than ``budget`` declared gas."""

    def __init__(self, inner: World, budget: int):
        super().__init__(inner)
        self.budget = budget

    def cursor(self) -> _CappedCursor:
        return _CappedCursor(self)


def capped(world: World, budget: int | None) -> World:
    return world if budget is None else GasCappedWorld(world, budget)
