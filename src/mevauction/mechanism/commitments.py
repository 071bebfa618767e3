"""Preconfirmation commitments as constraints of the slot's auction (issue 14;
docs/mechanism.md "Departures" (f)).

A slot may carry committed bundles: orders of the world (their raw transactions in
order) that the provider has promised, before the deadline, to include. They are not
bids in the auction — their price was the preconfirmation bid — so the rule is:

1. They leave M. Their declared gas is reserved: the block limit left for S and for
   the blocks on M \\ S is the limit less the committed gas.
2. An order sharing a transaction with a committed bundle can never be in the block
   (the nonce is the commitment's) and is left out before the auction.
3. Top-anchored committed bundles (the default, and any bundle without a bottom
   position constraint) open the block — first those asking for a position (absolute,
   percentile or gas percentile: mev-commit's bases), then those asking for none, each
   in commitment order (commitment-first layout); bottom-anchored ones close it. Every
   block on M \\ S — o* and each builder's — is searched and valued on the state after
   the top bundles (:class:`AfterCommitted`), and the final block is
   ``top ++ B ++ S ++ bottom``.
4. A builder's explicit block must name every committed bundle, top ones before all its
   other orders and in layout order, bottom ones after them: otherwise it is invalid
   with the reason. Built-in algorithms are given the layout (they plan the rest of the
   block in the gas left). A builder's block whose final block breaks a position that
   the final block with o* keeps (a percentile of fewer transactions, of less gas) is
   invalid too, as is one after which a bottom bundle fails.

Everything here is fixed before any bid is read (which bundles, their order, anchors,
gas), so the family of blocks the default searches is still bid-independent (Prop. 1
(i)) and refunds, budget balance and IR hold as without commitments (property-tested in
tests/core/test_commitments.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mevauction.errors import InputError
from mevauction.worlds.base import Block, Outcome, World, WorldView

TOP, BOTTOM = "top", "bottom"
# mev-commit's PositionConstraint enums (bidderapi.proto): Anchor and Basis numbers.
ANCHOR_TOP, ANCHOR_BOTTOM = 1, 2
PERCENTILE, ABSOLUTE, GAS_PERCENTILE = 1, 2, 3
BASES = {"percentile": PERCENTILE, "absolute": ABSOLUTE, "gas_percentile": GAS_PERCENTILE}
NAMES = {v: k for k, v in BASES.items()}


def _go_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def position_met(anchor: int, basis: int, value: int, index: int, n: int,
                 gas_before: int, gas_own: int, gas_total: int) -> bool:
    """mev-commit's ``checkPositionConstraintSatisfied``, integer for integer (Go's
    truncating division, uint64 wrap): a transaction at ``index`` of a block of ``n``
    transactions, ``gas_before`` used before it, ``gas_own`` by it, ``gas_total`` in all.
    The one home of the rule: the auction plans and checks by it, settlement judges by it."""
    top, bottom = anchor == ANCHOR_TOP, anchor == ANCHOR_BOTTOM
    if basis == ABSOLUTE:
        return (top and index <= value) or (bottom and index >= n - value)
    if basis == PERCENTILE:
        return (top and index <= _go_div(n * value, 100)) or (bottom and index >= _go_div(n * (100 - value), 100))
    if basis == GAS_PERCENTILE:
        if gas_total == 0:
            return False  # Go divides by zero here and the oracle fails; nothing is met
        percentile = gas_before * 100 // gas_total
        own = gas_own * 100 // gas_total
        return (top and value >= 0 and percentile <= value) or \
               (bottom and percentile + own >= (100 - value) % 2**64)
    return False


def positions_left(constraints: Sequence[tuple[int, int, int]], txs: Sequence[tuple[int, int, int]],
                   n: int, gas_total: int) -> list[int]:
    """The oracle's matching of a bundle's position constraints (``(anchor, basis, value)``,
    in ``bidOptions`` order) to its transactions (``(index, gas_before, gas_own)``, in bundle
    order): each transaction, in turn, takes the first constraint still left that it meets,
    and meets no other. The indices of the constraints left unmet (empty: all kept)."""
    left = list(range(len(constraints)))
    for index, before, own in txs:
        if not left:
            break
        for k, c in enumerate(left):
            if position_met(*constraints[c], index, n, before, own, gas_total):
                del left[k]
                break
    return left


@dataclass(frozen=True, slots=True)
class Position:
    """One further position constraint of a committed bundle (as ``CommittedBundle``'s own)."""

    anchor: str
    value: int
    basis: str = "absolute"


@dataclass(frozen=True, slots=True)
class CommittedBundle:
    """One committed bundle: an order of the world; where it must sit.

    ``position`` (optional) is mev-commit's position constraint's value on ``basis``
    (``"absolute"``: the bundle's first transaction at index ≤ position counted from the
    top (``anchor="top"``), or ≥ n − position (``"bottom"``), n the block's transaction
    count; ``"percentile"``: of n; ``"gas_percentile"``: of the block's gas, each order
    counted at the gas it uses at its place in the block), judged by :func:`position_met`.
    ``more``: the bid's further constraints, all of which the block must keep too, each
    met by a different transaction of the bundle (:func:`positions_left`)."""

    order: str
    anchor: str = TOP
    position: int | None = None
    commitment: str = ""  # the commitment's digest, for the report
    basis: str = "absolute"
    more: tuple[Position, ...] = ()

    @property
    def constraints(self) -> tuple[tuple[int, int, int], ...]:
        """Every position constraint, as ``(anchor, basis, value)`` in mev-commit's numbers."""
        first = (Position(self.anchor, self.position, self.basis),) if self.position is not None else ()
        return tuple((ANCHOR_TOP if p.anchor == TOP else ANCHOR_BOTTOM, BASES[p.basis], p.value)
                     for p in (*first, *self.more))


@dataclass(frozen=True, slots=True)
class Layout:
    top: tuple[str, ...]
    bottom: tuple[str, ...]
    shares_tx: dict[str, str]  # order id → why it is left out
    gas: int  # declared gas reserved for the committed bundles
    constrained: tuple[CommittedBundle, ...] = ()  # those asking for a position

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.top) | frozenset(self.bottom)


def layout(world: World, commitments: Sequence[CommittedBundle]) -> Layout:
    """Where the committed bundles go, and which orders they exclude."""
    seen: set[str] = set()
    txs: dict[str, str] = {}
    for k, c in enumerate(commitments):
        where = f"commitments[{k}]"
        if c.order not in world.orders:
            raise InputError(f"{where}.order", f"names unknown order {c.order!r}")
        if c.order in seen:
            raise InputError(f"{where}.order", f"order {c.order!r} is committed twice")
        if c.anchor not in (TOP, BOTTOM):
            raise InputError(f"{where}.anchor", "must be 'top' or 'bottom'")
        seen.add(c.order)
        for tx in world.orders[c.order].txs:
            if tx in txs:
                raise InputError(f"{where}.order", f"transaction {tx} is also in committed order {txs[tx]!r}")
            txs[tx] = c.order
    shares = {}
    for oid, order in world.orders.items():
        if oid in seen:
            continue
        hit = next((txs[t] for t in order.txs if t in txs), None)
        if hit is not None:
            shares[oid] = f"shares a transaction with committed bundle {hit!r}"
    # Commitment-first: a top bundle that asks for a position opens the block before one
    # that asks for none (which no position can break), in commitment order otherwise.
    top = tuple(c.order for c in sorted((c for c in commitments if c.anchor == TOP),
                                        key=lambda c: not c.constraints))
    bottom = tuple(c.order for c in commitments if c.anchor == BOTTOM)
    gas = sum(world.orders[c.order].gas for c in commitments)
    return Layout(top, bottom, shares, gas, tuple(c for c in commitments if c.constraints))


class _AfterCursor:
    """A cursor of the inner world that first executes the top committed bundles (a
    failing one is dropped, as on chain); its own frames are the caller's only."""

    __slots__ = ("cursor",)

    def __init__(self, world: AfterCommitted):
        self.cursor = world.inner.cursor()
        for oid in world.prefix:
            if not self.cursor.push(oid).success:
                self.cursor.pop()

    def push(self, order_id: str) -> Outcome:
        return self.cursor.push(order_id)

    def pop(self) -> None:
        self.cursor.pop()


class AfterCommitted(WorldView):
    """A view of ``inner`` whose blocks start on the state after ``prefix``."""

    def __init__(self, inner: World, prefix: Sequence[str]):
        super().__init__(inner)
        self.prefix = tuple(prefix)

    def commutative(self, order_ids: Sequence[str]) -> bool:
        # Verified on the parent state; the prefix may change that, so claim nothing.
        return False if self.prefix else self.inner.commutative(order_ids)

    def cursor(self) -> _AfterCursor:
        return _AfterCursor(self)


def after(world: World, lay: Layout) -> World:
    return AfterCommitted(world, lay.top) if lay.top else world


def split_explicit(sequence: Sequence[str], lay: Layout) -> tuple[list[str], str | None]:
    """A builder's explicit block without its committed bundles, or why it breaks them."""
    committed = lay.ids
    rest = [oid for oid in sequence if oid not in committed]
    named = [oid for oid in sequence if oid in committed]
    for oid in (*lay.top, *lay.bottom):
        if oid not in named:
            return rest, f"omits committed bundle {oid!r}"
    if len(named) != len(set(named)):
        return rest, "names a committed bundle twice"
    n_top = len(lay.top)
    if tuple(sequence[:n_top]) != lay.top:
        return rest, f"committed bundles {list(lay.top)} must open the block in commitment order"
    if lay.bottom and tuple(sequence[len(sequence) - len(lay.bottom):]) != lay.bottom:
        return rest, f"committed bundles {list(lay.bottom)} must close the block in commitment order"
    return rest, None


def tx_index(world: World, block: Sequence[str], order_id: str) -> int:
    """Index of the order's first transaction in the block's transaction list."""
    n = 0
    for oid in block:
        if oid == order_id:
            return n
        n += len(world.orders[oid].txs)
    return -1


def position_problem(world: World, block: Sequence[str], c: CommittedBundle,
                     gas: Mapping[str, int] | None = None) -> str | None:
    """Why the final block breaks the commitment's positions (None: all met, or none asked).

    ``gas``: what each order of the block uses at its place (``Block.gas`` of the block as
    executed: the table world's declared gas, the evm world's executed gas — what the mined
    block's receipts show); without it, each order's ``Order.gas``. As settlement counts a
    delivered block, an order's gas is on its first transaction (the rest 0)."""
    constraints = c.constraints
    if not constraints:
        return None
    used = [world.orders[o].gas if not gas else gas.get(o, 0) for o in block]
    at = tx_index(world, block, c.order)
    n = sum(len(world.orders[o].txs) for o in block)
    k = list(block).index(c.order) if c.order in block else len(block)
    before, own, total = sum(used[:k]), used[k] if k < len(used) else 0, sum(used)
    txs = [(at + j, before + (own if j else 0), own if j == 0 else 0) for j in range(len(world.orders[c.order].txs))]
    left = positions_left(constraints, txs, n, total) if at >= 0 else list(range(len(constraints)))
    if not left:
        return None
    def asked(anchor: int, basis: int, value: int) -> str:
        if basis == ABSOLUTE:
            return f"≤ {value} from the top" if anchor == ANCHOR_TOP else f"≥ {n - value} (bottom {value})"
        return f"{'top' if anchor == ANCHOR_TOP else 'bottom'} {value} ({NAMES[basis]})"
    return (f"first transaction at index {at} of {n} ({before} of {total} gas before it), "
            f"asked {', '.join(asked(*constraints[i]) for i in left)}")


@dataclass(frozen=True, slots=True)
class CommitmentOutcome:
    order: str
    commitment: str
    included: bool
    index: int  # first transaction's index in the final block (−1: not included)
    reason: str | None  # why the final block breaks it (None: kept as far as the auction can tell)

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order, "commitment": self.commitment, "included": self.included,
                "index": self.index, "reason": self.reason}


def outcomes(world: World, executed: Block, commitments: Sequence[CommittedBundle]) -> list[CommitmentOutcome]:
    """Each commitment against the final block as executed (a failing bundle is left out),
    its positions judged on the gas each order uses there."""
    out = []
    for c in commitments:
        if c.order not in executed.orders:
            out.append(CommitmentOutcome(c.order, c.commitment, False, -1, "fails where the rule places it"))
            continue
        out.append(CommitmentOutcome(c.order, c.commitment, True, tx_index(world, executed.orders, c.order),
                                     position_problem(world, executed.orders, c, executed.gas)))
    return out
