"""Bid decay: the share of a bid a provider earns, by when it dispatched its commitment.

Re-derived from mev-commit's oracle (``oracle/pkg/updater``,
``computeResidualAfterDecay``) and the BidderRegistry's percent scale
(``PRECISION = 1e16``, ``ONE_HUNDRED_PERCENT = 100 * PRECISION = 1e18``):

* start ≥ end, or dispatch ≥ end        → 0
* dispatch < start (committed early)     → 100 %
* otherwise  floor((end − dispatch) · 1e18 / (end − start)), capped at 100 %.

Timestamps are Unix milliseconds in practice; the rule only needs them consistent.
"""

from __future__ import annotations

PRECISION = 10**16
ONE_HUNDRED_PERCENT = 100 * PRECISION


def residual(decay_start: int, decay_end: int, dispatch: int) -> int:
    """Residual bid share after decay, scaled so that 1e18 means 100 %."""
    if decay_start >= decay_end or decay_end <= dispatch:
        return 0
    if dispatch < decay_start:
        return ONE_HUNDRED_PERCENT
    remaining = decay_end - dispatch
    return min(remaining * ONE_HUNDRED_PERCENT // (decay_end - decay_start), ONE_HUNDRED_PERCENT)


def decayed_amount(bid_amt: int, decay_start: int, decay_end: int, dispatch: int) -> int:
    """What of ``bid_amt`` a provider earns for dispatching at ``dispatch`` (BidderRegistry rounding)."""
    return bid_amt * residual(decay_start, decay_end, dispatch) // ONE_HUNDRED_PERCENT
