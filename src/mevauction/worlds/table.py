"""The ``table`` world: bids looked up by the sequence of conflicting predecessors.

Specified in spec/auction-cli.md § 1. The bid of order i at its place in a block is
found by taking the orders placed before i that conflict with i *directly*, in block
order, joining their ids with ``,`` and looking that string up in ``bid.after``;
absent, the bid is ``bid.default``. It is exact and small, which makes it the world
of worked examples (Boost+ paper, Table 1) and of brute-force cross-checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mevauction.errors import InputError, as_wei, require
from mevauction.worlds.base import Access, Order, Outcome, World
from mevauction.worlds.orders import parse_orders


class TableWorld(World):
    kind = "table"

    def __init__(self, orders: list[Order], accesses: Mapping[str, Access],
                 defaults: Mapping[str, int], after: Mapping[str, Mapping[str, int]]):
        super().__init__(orders)
        self._access = dict(accesses)
        self.defaults = dict(defaults)
        self.after = {k: dict(v) for k, v in after.items()}
        self._direct = direct_conflicts(self._access)

    def access(self, order_id: str) -> Access:
        return self._access[order_id]

    def bid_at(self, order_id: str, predecessors: list[str]) -> int:
        """b_i at a place in a block whose earlier orders are ``predecessors``."""
        table = self.after[order_id]
        if not table:  # no state-dependent entries: the key need not be built
            return self.defaults[order_id]
        direct = self._direct[order_id]
        key = ",".join([p for p in predecessors if p in direct])
        return table.get(key, self.defaults[order_id])

    def bid_bound(self, order_id: str) -> int | None:
        # A table order pays one of its table's entries, and never fails.
        return max([self.defaults[order_id], *self.after[order_id].values()])

    def cursor(self) -> TableCursor:
        return TableCursor(self)

    def commutative(self, order_ids: Sequence[str]) -> bool:
        """Verified from the bid tables: orders whose bid never depends on who went
        before (no ``after`` entries) and share no transaction give the same block in
        every order, since a table order never fails. A ``kind``/``target`` label proves nothing."""
        txs = [t for oid in order_ids for t in self.orders[oid].txs]
        return len(txs) == len(set(txs)) and all(not self.after[oid] for oid in order_ids)

    def with_bids(self, order_id: str, default: int, after: Mapping[str, int]) -> TableWorld:
        """The same world with one order's bid table replaced (a misreport)."""
        defaults = dict(self.defaults)
        defaults[order_id] = default
        tables = dict(self.after)
        tables[order_id] = dict(after)
        return TableWorld(list(self.orders.values()), self._access, defaults, tables)


def direct_conflicts(accesses: Mapping[str, Access]) -> dict[str, frozenset[str]]:
    """For each order, the orders it conflicts with directly (write meets read/write).

    Found through a key index rather than by testing all pairs: only orders that
    share a key can conflict.
    """
    by_key: dict[str, list[str]] = {}
    for oid, acc in accesses.items():
        for key in acc.keys:
            by_key.setdefault(key, []).append(oid)
    direct: dict[str, set[str]] = {oid: set() for oid in accesses}
    for key, users in by_key.items():
        writers = [u for u in users if key in accesses[u].writes]
        for w in writers:
            for u in users:
                if u != w:
                    direct[w].add(u)
                    direct[u].add(w)
    return {oid: frozenset(peers) for oid, peers in direct.items()}


class TableCursor:
    __slots__ = ("stack", "world")

    def __init__(self, world: TableWorld):
        self.world = world
        self.stack: list[str] = []

    def push(self, order_id: str) -> Outcome:
        bid = self.world.bid_at(order_id, self.stack)
        self.stack.append(order_id)
        return Outcome(bid, True, self.world.orders[order_id].gas)

    def pop(self) -> None:
        self.stack.pop()


def _keys(value: object, field: str) -> frozenset[str]:
    if not (isinstance(value, list) and all(isinstance(k, str) for k in value)):
        raise InputError(field, "must be a list of strings")
    return frozenset(value)


def from_scenario(scenario: dict) -> TableWorld:
    orders: list[Order] = []
    accesses: dict[str, Access] = {}
    defaults: dict[str, int] = {}
    after: dict[str, dict[str, int]] = {}
    for index, (order, obj) in enumerate(parse_orders(scenario)):
        where = f"orders[{index}]"
        accesses[order.id] = Access(_keys(obj.get("reads", []), f"{where}.reads"),
                                    _keys(obj.get("writes", []), f"{where}.writes"))
        bid = obj.get("bid")
        if bid is None:
            raise InputError(f"{where}.bid", "missing")
        if not isinstance(bid, dict):
            bid = {"default": bid}
        defaults[order.id] = as_wei(bid.get("default", 0), f"{where}.bid.default")
        table = bid.get("after", {})
        require(isinstance(table, dict), f"{where}.bid.after", "must be an object")
        after[order.id] = {str(k): as_wei(v, f"{where}.bid.after.{k}") for k, v in table.items()}
        orders.append(order)
    return TableWorld(orders, accesses, defaults, after)
