"""What every execution world provides.

A *world* gives each order its state-dependent bid b_i(ω) (seed 004, § 3.2: the bid
of order i in block ω depends on the execution state s_i(ω) at i's place in ω) and
its read/write set. Worlds differ only in how they execute: explicit bid tables
(``table``), integer constant-product pools (``amm``), or a real EVM (``evm``).

Block building talks to a world only through this module:

- :class:`Order` — the world-independent part of an order (id, transactions, gas);
- :class:`Access` — the keys an order reads and writes (conflict detection);
- :class:`Cursor` — a block under construction on the parent state: ``push`` an
  order on top and learn its :class:`Outcome`, ``pop`` to undo. Exhaustive search
  walks a tree of orderings with push/pop, so every prefix is executed once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

# Order kinds whose effects on a shared target commute (seed 004 § 5.1 "Insights":
# conflicts that arise purely from ERC-20 transfers do not depend on ordering).
COMMUTATIVE_KINDS = frozenset({"transfer"})


@dataclass(frozen=True, slots=True)
class Order:
    """An order as sent by a searcher or user: one transaction or a bundle of several.

    ``kind`` and ``target`` describe the order's *structure* (what it is and which
    contract or pool it is directed to). Block building may use them to recognise
    special cases of large conflict groups; it never uses bids for that.
    """

    id: str
    txs: tuple[str, ...]
    gas: int = 21_000
    reverting_tx_hashes: frozenset[str] = frozenset()
    kind: str = "bundle"
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """Keys an order reads and writes (storage slots, balances, pools, code)."""

    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()

    @property
    def keys(self) -> frozenset[str]:
        return self.reads | self.writes

    def conflicts_with(self, other: "Access") -> bool:
        """Conflict = a write of one meets a read or a write of the other."""
        return bool(
            self.writes & other.writes or self.writes & other.reads or self.reads & other.writes
        )


class Outcome(NamedTuple):
    """What executing one order at the top of a partial block gave.

    A named tuple rather than a dataclass: one is made per push, the hot path of
    exhaustive search.

    ``bid`` is the payment to the block's fee recipient (wei). A failed order
    (``success`` false) had no effect on the state and pays nothing.
    """

    bid: int
    success: bool = True
    gas_used: int = 0
    error: str | None = None


class Cursor(Protocol):
    """A block under construction on top of the parent state."""

    def push(self, order_id: str) -> Outcome: ...

    def pop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Block:
    """A sequence of orders and what each pays at its place in it."""

    orders: tuple[str, ...] = ()
    bids: Mapping[str, int] = field(default_factory=dict)

    @property
    def value(self) -> int:
        return sum(self.bids.get(i, 0) for i in self.orders)

    def value_without(self, order_id: str) -> int:
        return self.value - self.bids.get(order_id, 0)


class World(ABC):
    """An execution world: orders, their accesses, and a way to execute them."""

    kind: str = ""
    # True when two orders with disjoint conflict accesses commute exactly (same
    # state, same bids either way round). Exhaustive search then walks one ordering
    # per class of equivalent blocks. The table world's bids depend on the order of
    # earlier conflicting orders, so it keeps the default.
    disjoint_orders_commute: bool = False

    def __init__(self, orders: Iterable[Order]):
        self.orders: dict[str, Order] = {}
        for order in orders:
            self.orders[order.id] = order

    @abstractmethod
    def access(self, order_id: str) -> Access:
        """The order's read/write set (at the top of the block)."""

    @abstractmethod
    def cursor(self) -> Cursor:
        """A fresh, empty block on the parent state."""

    def conflict_access(self, order_id: str) -> Access:
        """The access used for conflict grouping.

        Each transaction hash is a written key, so bundles that share a transaction
        (a sandwich and a backrun of the same victim) conflict: they can never both
        be in one block.
        """
        base = self.access(order_id)
        txs = frozenset(f"tx:{h}" for h in self.orders[order_id].txs)
        return Access(base.reads, base.writes | txs)

    def commutative(self, order_ids: Sequence[str]) -> bool:
        """True when these orders' effects are known not to depend on their order.

        Decided from structure only (kind and target), never from bids.
        """
        first = self.orders[order_ids[0]]
        return first.target is not None and all(
            self.orders[i].kind in COMMUTATIVE_KINDS and self.orders[i].target == first.target
            for i in order_ids
        )

    def evaluate(self, sequence: Sequence[str]) -> Block:
        """Execute ``sequence`` on the parent state; failed orders are left out.

        An order containing a transaction already in the block fails, as it would
        on chain (the transaction's nonce is used up).
        """
        cur = self.cursor()
        included: list[str] = []
        bids: dict[str, int] = {}
        seen: set[str] = set()
        for oid in sequence:
            txs = self.orders[oid].txs
            if not seen.isdisjoint(txs):
                continue
            out = cur.push(oid)
            if out.success:
                included.append(oid)
                bids[oid] = out.bid
                seen.update(txs)
            else:
                cur.pop()
        return Block(tuple(included), bids)

    def to_json(self) -> dict[str, Any]:
        """The ``world`` object of a scenario file that recreates this world."""
        return {"kind": self.kind}
