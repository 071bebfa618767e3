"""Bidder strategies (preconfirmation-auctions paper, "Inclusion risk", "Fee risk", "Execution outcome risk").

* :class:`AcceptanceModel` learns, from observed auctions, the price per gas that was
  needed to be accepted early; :meth:`AcceptanceModel.min_bid_per_gas` is the
  chance-constrained bid — the smallest bid with estimated P[acceptance] ≥ p.
  An auction that accepted nothing while bids were pending counts as an infinite
  threshold, so a provider who never accepts early drives every estimate to "not
  reachable": the bidder then stays out of the preconf market (the deferring problem).
* :func:`best_bid_offset` picks when to bid: bidding at −s locks the fee (fee risk
  accrues only until s) but fixes the transaction early (execution outcome risk accrues
  from s to the block); a bid that is not accepted falls back to spot and bears the
  whole fee risk. Under independent increments both variances grow linearly in time.
* :func:`next_increment` raises a pending bid by at least a step towards a target
  total, never past the bidder's cap (bids carry running totals, see provider.py).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque

INFINITE = -1  # marker for "nothing was accepted": no finite bid would have won


class AcceptanceModel:
    """Empirical distribution of per-gas acceptance thresholds over a sliding window."""

    def __init__(self, window: int = 200):
        self.thresholds: deque[int] = deque(maxlen=window)

    def observe(self, threshold_per_gas: int | None) -> None:
        """Record one auction: the lowest accepted per-gas bid, or None if it accepted nothing."""
        self.thresholds.append(INFINITE if threshold_per_gas is None else threshold_per_gas)

    def __len__(self) -> int:
        return len(self.thresholds)

    def probability(self, per_gas: int) -> float:
        """Estimated P[acceptance] of a bid of ``per_gas`` (share of thresholds it meets)."""
        if not self.thresholds:
            return 0.0
        finite = sorted(t for t in self.thresholds if t != INFINITE)
        return bisect_right(finite, per_gas) / len(self.thresholds)

    def min_bid_per_gas(self, p: float) -> int | None:
        """Smallest per-gas bid whose estimated acceptance probability is at least ``p``;
        None if no bid reaches ``p`` (too many auctions accepted nothing) or no data."""
        if not self.thresholds or not 0 < p <= 1:
            return None
        finite = sorted(t for t in self.thresholds if t != INFINITE)
        needed = max(1, math.ceil(p * len(self.thresholds) - 1e-9))
        return finite[needed - 1] if needed <= len(finite) else None


def chance_constrained_bid(model: AcceptanceModel, p: float, gas: int, max_per_gas: int) -> int | None:
    """Total bid (wei) for ``gas`` meeting P[acceptance] ≥ p within the bidder's cap, or None."""
    per_gas = model.min_bid_per_gas(p)
    if per_gas is None or per_gas > max_per_gas:
        return None
    return per_gas * gas


def best_bid_offset(horizon_ms: int, offsets_ms: list[int], fee_var_per_ms: float, exec_var_per_ms: float,
                    acceptance: dict[int, float]) -> int:
    """When to bid, as ms before the block, minimising expected risk (variance) borne.

    At −horizon the bidder knows its transaction; bidding at −s (0 ≤ s ≤ horizon) with
    acceptance probability π(s) bears fee variance over (horizon − s) and execution
    outcome variance over s if accepted, or fee variance over the whole horizon if
    not (spot fallback). Ties go to the later bid (more information).
    """
    def risk(s: int) -> float:
        pi = acceptance.get(s, 0.0)
        accepted = fee_var_per_ms * (horizon_ms - s) + exec_var_per_ms * s
        return pi * accepted + (1 - pi) * fee_var_per_ms * horizon_ms

    feasible = sorted((s for s in offsets_ms if 0 <= s <= horizon_ms), reverse=False)
    if not feasible:
        raise ValueError("no bid time within the horizon")
    return min(feasible, key=lambda s: (risk(s), s))


def next_increment(current_total: int, target_total: int, max_total: int, step: int) -> int | None:
    """The next running total to bid: at least ``current + step`` and the target, at most the cap."""
    proposal = max(current_total + step, target_total)
    return proposal if proposal <= max_total else None
