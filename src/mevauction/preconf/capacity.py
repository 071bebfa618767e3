"""Position capacity: can the provider honour a block's position constraints together?

Two bids that both ask for absolute index 0, or position asks whose transactions cannot
all sit in the top X % of the block, cannot all be kept: whichever the block puts second
is slashed at settlement. So before signing a commitment the engine places the block's
committed position asks plus the new one by the layout the auction opens the block with
(mechanism/commitments.py, commitment-first: top bundles asking for a position first, in
commitment order; then top bundles asking for none; the rest of the block; bottom bundles
last, in commitment order) and judges every constraint by the oracle's rule,
:func:`mevauction.mechanism.commitments.position_met`, matched to the bundle's
transactions as settlement matches them (each transaction meets at most one option).

What the rest of the block will hold is not known when committing, so it is taken at its
most favourable for the constraints: the block full (gas limit used) and the room left
after the committed bundles filled with 21,000-gas transactions (the most transactions
it can hold). Every top and bottom constraint is easiest in that block, so a set refused
here is broken in every block the provider could build (it is refused only when a slash
is certain); one accepted can still be broken by a thin block (docs/preconf.md). Each
bundle's gas is counted on its first transaction, as the no-chain settlement does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mevauction.mechanism.commitments import ANCHOR_BOTTOM, BASES, positions_left
from mevauction.preconf import bidoptions

MIN_TX_GAS = 21_000
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
    at most one option."""
    txs = [(first + i, gas_before + (ask.gas if i else 0), ask.gas if i == 0 else 0) for i in range(ask.txs)]
    return not positions_left([(o.anchor, o.basis, o.value) for o in ask.options], txs, n, gas_total)


def unmet(asks: Sequence[tuple[Ask, int]], committed_txs: int, committed_gas: int,
          gas_limit: int) -> int | None:
    """Index (in ``asks``) of the first ask broken in the most favourable block, or None.

    ``asks``: every committed position ask of the block in commitment order, each with the
    transactions of the top bundles asking for none committed before it (where the layout
    puts an unplanned top ask); ``committed_txs``/``committed_gas``: all committed bundles'."""
    room = max(0, gas_limit - committed_gas)
    n = committed_txs + room // MIN_TX_GAS
    total = committed_gas + room
    planned_txs = sum(a.txs for a, _ in asks if a.planned and not a.bottom)
    planned_gas = sum(a.gas for a, _ in asks if a.planned and not a.bottom)
    at, gas_at = 0, 0
    tail_txs = sum(a.txs for a, _ in asks if a.bottom)
    tail_gas = sum(a.gas for a, _ in asks if a.bottom)
    bottom_at, bottom_gas = n - tail_txs, total - tail_gas
    for k, (ask, free_before) in enumerate(asks):
        if ask.bottom:
            first, before = bottom_at, bottom_gas
            bottom_at += ask.txs
            bottom_gas += ask.gas
        elif ask.planned:
            first, before = at, gas_at
            at += ask.txs
            gas_at += ask.gas
        else:
            # After the planned ones and the unplanned top bundles committed before it; their
            # gas is not known one by one, so it is counted at the least (nothing before it).
            first, before = planned_txs + free_before, planned_gas
        if not _met(ask, first, n, before, total):
            return k
    return None
