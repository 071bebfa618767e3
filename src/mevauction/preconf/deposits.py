"""Bidder deposits per provider, escrow of committed bids, and the pre-send check.

Mirrors mev-commit's BidderRegistry bookkeeping (``deposits[bidder][provider]`` with
``availableAmount`` and ``escrowedAmount``; ``openBid`` moves a bid into escrow,
``convertFundsToProviderReward`` and ``unlockFunds`` take it out again) and the
provider node's ``CheckAndDeductDeposit``, which refuses a bid that the bidder's
available deposit cannot cover. The same ledger serves the bidder, who holds back
funds for bids in flight so that a bid that cannot be covered is never sent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


class InsufficientDeposit(ValueError):
    """The bidder's available deposit with this provider does not cover the amount."""


@dataclass(slots=True)
class Deposit:
    available: int = 0
    escrowed: int = 0


class DepositLedger:
    """Available and escrowed funds per (bidder, provider); escrow is keyed by bid digest."""

    def __init__(self) -> None:
        self._deposits: dict[tuple[str, str], Deposit] = defaultdict(Deposit)
        self._escrow: dict[bytes, tuple[str, str, int]] = {}

    def deposit(self, bidder: str, provider: str, amount: int) -> None:
        if amount < 0:
            raise ValueError("a deposit is non-negative")
        self._deposits[(bidder, provider)].available += amount

    def available(self, bidder: str, provider: str) -> int:
        entry = self._deposits.get((bidder, provider))
        return entry.available if entry else 0

    def escrowed(self, bidder: str, provider: str) -> int:
        entry = self._deposits.get((bidder, provider))
        return entry.escrowed if entry else 0

    def hold(self, key: bytes, bidder: str, provider: str, amount: int) -> None:
        """Move ``amount`` from available to escrow under ``key``; refuse if it is not covered."""
        if key in self._escrow:
            raise ValueError(f"escrow {key.hex()} already held")
        entry = self._deposits[(bidder, provider)]
        if entry.available < amount:
            raise InsufficientDeposit(
                f"deposit with {provider} has {entry.available} wei available, bid needs {amount}")
        entry.available -= amount
        entry.escrowed += amount
        self._escrow[key] = (bidder, provider, amount)

    def held(self, key: bytes) -> int:
        return self._escrow[key][2] if key in self._escrow else 0

    def release(self, key: bytes) -> int:
        """Return an escrow to the available balance (bid rejected, superseded or slashed)."""
        bidder, provider, amount = self._escrow.pop(key)
        entry = self._deposits[(bidder, provider)]
        entry.escrowed -= amount
        entry.available += amount
        return amount

    def reopen(self, key: bytes, bidder: str, provider: str, amount: int, paid: int) -> None:
        """Undo a settled escrow (spent with ``paid``, or released: ``paid`` 0): held again,
        as before settling — a block reorganised away is settled afresh."""
        entry = self._deposits[(bidder, provider)]
        entry.available -= amount - paid
        entry.escrowed += amount
        self._escrow[key] = (bidder, provider, amount)

    def charge(self, bidder: str, provider: str, paid: int) -> None:
        """Take ``paid`` from the available deposit: a settled payment, put back on restart."""
        self._deposits[(bidder, provider)].available -= paid

    def spend(self, key: bytes, paid: int) -> int:
        """Settle an escrow: ``paid`` leaves the bidder, the rest returns as available.

        Returns the refund (escrow − paid), as BidderRegistry returns the decayed part.
        """
        bidder, provider, amount = self._escrow.pop(key)
        if not 0 <= paid <= amount:
            raise ValueError("paid must lie between 0 and the escrowed amount")
        entry = self._deposits[(bidder, provider)]
        entry.escrowed -= amount
        entry.available += amount - paid
        return amount - paid
