"""Position capacity: can the provider honour a block's position constraints together?

Two bids that both ask for absolute index 0, or position asks whose transactions cannot
all sit in the top X % of the block, cannot all be kept: whichever the block puts second
is slashed at settlement. So before signing a commitment the engine places the block's
committed position asks plus the new one by the layout the auction opens the block with
(mechanism/commitments.py, commitment-first: top bundles asking for a position first; then
top bundles asking for none; the rest of the block; bottom bundles last) and judges every
constraint by the oracle's rule,
:func:`mevauction.mechanism.commitments.position_met`, matched to the bundle's
transactions as settlement matches them (each transaction meets at most one option).

What the rest of the block will hold is not known when committing, so it is taken at its
most favourable for the constraints: the block full (gas limit used) and the room left
after the committed bundles filled with 21,000-gas transactions (the most transactions
it can hold). Every top and bottom constraint is easiest in that block, so a set refused
here is broken in every block the provider could build (it is refused only when a slash
is certain); one accepted can still be broken by a thin block (docs/preconf.md). Each
bundle's gas is counted on its first transaction, as the no-chain settlement does.

The positioned bundles are not judged in commitment order but in the best order for the
set (:func:`arrange`: exact, not greedy in acceptance order), and the layout places them
in that order (:func:`layout_order`, used by the service's block and by the tests' blocks):
A (absolute ≤ 5) committed, then B (absolute 0), is kept as B, A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mevauction.mechanism.commitments import ANCHOR_BOTTOM, BASES, position_met, positions_left
from mevauction.preconf import bidoptions

MIN_TX_GAS = 21_000
# The provider's gas estimate per named transaction (mev-commit bids carry no gas): the
# service and the decision client give the engine this much per transaction.
GAS_PER_TX = MIN_TX_GAS
_VALID_BASES = frozenset(BASES.values())


@dataclass(frozen=True, slots=True)
class Ask:
    """One bid's position constraints, as the layout places its bundle.

    ``bottom``: anchored at the bottom (its first constraint's anchor); ``planned``: one of
    its constraints has a basis and a value ≥ 0, so the layout opens the block with it
    (mechanism/commitments.py and service/preconf_block.py ``_placement``)."""

    options: tuple[bidoptions.PositionConstraint, ...]
    txs: int
    gas: int
    bottom: bool
    planned: bool


def ask_of(bid_options: bytes, txn_hash: str, gas: int) -> Ask | None:
    """The bid's position ask (None: it asks for no position). Undecodable options ask for
    nothing here: the transport refuses them before the engine sees the bid."""
    try:
        options = tuple(o for o in bidoptions.decode(bid_options) if isinstance(o, bidoptions.PositionConstraint))
    except ValueError:
        return None
    if not options:
        return None
    return Ask(options, max(1, len([h for h in txn_hash.split(",") if h])), gas, options[0].anchor == ANCHOR_BOTTOM,
               any(o.basis in _VALID_BASES and o.value >= 0 for o in options))


def _met(ask: Ask, first: int, n: int, gas_before: int, gas_total: int) -> bool:
    """Settlement's matching (:func:`positions_left`): each transaction of the bundle meets
    at most one option. (One transaction, one option: that option's check, the common case
    and the arrangement's inner loop.)"""
    if ask.txs == 1 and len(ask.options) == 1:
        o = ask.options[0]
        return position_met(o.anchor, o.basis, o.value, first, n, gas_before, ask.gas, gas_total)
    txs = [(first + i, gas_before + (ask.gas if i else 0), ask.gas if i == 0 else 0) for i in range(ask.txs)]
    return not positions_left([(o.anchor, o.basis, o.value) for o in ask.options], txs, n, gas_total)


def _segment(asks: Sequence[tuple[int, Ask]], top: bool, start: int, start_gas: int, n: int,
             total: int) -> list[int] | None:
    """An order of one segment's asks (``(index, ask)`` in commitment order; their indices in
    the order found) that keeps every one, or None when no order does.

    Exact for asks whose options all share the segment's anchor, by an exchange argument
    (Lawler's rule for feasibility): such an option is monotone in where the bundle starts —
    a top one kept at (index, gas before) is kept at any earlier one, a bottom one at any
    later one; the bundle's later transactions sit later still, so each option is met by a
    prefix (top) or suffix (bottom) of the bundle, and the oracle's first-fit matching over
    such sets is monotone too (checked exhaustively for 5 × 5, and against a brute force
    over every order in tests/preconf/test_preconf_capacity.py). So the top segment is
    filled from its end: any ask kept in the last place can take it (moving it there from a
    kept order only moves the others forward); if none can, no order keeps them all. The
    bottom segment mirrors that from its start. Candidates are tried latest-committed first
    for the end (earliest first for the start), so a set that commitment order keeps is laid
    out in commitment order. For an ask mixing anchors the search is still sound (every
    place is judged by the oracle's rule) but may miss an order."""
    left = list(asks)
    placed: list[int] = []
    if top:  # filled from the end: ``at``/``gas_at`` is where the segment's free part ends
        at, gas_at = start + sum(a.txs for _, a in left), start_gas + sum(a.gas for _, a in left)
    else:  # from the start: where its free part begins
        at, gas_at = start, start_gas
    while left:
        tried = range(len(left) - 1, -1, -1) if top else range(len(left))
        j = next((j for j in tried if _met(left[j][1], at - left[j][1].txs if top else at, n,
                                           gas_at - left[j][1].gas if top else gas_at, total)), None)
        if j is None:
            return None
        k, ask = left.pop(j)
        placed.append(k)
        sign = -1 if top else 1
        at, gas_at = at + sign * ask.txs, gas_at + sign * ask.gas
    return placed[::-1] if top else placed


def arrange(asks: Sequence[tuple[Ask, int]], committed_txs: int, committed_gas: int,
            gas_limit: int) -> list[int] | None:
    """The order (indices into ``asks``) in which the layout places a block's committed
    position asks so that every one is kept in the most favourable block, or None when no
    order does (a slash is then certain). Planned top asks open the block in the order
    found, the unplanned top ones follow in commitment order, bottom asks close it in the
    order found.

    ``asks``: every committed position ask of the block in commitment order, each with the
    transactions of the top bundles asking for none committed before it (where the layout
    puts an unplanned top ask); ``committed_txs``/``committed_gas``: all committed bundles'."""
    room = max(0, gas_limit - committed_gas)
    n = committed_txs + room // MIN_TX_GAS
    total = committed_gas + room
    planned = [(k, a) for k, (a, _) in enumerate(asks) if a.planned and not a.bottom]
    bottom = [(k, a) for k, (a, _) in enumerate(asks) if a.bottom]
    tail_txs, tail_gas = sum(a.txs for _, a in bottom), sum(a.gas for _, a in bottom)
    top_order = _segment(planned, True, 0, 0, n, total)
    bottom_order = _segment(bottom, False, n - tail_txs, total - tail_gas, n, total)
    if top_order is None or bottom_order is None:
        return None
    planned_txs, planned_gas = sum(a.txs for _, a in planned), sum(a.gas for _, a in planned)
    unplanned = [k for k, (a, _) in enumerate(asks) if not a.planned and not a.bottom]
    for k in unplanned:
        # After the planned ones and the unplanned top bundles committed before it; their
        # gas is not known one by one, so it is counted at the least (nothing before it).
        if not _met(asks[k][0], planned_txs + asks[k][1], n, planned_gas, total):
            return None
    return [*top_order, *unplanned, *bottom_order]


def layout_order(commitments: Sequence[tuple[Ask | None, int, int]], gas_limit: int) -> list[int]:
    """The block's commitments (``(ask or None, transactions, gas)`` in commitment order) in
    the order the layout places them: each position ask in the place :func:`arrange` found
    for it, every other commitment where commitment order has it — an order the capacity
    check judges keepable, so a commitment checked as keepable is laid out where it is kept.

    The block may turn out thin (few orders besides the commitments), and a thin block is
    the least favourable for every top and bottom constraint (fewer transactions, less
    gas). So an order that keeps every ask in the thinnest block — the commitments alone —
    is preferred: it is kept in any block that holds them. Only when none exists is the
    order for the full block used (a thin block may then break a percentile ask, and
    settlement slashes it). A set no order keeps (never committed by the engine) stays in
    commitment order."""
    asks: list[tuple[Ask, int]] = []
    slots: list[int] = []
    free = 0
    for k, (ask, txs, _) in enumerate(commitments):
        if ask is None:
            free += txs
            continue
        asks.append((ask, free))
        slots.append(k)
        if not ask.planned and not ask.bottom:
            free += txs
    txs, gas = sum(c[1] for c in commitments), sum(c[2] for c in commitments)
    order = arrange(asks, txs, gas, gas) or arrange(asks, txs, gas, gas_limit)  # thin block first, then full
    out = list(range(len(commitments)))
    if order is not None:
        # Only planned top asks move among themselves, and bottom ones among themselves:
        # the layout keeps every other commitment's place relative to the rest.
        for moved in ([k for k in order if asks[k][0].planned and not asks[k][0].bottom],
                      [k for k in order if asks[k][0].bottom]):
            for slot, k in zip(sorted(slots[k] for k in moved), moved, strict=True):
                out[slot] = slots[k]
    return out
