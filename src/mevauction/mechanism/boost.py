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
max(β0, β′) − Σ r̂_i, where r̂_i = min(r_i, b_i(B*)) is the refund capped at what i
paid in the final block (0 if the winner left i out) — a departure from Fig. 3
(docs/mechanism.md, "Departures"). Both cases balance the budget exactly (Theorem 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import K_CUTOFF, DefaultBuilder, DefaultSolution
from mevauction.building.gas import declared_gas, keep_conflict_free
from mevauction.mechanism import commitments as committed
from mevauction.mechanism.auction import BuilderAuction, second_price_with_reserve
from mevauction.mechanism.builders import BuilderSubmission, Candidate, run_programs, run_submission
from mevauction.mechanism.commitments import CommitmentOutcome, CommittedBundle
from mevauction.sandbox.jail import Limits
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import RunResult
from mevauction.sandbox.warm import WarmJails
from mevauction.worlds.base import Block, World

DEFAULT_BLOCK_GAS_LIMIT = 30_000_000


@dataclass(frozen=True, slots=True)
class AuctionInput:
    """One slot as the mechanism sees it: the orders' world and the builders' entries.

    ``seed`` fixes the default algorithm's (and the built-in builders') tie-breaking,
    so the same input always gives the same report. ``block_gas_limit`` bounds the
    final block (o* ∪ S or B* ∪ S; docs/mechanism.md "Departures" (e)).
    """

    world: World
    builders: Sequence[BuilderSubmission] = ()
    seed: int = 0
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT
    # Budget and limits of the submitted (sandboxed) algorithms; None: the defaults.
    algorithm_limits: Limits | None = None
    # Preconfirmation commitments the block must keep (mechanism/commitments.py).
    commitments: Sequence[CommittedBundle] = ()
    # A sealed slot: per submitted algorithm, what it seals its bid to (its bid here is a
    # placeholder 0; the amount goes to the committee, which the builder auction runs on).
    algorithm_sealing: Mapping[str, Sealing] | None = None
    # The slot's jails started before the deadline (sandbox/warm.py): a run takes its own.
    algorithm_warm: WarmJails | None = None


@dataclass(frozen=True, slots=True)
class SearcherSettlement:
    bid: int  # wei the order pays in the final block (0 if left out)
    refund: int  # wei back: r_i for M \ S, the bid itself for S


@dataclass(frozen=True, slots=True)
class BuilderSettlement:
    paid: int  # wei the builder pays the mechanism: β* + Σ_{i∈S} b_i(B*) for the winner
    refund: int  # wei back: the winner's surplus β* − max(β0, β′)


NO_SETTLEMENT = BuilderSettlement(0, 0)


@dataclass(slots=True)
class Report:
    """The outcome of one slot's auction; :mod:`mevauction.settlement.report` writes it
    out as a ``mevauction.report/1`` document with the transfers that carry it out."""

    conflict_free: list[str]
    default: DefaultSolution
    builders: list[Candidate]
    winner: str
    block: list[str]
    searchers: dict[str, SearcherSettlement]
    builder_settlement: dict[str, BuilderSettlement]
    proposer: int
    price: int
    groups: list[list[str]] = field(default_factory=list)
    commitments: list[CommitmentOutcome] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # left out before the auction, why

    @property
    def beta0(self) -> int:
        return self.default.value

    @property
    def case(self) -> str:
        return case_of(self.winner)


def case_of(winner: str) -> str:
    """Fig. 3 (4a) when the default block wins, (4b) when a builder does."""
    return "4a" if winner == "default" else "4b"


# Why an order leaves M when the default block does not pay what it predicted for it
# (docs/mechanism.md "Departures" (g)).
HIDDEN_READS = "hidden-reads: its outcome in the default block differs from the one its read set predicts"
HIDDEN_READS_ROUNDS = 3


@dataclass(slots=True)
class _Stages:
    """Steps (0)–(2) on the orders left in M: S, its bids, the budget and o*."""

    groups: list[list[str]]
    conflict_free: list[str]
    rest: list[str]
    s_kept: list[str]
    s_bids: dict[str, int]
    s_included: list[str]
    budget: int
    world: World  # the state after the top committed bundles
    default: DefaultSolution


def _stages(slot: AuctionInput, lay: committed.Layout, ids: list[str], k_cutoff: int) -> _Stages:
    world = slot.world
    # (0) Conflict-free orders S: alone in their conflict group (committed bundles
    # count as members, so an order touching what a commitment touches is not in S).
    groups = conflict_groups([*ids, *lay.top, *lay.bottom], world.conflict_access)
    groups = [g for g in ([i for i in grp if i not in lay.ids] for grp in groups) if g]
    conflict_free = [g[0] for g in groups if len(g) == 1 and not _touches_committed(world, g[0], lay)]
    in_s = set(conflict_free)
    rest = [i for i in ids if i not in in_s]
    # The gas limit, by a bid-independent rule: the committed gas is reserved; S kept
    # in arrival order while it fits; what is left is the budget of every block on M \ S.
    limit = slot.block_gas_limit
    if world.block_gas_limit is not None:
        limit = min(limit, world.block_gas_limit)
    limit = max(0, limit - lay.gas)
    s_kept = keep_conflict_free(world, conflict_free, limit)
    budget = limit - declared_gas(world, s_kept)
    # Every block on M \ S is searched and valued after the top committed bundles.
    after = committed.after(world, lay)
    # A conflict-free order pays the same anywhere; evaluate it alone.
    alone = {i: after.evaluate([i]) for i in s_kept}
    s_bids = {i: alone[i].bids.get(i, 0) for i in s_kept}
    s_included = [i for i in s_kept if alone[i].orders]
    # (1)–(2) Default block o*, β0, and every refund r_i.
    default = DefaultBuilder(k_cutoff, slot.seed, budget).solve(after, rest)
    return _Stages(groups, conflict_free, rest, s_kept, s_bids, s_included, budget, after, default)


def _mispaid(predicted: Mapping[str, int], executed: Block) -> list[str]:
    """Orders whose payment in the ``executed`` block is not the ``predicted`` one."""
    return sorted(i for i, bid in predicted.items()
                  if bid != (executed.bids.get(i, 0) if i in executed.orders else 0))


def run_auction(slot: AuctionInput, k_cutoff: int = K_CUTOFF,
                builder_auction: BuilderAuction | None = None) -> Report:
    """Run Fig. 3 on one slot."""
    base = slot.world
    lay = committed.layout(base, slot.commitments)
    # Committed bundles are not bids: they leave M, and so does any order holding one of
    # their transactions (docs/mechanism.md "Departures" (f)).
    ids = [i for i in base.orders if i not in lay.ids and i not in lay.shares_tx]
    # Where read sets may be incomplete, o* ∪ S is executed before any builder runs; an
    # order it pays otherwise than predicted read what its set does not list, leaves M,
    # and (0)–(2) run again; after HIDDEN_READS_ROUNDS tries, all of M leaves ((g)).
    left_out: dict[str, str] = {}
    for attempt in range(HIDDEN_READS_ROUNDS + 1):
        st = _stages(slot, lay, [i for i in ids if i not in left_out], k_cutoff)
        # o* ∪ S as executed, kept: case (4a) delivers exactly this block
        checked = None if base.access_complete else base.evaluate(
            [*lay.top, *st.default.block.orders, *st.s_included, *lay.bottom])
        wrong = [] if checked is None else _mispaid(
            {**{i: st.default.block.bids.get(i, 0) for i in st.default.block.orders}, **st.s_bids}, checked)
        if not wrong:
            break
        left_out.update(dict.fromkeys(ids if attempt + 1 == HIDDEN_READS_ROUNDS else wrong, HIDDEN_READS))
    world, rest, default, budget = st.world, st.rest, st.default, st.budget
    conflict_free, in_s, s_included = st.conflict_free, set(st.conflict_free), st.s_included
    groups, beta0 = st.groups, default.value

    # (3) Builder submissions on M \ S, each within the same gas budget; submitted
    # programs all at once, within one wall-clock budget (on the state after the top
    # committed bundles, like every block on M \ S).
    runs = run_programs(world, slot.builders, rest, slot.algorithm_limits, slot.algorithm_sealing, slot.algorithm_warm)
    candidates = [_submission(base, world, sub, rest, in_s, k_cutoff, slot.seed, default.block, budget, lay,
                              s_included, runs.get(sub.id)) for sub in slot.builders]
    valid = [(c.id, c.bid) for c in candidates if c.valid]

    # (4) Winner and price: second price among builders with reserve β0.
    auction = builder_auction or second_price_with_reserve
    winner, price = auction(beta0, valid)
    settlement = {c.id: NO_SETTLEMENT for c in candidates}
    if winner is None:  # Case (4a)
        final = default.block
        price = beta0
        winner_name = "default"
    else:  # Case (4b)
        chosen = next(c for c in candidates if c.id == winner)
        final = chosen.block
        winner_name = winner
    # The final block as executed: committed bundles that fail are left out of it. What a
    # committed bundle pays the coinbase is not a bid in the auction (its price was the
    # preconfirmation bid): like an order of S, it is paid back in full.
    block = [*lay.top, *final.orders, *s_included, *lay.bottom]
    executed = None
    if winner is None and checked is not None:
        executed = checked  # the same sequence, executed before the builders ran
    elif lay.ids or (winner is not None and not base.access_complete):
        executed = base.evaluate(block)
    c_bids = {i: executed.bids.get(i, 0) if i in executed.orders else 0 for i in lay.ids} if executed else {}
    s_bids = st.s_bids
    if executed is not None and not base.access_complete:
        # After a builder's block, S pays what the executed block says: with incomplete
        # read sets, "conflict-free" is a claim the winner's block was not checked for.
        s_bids = {i: executed.bids.get(i, 0) if i in executed.orders else 0 for i in st.s_kept}
    if winner is not None:
        settlement[winner] = BuilderSettlement(chosen.bid + sum(s_bids.values()) + sum(c_bids.values()),
                                               chosen.bid - price)

    # What each order of M \ S pays in the final block, and its refund: r_i of Eq. (1),
    # capped at that payment. In case (4a) the cap never binds (r_i ≤ b_i(o*)); in
    # (4b) it stops the mechanism paying an order the winner left out (a departure
    # from Fig. 3, docs/mechanism.md "Departures" (a)).
    in_final = set(final.orders)
    paid = {i: final.bids.get(i, 0) if i in in_final else 0 for i in rest}
    refunds = {i: min(default.refunds[i], paid[i]) for i in rest}
    proposer = price - sum(refunds.values())
    searchers = {i: SearcherSettlement(c_bids.get(i, 0), c_bids.get(i, 0))
                 for i in (*lay.ids, *lay.shares_tx, *left_out)}
    for i in ids:
        if i in left_out:
            continue
        if i in in_s:  # refunded its whole bid; 0 if the gas limit left it out
            searchers[i] = SearcherSettlement(s_bids.get(i, 0), s_bids.get(i, 0))
        else:
            searchers[i] = SearcherSettlement(paid[i], refunds[i])
    kept = committed.outcomes(base, executed, slot.commitments) if executed else []
    return Report(
        conflict_free=conflict_free,
        default=default,
        builders=candidates,
        winner=winner_name,
        block=[i for i in block if executed is None or i in executed.orders or i not in lay.ids],
        searchers=searchers,
        builder_settlement=settlement,
        proposer=proposer,
        price=price,
        groups=[g for g in groups if len(g) > 1],
        commitments=kept,
        excluded={**lay.shares_tx, **left_out},
    )


def _touches_committed(world: World, oid: str, lay: committed.Layout) -> bool:
    mine = world.conflict_access(oid)
    return any(mine.conflicts_with(world.conflict_access(c)) for c in lay.ids)


def _submission(base: World, world: World, sub: BuilderSubmission, rest: list[str], in_s: set[str],
                k_cutoff: int, seed: int, default_block: Block, budget: int, lay: committed.Layout,
                s_included: list[str], run: RunResult | None = None) -> Candidate:
    """A builder's candidate under the commitments: an explicit block must place every
    committed bundle as the rule does; any block whose bottom bundles fail after it, where
    they succeed after o*, breaks a commitment and is invalid."""
    if lay.ids and sub.algorithm is None and sub.program is None:
        inner, reason = committed.split_explicit(sub.block or (), lay)
        if reason:
            return Candidate(sub.id, False, world.evaluate(inner), 0, reason)
        sub = dataclasses.replace(sub, block=tuple(inner))
    cand = run_submission(world, sub, rest, in_s, k_cutoff, seed, default_block, budget, run)
    if cand.valid and lay.bottom:
        def bottom_ok(block: tuple[str, ...]) -> set[str]:
            seq = [*lay.top, *block, *s_included, *lay.bottom]
            return set(base.evaluate(seq).orders) & set(lay.bottom)
        lost = bottom_ok(default_block.orders) - bottom_ok(cand.block.orders)
        if lost:
            cand.valid, cand.bid = False, 0
            cand.reason = f"breaks committed bundle {sorted(lost)[0]!r} (it fails after this block)"
    if cand.valid and lay.constrained:  # a position the block with o* keeps and this block breaks
        def misplaced(block: tuple[str, ...]) -> dict[str, str]:
            executed = base.evaluate([*lay.top, *block, *s_included, *lay.bottom])
            return {c.order: why for c in lay.constrained
                    if (why := committed.position_problem(base, executed.orders, c, executed.gas)) is not None}
        broken = misplaced(cand.block.orders)
        kept_by_default = {o: why for o, why in broken.items() if o not in misplaced(default_block.orders)}
        if kept_by_default:
            order, why = sorted(kept_by_default.items())[0]
            cand.valid, cand.bid = False, 0
            cand.reason = f"breaks the position of committed bundle {order!r}: {why}"
    return cand
