"""The provider's decision rule: a forward greedy knapsack with a reserve price per gas.

The preconfirmation-auctions paper, "Static model", Example: the standard two-parameter knapsack auction with
capacity C (here C_{-t}, the share of the block sold by time −t) and reserve f_res.
Offers are taken in decreasing order of value per gas (compared at a resolution of
2^-64 wei per gas, then by earlier arrival, then by key); an offer is accepted if its
value is at least ``reserve × gas`` and its gas still fits. An offer that does not fit
is skipped and smaller ones behind it are still tried (first fit).

:func:`forward_greedy` is a pure function of the offers and two numbers, with integer
arithmetic only, so any party holding the same offers (an auditor, or the sealed-bid
committee evaluating it over secret-shared bids) reaches the same decision.
"""

from __future__ import annotations

from dataclasses import dataclass

RANK_SHIFT = 64


@dataclass(frozen=True, slots=True)
class Offer:
    """What the rule sees of a pending bid: an id, its value now (wei), its gas and arrival (ms)."""

    key: str
    value: int
    gas: int
    arrival: int


def rank_key(offer: Offer) -> tuple[int, int, str]:
    """Sort key, best first: value per gas in units of 2^-64 wei, then arrival, then key."""
    return (-((offer.value << RANK_SHIFT) // offer.gas), offer.arrival, offer.key)


def ranked(offers: list[Offer]) -> list[Offer]:
    return sorted(offers, key=rank_key)


def meets_reserve(offer: Offer, reserve_per_gas: int) -> bool:
    return offer.value >= reserve_per_gas * offer.gas


def forward_greedy(offers: list[Offer], capacity: int, reserve_per_gas: int) -> list[str]:
    """Keys of the accepted offers, in acceptance order."""
    accepted: list[str] = []
    left = capacity
    for offer in ranked(offers):
        if offer.gas <= left and meets_reserve(offer, reserve_per_gas):
            accepted.append(offer.key)
            left -= offer.gas
    return accepted
