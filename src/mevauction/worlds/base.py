"""What every execution world provides, and the rules every world keeps.

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

The contract. Every world registered in ``mevauction.worlds.WORLD_MODULES`` keeps
these rules; tests/worlds/test_world_contract.py checks each of them on every one.

1. *Stack.* A cursor starts empty, on the parent state. Every ``push`` adds one
   frame, also when the order fails; ``pop`` removes the top frame and restores the
   state exactly: every later push gives the :class:`Outcome` it would have given
   had the popped push never happened. A failed push leaves the state unchanged
   (its frame is empty, and is popped like any other).
2. *Determinism.* A push's outcome depends only on the successful orders below it,
   in order, and on the order pushed — not on popped or failed pushes, other
   cursors, the time, or which instance of the world runs it (two worlds built
   from one scenario agree; so does ``generate`` called twice with one seed).
3. *Shared transactions.* A cursor does not check them; its callers never place
   an order whose transaction is already in the block (on chain, the nonce is used
   up). :meth:`World.evaluate` refuses such an order without executing it.
4. *Live cursors* (``World.max_live_cursors``). ``None``: any number, each
   independent of the others. ``n``: opening cursor n + 1 supersedes the oldest
   live one — its pushes are undone and any further push or pop on it raises
   :class:`StaleCursor`. ``evaluate`` opens a cursor, so it counts. (``evm``: 1,
   all cursors share the world's one EVM.)
5. *Gas* (``World.gas_metering``). ``"declared"``: ``Outcome.gas_used`` is the
   order's declared ``Order.gas`` wherever it stands, failed or not, and the world
   enforces no block gas limit (a builder does, from ``Order.gas``). ``"executed"``:
   ``gas_used`` is the gas the execution used at its place; ``Order.gas`` is the
   ``gas_used`` of the order alone on the parent state (when it succeeds there); a
   failed push uses no block gas; an order that does not fit in what is left of
   ``World.block_gas_limit`` fails, so the successful pushes on one cursor never
   use more than it.
6. *evaluate(sequence)* is a walk of ``sequence`` on a fresh cursor: an order
   sharing a transaction with an included one is skipped, a failed one is popped.
   Pushing the returned block's orders on a fresh cursor, in order, succeeds for
   each with the bid the block records.
7. *Access.* ``access(i)`` is i's read/write set, measured at the top of the block
   and fixed per order; :meth:`World.conflict_access` adds each transaction as a
   written key. If two adjacent orders of a block do not conflict and no other
   order of the block conflicts with both, swapping them changes no order's
   outcome and no later push's (while the block gas limit is not reached). This is
   what makes conflict groups independent and the search's reduction exact. (In
   ``evm`` the sets are those of the top-of-block run: an order whose path depends
   on state it did not touch there is outside what the world can promise. Payments
   to the fee recipient are no keys, so it must exist at the parent state — an
   empty one charges its first direct payer 25,000 gas more; the one-time fee
   recipient does exist, a pinned one is as the scenario says.)
8. *Commutation* (``World.disjoint_orders_commute``). When true, the same holds
   without the proviso: two adjacent orders that do not conflict may always be
   swapped. The ``table`` world keeps false, since a bid there looks up the
   *sequence* of its conflicting predecessors. :meth:`World.commutative` claims
   more, for one set of orders: every ordering of them gives the same block.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol


@dataclass(frozen=True, slots=True)
class Order:
    """An order as sent by a searcher or user: one transaction or a bundle of several.

    ``kind`` and ``target`` are what the sender *says* the order is and where it is
    directed. Block building trusts them only as far as the world verifies them
    (:meth:`World.verified_kind`, :meth:`World.commutative`); it never uses bids.
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

    def conflicts_with(self, other: Access) -> bool:
        """Conflict = a write of one meets a read or a write of the other."""
        return bool(
            self.writes & other.writes or self.writes & other.reads or self.reads & other.writes
        )


class Outcome(NamedTuple):
    """What executing one order at the top of a partial block gave.

    A named tuple rather than a dataclass: one is made per push, the hot path of
    exhaustive search.

    ``bid`` is the payment to the block's fee recipient (wei, never negative). A
    failed order (``success`` false) had no effect on the state and pays nothing:
    ``bid`` is 0 and ``error`` says why. ``gas_used`` follows the world's
    ``gas_metering`` (rule 5 of the module docstring).
    """

    bid: int
    success: bool = True
    gas_used: int = 0
    error: str | None = None


class StaleCursor(RuntimeError):
    """A cursor was used after a newer cursor of its world superseded it (rule 4)."""


class Cursor(Protocol):
    """A block under construction on top of the parent state (rules 1–5)."""

    def push(self, order_id: str) -> Outcome:
        """Execute the order on top of the block so far; one new frame, even on failure."""
        ...

    def pop(self) -> None:
        """Remove the top frame, restoring the state before its push exactly."""
        ...


GasMetering = Literal["declared", "executed"]


@dataclass(frozen=True, slots=True)
class Block:
    """A sequence of orders and what each pays at its place in it."""

    orders: tuple[str, ...] = ()
    bids: Mapping[str, int] = field(default_factory=dict)
    # Gas each order used at its place (rule 5), as :meth:`World.evaluate` measured it; not
    # part of what a block is (equality), and empty for a block made otherwise.
    gas: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def value(self) -> int:
        return sum(self.bids.get(i, 0) for i in self.orders)

    def value_without(self, order_id: str) -> int:
        return self.value - self.bids.get(order_id, 0)


class World(ABC):
    """An execution world: orders, their accesses, and a way to execute them."""

    kind: str = ""
    # Rule 8: two adjacent orders that do not conflict always commute (same state,
    # same bids either way round). Exhaustive search then walks one ordering per
    # class of equivalent blocks; without it, only pairs that no order of the block
    # conflicts with both are swapped.
    disjoint_orders_commute: bool = False
    # Rule 4: how many cursors may be live at once (None: any number).
    max_live_cursors: int | None = None
    # Rule 5: whether Outcome.gas_used is the declared Order.gas or the executed gas.
    gas_metering: GasMetering = "declared"
    # Rule 5: the block gas limit the cursor enforces ("executed" worlds only).
    block_gas_limit: int | None = None
    # Rule 7: whether ``access`` lists every key an order's outcome can depend on. A world
    # that only observes accesses (evm: revm's journal loses what a reverted inner call
    # read) says False, and the mechanism checks its final block by execution.
    access_complete: bool = True

    def __init__(self, orders: Iterable[Order]):
        self.orders: dict[str, Order] = {}
        for order in orders:
            self.orders[order.id] = order

    @abstractmethod
    def access(self, order_id: str) -> Access:
        """The order's read/write set, measured at the top of the block; fixed per order (rule 7)."""

    @abstractmethod
    def cursor(self) -> Cursor:
        """A fresh, empty block on the parent state; may supersede an older cursor (rule 4)."""

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
        """True when every ordering of these orders is known to give the same block.

        Same included orders, same bids (rule 8). Decided from structure the world
        has verified (its own programs, execution traces), never from bids — and
        never from the orders' self-declared ``kind``/``target``: a label that
        switched on a special case could be chosen to win (issue 15). A world that
        cannot verify it says False.
        """
        return False

    def exclusive_keys(self, order_id: str) -> frozenset[str]:
        """Keys of which a block of the default algorithm's family holds at most one
        order: the order's transactions (a nonce is used once), and whatever else the
        world knows makes two orders' outcomes depend on each other's *bids* (amm: one
        sender's payment that decides whether its other order can pay; issue 15).
        Structural, fixed per order, never read from a bid."""
        return frozenset(self.orders[order_id].txs)

    def bid_bound(self, order_id: str) -> int | None:
        """An upper bound on the order's bid at *any* place in *any* block, or None
        when the world knows none (a share of a profit that the state decides).

        Used only to prune the exhaustive search (branch and bound): a subtree whose
        blocks cannot beat what was already found is skipped, which changes no result.
        A bound that is too low would change results, so it must come from what
        executes (the world's own programs or tables), never from a label."""
        return None

    def verified_kind(self, order_id: str) -> str:
        """The order's kind as the world has checked it, or ``"bundle"`` (unknown).

        Large-group families order by kind (searchers' bundles before users'
        orders); only a kind the world itself validated may shape them.
        """
        return "bundle"

    def top_outcomes(self, order_ids: Sequence[str]) -> dict[str, Outcome]:
        """Each order alone at the top of the block, on one fresh cursor.

        What an algorithm's first pass (push, pop, for every order) would find; the
        sandbox hands it to every submitted algorithm with the slot, computed once. A
        world that already has these outcomes (evm: its top-of-block traces) returns
        them; a view computes them through its own cursor (its prefix, its cap)."""
        cur = self.cursor()
        outcomes = {}
        for oid in order_ids:
            outcomes[oid] = cur.push(oid)
            cur.pop()
        return outcomes

    def evaluate(self, sequence: Sequence[str]) -> Block:
        """Execute ``sequence`` on a fresh cursor; failed orders are left out (rule 6).

        An order containing a transaction already in the block is refused without
        being executed, as on chain (the transaction's nonce is used up).
        """
        cur = self.cursor()
        included: list[str] = []
        bids: dict[str, int] = {}
        gas: dict[str, int] = {}
        seen: set[str] = set()
        for oid in sequence:
            txs = self.orders[oid].txs
            if not seen.isdisjoint(txs):
                continue
            out = cur.push(oid)
            if out.success:
                included.append(oid)
                bids[oid] = out.bid
                gas[oid] = out.gas_used
                seen.update(txs)
            else:
                cur.pop()
        return Block(tuple(included), bids, gas)

    def to_json(self) -> dict[str, Any]:
        """The ``world`` object of a scenario file that recreates this world."""
        return {"kind": self.kind}


class WorldView(World):
    """A view of ``inner`` that changes only how blocks execute (its cursor).

    Orders, accesses and everything the world has verified pass through; a view
    overrides only what its own rule changes (a gas cap, a committed prefix).
    """

    def __init__(self, inner: World):
        self.inner = inner
        self.orders = inner.orders
        self.kind = inner.kind
        self.disjoint_orders_commute = inner.disjoint_orders_commute
        self.max_live_cursors = inner.max_live_cursors
        self.gas_metering = inner.gas_metering
        self.block_gas_limit = inner.block_gas_limit
        self.access_complete = inner.access_complete

    def access(self, order_id: str) -> Access:
        return self.inner.access(order_id)

    def conflict_access(self, order_id: str) -> Access:
        return self.inner.conflict_access(order_id)

    def commutative(self, order_ids: Sequence[str]) -> bool:
        return self.inner.commutative(order_ids)

    def verified_kind(self, order_id: str) -> str:
        return self.inner.verified_kind(order_id)

    def exclusive_keys(self, order_id: str) -> frozenset[str]:
        return self.inner.exclusive_keys(order_id)

    def bid_bound(self, order_id: str) -> int | None:
        # A bound holds at any place in any block: after a view's prefix or under its cap too.
        return self.inner.bid_bound(order_id)
