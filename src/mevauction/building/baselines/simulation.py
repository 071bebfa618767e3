"""Top-of-block simulation and the sorting keys rbuilder orders by.

rbuilder simulates every order alone on the parent state before building; an order
whose simulation fails is never considered. The simulated value carries the coinbase
profit (here: the order's bid to the fee recipient) and the gas used, from which the
two sort keys follow:

- ``max-profit``: the coinbase profit;
- ``mev-gas-price``: coinbase profit ÷ gas used, integer division, 0 when no gas.

Ties are broken by order id (smaller id first), so every baseline is a deterministic
function of its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mevauction.worlds.base import Block, Cursor, Order, Outcome, World

DEFAULT_BLOCK_GAS_LIMIT = 30_000_000


@dataclass(frozen=True, slots=True)
class SimValue:
    """What an order paid and used where it was executed."""

    profit: int
    gas_used: int

    @property
    def mev_gas_price(self) -> int:
        return self.profit // self.gas_used if self.gas_used else 0


def sort_value(sorting: str, value: SimValue) -> int:
    """The key an ordering builder sorts by (rbuilder ``Sorting::sorting_value``)."""
    if sorting == "mev-gas-price":
        return value.mev_gas_price
    if sorting == "max-profit":
        return value.profit
    raise ValueError(f"unknown sorting {sorting!r}")


def sim_value(order: Order, outcome: Outcome) -> SimValue:
    # A world that does not meter gas reports 0; the order's declared gas stands in.
    return SimValue(outcome.bid, outcome.gas_used or order.gas)


def simulate_top_of_block(world: World, order_ids: Sequence[str]) -> dict[str, SimValue]:
    """Each order executed alone on the parent state; failed orders are left out."""
    cursor = world.cursor()
    simulated: dict[str, SimValue] = {}
    for oid in order_ids:
        outcome = cursor.push(oid)
        cursor.pop()
        if outcome.success:
            simulated[oid] = sim_value(world.orders[oid], outcome)
    return simulated


class PartialBlock:
    """A block being filled on one cursor, with rbuilder's commit-time checks.

    An order is refused before execution when its gas does not fit in what is left
    of the block, or when one of its transactions is already in the block (the
    nonce would be used twice, so a real chain rejects it). A failed execution is
    rolled back. Block value is the sum of what the included orders pay.
    """

    def __init__(self, world: World, gas_limit: int):
        self.world = world
        self.cursor: Cursor = world.cursor()
        self.gas_left = gas_limit
        self.orders: list[str] = []
        self.bids: dict[str, int] = {}
        self.gas: dict[str, int] = {}
        self.txs: set[str] = set()

    def fits(self, order_id: str) -> bool:
        order = self.world.orders[order_id]
        return order.gas <= self.gas_left and self.txs.isdisjoint(order.txs)

    def try_commit(self, order_id: str) -> SimValue | None:
        """Execute on top; keep it and return its in-block value, or roll back → None."""
        if not self.fits(order_id):
            return None
        order = self.world.orders[order_id]
        outcome = self.cursor.push(order_id)
        value = sim_value(order, outcome)
        if not outcome.success or value.gas_used > self.gas_left:
            self.cursor.pop()
            return None
        self.orders.append(order_id)
        self.bids[order_id] = outcome.bid
        self.gas[order_id] = value.gas_used
        self.gas_left -= value.gas_used
        self.txs.update(order.txs)
        return value

    def rollback_last(self) -> None:
        """Undo the most recent successful commit."""
        oid = self.orders.pop()
        self.cursor.pop()
        del self.bids[oid]
        self.gas_left += self.gas.pop(oid)
        self.txs.difference_update(self.world.orders[oid].txs)

    def block(self) -> Block:
        return Block(tuple(self.orders), dict(self.bids))
