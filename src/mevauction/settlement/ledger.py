"""The transfers that settle one slot, and the checks they must pass.

A report (the mechanism's :class:`~mevauction.mechanism.boost.Report`, or the
``mevauction.report/1`` document read back) says what each party pays and gets
back; this module turns it into explicit transfers between parties, in the order Fig. 3 (4)
describes them, so they can be executed (refund transactions in the block) and
audited. Parties: each order id (its searcher), each builder id, ``mechanism``
(the account Boost+ controls) and ``proposer``.

- Case (4a): every searcher pays b_i(o*) to the mechanism; the mechanism refunds
  r_i (M \\ S) or b_i (S) and pays the rest to the proposer.
- Case (4b): every searcher in B* ∪ S pays b_i(B*) to the winning builder, which
  pays β* + Σ_{i∈S} b_i(B*) to the mechanism; the mechanism refunds r_i (owed even
  to orders the builder left out), b_i to S, β* − max(β0, β′) to the builder, and
  the rest to the proposer.

The mechanism must end every slot with exactly nothing (Theorem 3: budget balance).

:func:`accounts` is the slot's ledger by party: what each paid and received under these
transfers, plus the penalties of disqualified winners (a builder whose deposit could not
cover its winning payment forfeits a penalty to the proposer; the slot was re-run without
it). Every amount has a payer and a payee, so per slot Σ paid = Σ received.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mevauction.mechanism.boost import BuilderSettlement, SearcherSettlement

MECHANISM = "mechanism"
PROPOSER = "proposer"


class SettlementError(ValueError):
    """The report's money flows do not balance or contain a negative amount."""


@dataclass(frozen=True, slots=True)
class Transfer:
    payer: str
    payee: str
    amount: int  # wei
    reason: str


class Settled(Protocol):
    """What the transfers are computed from: a mechanism Report or a report document."""

    @property
    def winner(self) -> str: ...
    @property
    def conflict_free(self) -> Collection[str]: ...
    @property
    def searchers(self) -> Mapping[str, SearcherSettlement]: ...
    @property
    def builder_settlement(self) -> Mapping[str, BuilderSettlement]: ...
    @property
    def proposer(self) -> int: ...


def transfers(report: Settled) -> list[Transfer]:
    """The transfers that carry out ``report`` (zero amounts left out)."""
    winner = report.winner
    conflict_free = set(report.conflict_free)
    collector = MECHANISM if winner == "default" else winner
    out: list[Transfer] = []
    for oid, s in report.searchers.items():
        out.append(Transfer(oid, collector, s.bid, "bid in the final block"))
    if winner != "default":
        won = report.builder_settlement[winner]
        out.append(Transfer(winner, MECHANISM, won.paid, "winning bid β* plus the conflict-free orders' bids"))
    for oid, s in report.searchers.items():
        reason = "bid of a conflict-free order" if oid in conflict_free else "refund r_i (Eq. 1)"
        out.append(Transfer(MECHANISM, oid, s.refund, reason))
    if winner != "default":
        out.append(Transfer(MECHANISM, winner, won.refund, "surplus β* − max(β0, β′)"))
    out.append(Transfer(MECHANISM, PROPOSER, report.proposer, "proposer revenue"))
    return [t for t in out if t.amount != 0]


@dataclass(frozen=True, slots=True)
class Account:
    """One party's totals in a slot's ledger."""

    role: str  # searcher, builder, mechanism, proposer
    party: str
    paid: int  # wei
    received: int  # wei


def accounts(report: Settled, penalties: Mapping[str, int] | None = None) -> list[Account]:
    """Each party's totals under :func:`transfers` (keyed by role, so an order id cannot pass
    for a builder or the proposer), then each penalty: the builder pays it, the proposer gets it."""
    penalties = penalties or {}
    winner = report.winner
    collected = sum(s.bid for s in report.searchers.values())
    refunds = sum(s.refund for s in report.searchers.values())
    out = [Account("searcher", oid, s.bid, s.refund) for oid, s in report.searchers.items()]
    for j, owed in report.builder_settlement.items():
        out.append(Account("builder", j, owed.paid + penalties.get(j, 0),
                           owed.refund + (collected if j == winner else 0)))
    out += [Account("builder", j, amount, 0) for j, amount in penalties.items() if j not in report.builder_settlement]
    if winner == "default":  # 4a: the bids come to the mechanism
        out.append(Account("mechanism", MECHANISM, refunds + report.proposer, collected))
    else:  # 4b: the bids go to the winner, which pays the mechanism
        won = report.builder_settlement[winner]
        out.append(Account("mechanism", MECHANISM, refunds + won.refund + report.proposer, won.paid))
    out.append(Account("proposer", PROPOSER, 0, report.proposer + sum(penalties.values())))
    return out


def net_positions(flows: Iterable[Transfer]) -> dict[str, int]:
    """Each party's net gain (received − paid)."""
    net: dict[str, int] = {}
    for t in flows:
        net[t.payer] = net.get(t.payer, 0) - t.amount
        net[t.payee] = net.get(t.payee, 0) + t.amount
    return net


def check(flows: list[Transfer]) -> None:
    """No negative transfer, and the mechanism ends with exactly zero (Theorem 3)."""
    for t in flows:
        if t.amount < 0:
            raise SettlementError(f"negative transfer {t.payer} → {t.payee}: {t.amount} ({t.reason})")
    left = net_positions(flows).get(MECHANISM, 0)
    if left != 0:
        raise SettlementError(f"the mechanism would end the slot with {left} wei, not 0")


def settle(report: Settled) -> list[Transfer]:
    """The checked transfers of ``report``."""
    flows = transfers(report)
    check(flows)
    return flows
