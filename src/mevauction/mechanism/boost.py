"""The Boost+ mechanism, seed 004 Fig. 3.

Notation (the paper's, used throughout the package):

- M — the orders (bundles) of the slot; b_i(ω) — order i's bid in block ω.
- S — the conflict-free orders (alone in their conflict group), step (0). They are
  set aside, appended to whichever block wins, and refunded their whole bid.
- o* — the default algorithm's block over M \\ S (Alg. 1), with value
  β0 = Σ_{j∈M\\S} b_j(o*): the reserve of the builders' auction.
- o_{-i} — the counterfactual block, best within the same family with b_i zeroed.
- r_i = β0 − Σ_{j≠i} b_j(o_{-i}) — the refund of Eq. (1), always from the default
  algorithm, whoever wins (Appendix A shows why using the winner's algorithm would
  let a builder and a searcher collude).
- β_j — builder j's bid; β* the highest, β′ the highest of the others.

Case (4a) β0 ≥ β*: the default block o* ∪ S is final; builders pay nothing; the
proposer gets β0 − Σ r_i. Case (4b): the winner's block B* ∪ S is final; the winner
pays β* + Σ_{i∈S} b_i(B*) and gets β* − max(β0, β′) back; the proposer gets
max(β0, β′) − Σ r_i. Both cases balance the budget exactly (Theorem 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import K_CUTOFF, DefaultBuilder, DefaultSolution
from mevauction.intake.scenario import Scenario
from mevauction.mechanism.auction import BuilderAuction, second_price_with_reserve
from mevauction.mechanism.builders import Candidate, run_submission
from mevauction.settlement.ledger import settle

REPORT_FORMAT = "mevauction.report/1"


@dataclass(slots=True)
class SearcherSettlement:
    bid: int  # what the order pays in the final block (0 if left out)
    refund: int  # r_i for M \ S, the bid itself for S


@dataclass(slots=True)
class Report:
    """The outcome of one slot's auction (``mevauction.report/1``)."""

    conflict_free: list[str]
    default: DefaultSolution
    builders: list[Candidate]
    winner: str
    block: list[str]
    searchers: dict[str, SearcherSettlement]
    builder_settlement: dict[str, dict[str, int]]
    proposer: int
    price: int
    groups: list[list[str]] = field(default_factory=list)

    @property
    def beta0(self) -> int:
        return self.default.value

    @property
    def case(self) -> str:
        return "4a" if self.winner == "default" else "4b"

    def to_json(self) -> dict:
        doc = self.summary()
        doc["transfers"] = [{"from": t.payer, "to": t.payee, "amount": t.amount, "reason": t.reason}
                            for t in settle(doc)]
        return doc

    def summary(self) -> dict:
        """The report's fields before the transfers that carry it out."""
        return {
            "format": REPORT_FORMAT,
            "conflict_free": self.conflict_free,
            "default": {"block": list(self.default.block.orders), "value": self.default.value},
            "builders": [c.to_json() for c in self.builders],
            "winner": self.winner,
            "case": self.case,
            "price": self.price,
            "block": self.block,
            "searchers": {i: {"bid": s.bid, "refund": s.refund} for i, s in self.searchers.items()},
            "builder_settlement": self.builder_settlement,
            "proposer": self.proposer,
            "groups": self.groups,
        }


def run_auction(scenario: Scenario, k_cutoff: int = K_CUTOFF,
                builder_auction: BuilderAuction | None = None) -> Report:
    """Run Fig. 3 on one slot."""
    world = scenario.world
    ids = list(world.orders)

    # (0) Conflict-free orders S: alone in their conflict group.
    groups = conflict_groups(ids, world.conflict_access)
    conflict_free = [g[0] for g in groups if len(g) == 1]
    in_s = set(conflict_free)
    rest = [i for i in ids if i not in in_s]
    # A conflict-free order pays the same anywhere; evaluate it alone.
    s_bids = {i: world.evaluate([i]).bids.get(i, 0) for i in conflict_free}
    s_included = [i for i in conflict_free if world.evaluate([i]).orders]

    # (1)–(2) Default block o*, β0, and every refund r_i.
    default = DefaultBuilder(k_cutoff, scenario.seed).solve(world, rest)
    beta0 = default.value

    # (3) Builder submissions on M \ S.
    candidates = [run_submission(world, sub, rest, in_s, k_cutoff, scenario.seed, default.block)
                  for sub in scenario.builders]
    valid = [(c.id, c.bid) for c in candidates if c.valid]

    # (4) Winner and price: second price among builders with reserve β0.
    auction = builder_auction or second_price_with_reserve
    winner, price = auction(beta0, valid)
    refunds_total = sum(default.refunds.values())
    settlement = {c.id: {"paid": 0, "refund": 0} for c in candidates}
    if winner is None:  # Case (4a)
        final = default.block
        proposer = beta0 - refunds_total
        price = beta0
        winner_name = "default"
    else:  # Case (4b)
        chosen = next(c for c in candidates if c.id == winner)
        final = chosen.block
        settlement[winner] = {"paid": chosen.bid + sum(s_bids.values()), "refund": chosen.bid - price}
        proposer = price - refunds_total
        winner_name = winner

    final_bids = dict(final.bids)
    final_bids.update(s_bids)
    searchers = {}
    for i in ids:
        if i in in_s:
            searchers[i] = SearcherSettlement(s_bids[i], s_bids[i])
        else:
            searchers[i] = SearcherSettlement(final_bids.get(i, 0) if i in final.orders else 0, default.refunds[i])
    return Report(
        conflict_free=conflict_free,
        default=default,
        builders=candidates,
        winner=winner_name,
        block=list(final.orders) + s_included,
        searchers=searchers,
        builder_settlement=settlement,
        proposer=proposer,
        price=price,
        groups=[g for g in groups if len(g) > 1],
    )
