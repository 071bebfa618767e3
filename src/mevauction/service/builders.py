"""Registered builders and their deposits: who may bid, how much, and what a win costs.

The rules (docs/service.md, "Builders"):

- Only a registered builder may bid: the operator registers ``address → deposit`` (wei)
  with ``serve --builder ADDRESS=DEPOSIT_WEI`` or the ``[serve.builders]`` table. A bid
  from any other signer is refused naming ``builder``, so a fresh key cannot win a slot.
- A builder's *free deposit* is its deposit, less what its past slots debited (payments,
  less the surplus refunds credited back, plus penalties), less what its pending bids
  hold. A bid in wei holds its amount until its slot settles (a later bid for the same
  slot replaces the hold). A bid above the free deposit is refused naming ``bid``; a
  builder with nothing free is refused naming ``builder``.
- The service cannot check at intake what it does not know: a ``"truthful"`` bid (the
  block's value, known only once built) and every bid with ``--sealed`` (the committee
  opens only the winner and price). So the rule is checked again on the outcome: the
  winner's payment β* + Σ_{i∈S} b_i(B*) (Fig. 3 case 4b) must be covered by its free
  deposit (its own hold in the slot released). If it is not, the winner is disqualified:
  the auction is run again without it, and it forfeits its whole free deposit to the
  proposer as the penalty (it bid more than it could pay). A covered winner's payment is
  debited from its deposit and its surplus β* − max(β0, β′) credited back.
- In sealed mode a bid must be below 2^128 wei (the committee's width): refused naming
  ``bid`` at intake, without printing the amount.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import require
from mevauction.eth.keccak import keccak
from mevauction.service.intake import canonical
from mevauction.service.records import DepositEntry

SEALED_BID_BITS = 128  # mevauction.privacy.builder_auction.BUILDER_BITS: the committee's width
SPENDING = {"debit": 1, "penalty": 1, "credit": -1}  # how each ledger entry moves what is spent


def spent(entries: Iterable[DepositEntry]) -> dict[str, int]:
    """Per builder, what its ledger entries took from its deposit (debits + penalties − credits)."""
    out: dict[str, int] = {}
    for e in entries:
        out[e.builder] = out.get(e.builder, 0) + SPENDING[e.entry] * e.amount
    return out


def commit(slot: int, builder: str, submission: Mapping[str, Any]) -> tuple[str, str]:
    """(commitment, salt): keccak256 over the slot, builder, submission and a fresh 32-byte salt.

    The salt goes back to the builder alone, so the commitment binds its submission
    without letting anyone try candidate bids against it."""
    salt = "0x" + secrets.token_bytes(32).hex()
    body = canonical({"slot": slot, "builder": builder, "submission": submission, "salt": salt})
    return "0x" + keccak(body.encode()).hex(), salt


@dataclass
class BuilderRegistry:
    deposits: dict[str, int]  # address → deposit (wei), from the configuration
    spent: dict[str, int] = field(default_factory=dict)  # from the stored ledger
    holds: dict[tuple[int, str], int] = field(default_factory=dict)  # (slot, builder) → bid held

    def free(self, builder: str, except_slot: int | None = None) -> int:
        held = sum(v for (slot, b), v in self.holds.items() if b == builder and slot != except_slot)
        return self.deposits.get(builder, 0) - self.spent.get(builder, 0) - held

    def admit(self, builder: str, slot: int, bid: int | str | None, sealed: bool) -> int:
        """The amount a new bid holds (0 if unknown at intake: ``"truthful"``, sealed, or not
        sent in the clear, None), or an InputError why it is refused."""
        require(builder in self.deposits, "builder",
                f"{builder} is not a registered builder (the operator registers builders with "
                f"serve --builder ADDRESS=DEPOSIT_WEI)")
        free = self.free(builder, except_slot=slot)
        require(free > 0, "builder", f"{builder} has no free deposit left")
        if not isinstance(bid, int):
            return 0
        if sealed:
            require(bid < 1 << SEALED_BID_BITS, "bid", f"a sealed bid must be below 2^{SEALED_BID_BITS} wei")
            return 0  # the service is not to know a sealed bid: checked on the committee's outcome
        require(bid <= free, "bid", f"exceeds the free deposit of builder {builder} ({free} wei)")
        return bid

    def hold(self, slot: int, builder: str, amount: int) -> int | None:
        """Hold ``amount`` for the builder's bid in ``slot``; the hold it replaces (None: none)."""
        previous = self.holds.get((slot, builder))
        self.holds[(slot, builder)] = amount
        return previous

    def restore(self, slot: int, builder: str, previous: int | None) -> None:
        """Undo :meth:`hold` (the bid was not stored)."""
        if previous is None:
            self.holds.pop((slot, builder), None)
        else:
            self.holds[(slot, builder)] = previous

    def settled(self, slot: int, entries: Iterable[DepositEntry]) -> None:
        """The slot's ledger is stored: release its holds, count its entries."""
        for key in [k for k in self.holds if k[0] == slot]:
            del self.holds[key]
        for builder, amount in spent(entries).items():
            self.spent[builder] = self.spent.get(builder, 0) + amount


Run = Callable[[dict], Awaitable[dict]]


async def covered_report(run: Run, scenario: dict, registry: BuilderRegistry, slot: int) -> tuple[dict, dict[str, int]]:
    """The slot's report whose winner can pay, and the penalties of the winners that could not.

    Each uncovered winner is taken out of the scenario and the auction run again; at worst
    the default block wins."""
    penalties: dict[str, int] = {}
    while True:
        report = await run(scenario)
        winner = report.get("winner", "default")
        if "error" in report or winner == "default":
            return report, penalties
        free = registry.free(winner, except_slot=slot)
        if report["builder_settlement"][winner]["paid"] <= free:
            return report, penalties
        penalties[winner] = max(0, free)
        scenario = {**scenario, "builders": [b for b in scenario["builders"] if b["id"] != winner]}


def deposit_entries(slot: int, report: dict, penalties: Mapping[str, int]) -> list[DepositEntry]:
    """The slot's movements of builder deposits: the winner's payment and surplus, the penalties."""
    entries = [DepositEntry(slot, b, "penalty", amount) for b, amount in penalties.items() if amount]
    winner = report.get("winner", "default")
    if "error" not in report and winner != "default":
        owed = report["builder_settlement"][winner]
        entries.append(DepositEntry(slot, winner, "debit", owed["paid"]))
        if owed["refund"]:
            entries.append(DepositEntry(slot, winner, "credit", owed["refund"]))
    return entries


def registry_of(deposits: Mapping[str, int], entries: Iterable[DepositEntry],
                pending: Iterable[tuple[int, str, Any]], sealed: bool) -> BuilderRegistry:
    """The registry at start-up: configured deposits, the stored ledger, and the holds of the
    pending bids ``(slot, builder, bid)`` (none in sealed mode: the service holds no amount)."""
    holds = {} if sealed else {(slot, b): bid for slot, b, bid in pending if isinstance(bid, int)}
    return BuilderRegistry(dict(deposits), spent(entries), holds)

