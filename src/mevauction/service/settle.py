"""Settlement of one slot: scenario from the stored orders, the Boost+ auction, records.

At the deadline the slot's orders (in arrival order) and its sealed builder
submissions become one ``mevauction.scenario/1`` document; the Boost+ mechanism
(seed 004, Fig. 3) runs on it in a worker process, so a long auction never stalls
intake. The report (``mevauction.report/1``) is then turned into the records the
service keeps: each order's status with its payment and refund, the settlement
ledger (searchers, builders, mechanism, proposer; it balances), the builders' deposit
movements, and the relay-style traces of the delivered payload and of every block the
auction considered.

Losing bids are never published (:func:`without_losing_bids` is the one redaction every
public view of a report goes through); ``builder_blocks`` keeps a commitment per
submission and the value of the winning block and of o* only, and with ``--sealed`` the
stored report is the public one.

No single order can stop a slot (:func:`screen`, :func:`isolated_report`): before the
auction, orders that are not bounded JSON (rows stored before intake bounded them) or
do not fit the block gas limit are left out with a reason; if the auction itself fails,
the order that breaks it is found by bisection and left out, and the rest settles. A
slot that cannot settle at all gets a *failed* report (:func:`failed_report`) stating
why; it is stored like any other, so it stays failed across a restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mevauction.errors import InputError, require
from mevauction.eth.keccak import keccak
from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.mechanism.auction import BuilderAuction
from mevauction.mechanism.boost import BuilderSettlement, Report, SearcherSettlement
from mevauction.service import algorithms
from mevauction.service.bounds import check_order_shape
from mevauction.service.builders import deposit_entries
from mevauction.service.committee import CommitteeFailure
from mevauction.service.intake import canonical
from mevauction.service.records import (
    BuilderBlockRecord,
    OrderOutcome,
    SettledSlot,
    SettlementRecord,
    SlotRecord,
)
from mevauction.settlement.ledger import PROPOSER, accounts
from mevauction.settlement.report import ReportDocument

if TYPE_CHECKING:  # the MPC extra is imported only in a sealed settlement
    from mevauction.privacy.builder_auction import RelayOutcome
    from mevauction.privacy.twoparty.relay import Slot

ZERO_HASH = "0x" + "00" * 32
NOT_SETTLED = SearcherSettlement(0, 0)  # an order the report does not mention (an error report)
DEFAULT_GAS = 21_000  # an order's gas when it declares none (the worlds' default)
MAX_CULPRITS = 8  # orders left out one by one for breaking the auction before the slot is failed
REASON_CHARS = 300


def failed_report(reason: str) -> dict:
    """The report of a slot that could not settle: every order excluded, ``reason`` in its note."""
    return {"error": reason[:REASON_CHARS], "failed": True}


def order_gas(order: dict) -> int:
    gas = order.get("gas", DEFAULT_GAS)
    require(isinstance(gas, int) and not isinstance(gas, bool) and gas > 0, "order.gas",
            "must be a positive integer")
    return gas


def admit_within_gas(orders: list[dict], gas_limit: int) -> set[str]:
    """The ids of the orders that enter the auction when together they need more gas than a
    block has: the smallest first (ties in arrival order), while they fit.

    Every block the auction can form — o* ∪ S, a builder's B* ∪ S — is a subset of these,
    so none exceeds the limit. The rule looks at declared gas only, never at bids, so the
    auction's incentive properties hold among the admitted orders; and one order claiming
    the whole block cannot crowd out the others (it is admitted last).
    """
    gas = [order_gas(o) for o in orders]
    if sum(gas) <= gas_limit:
        return {o["id"] for o in orders}
    admitted: set[str] = set()
    used = 0
    for k in sorted(range(len(orders)), key=lambda k: (gas[k], k)):
        if used + gas[k] > gas_limit:
            break  # the rest are no smaller
        admitted.add(orders[k]["id"])
        used += gas[k]
    return admitted


def screen(orders: list[dict], gas_limit: int) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """The slot's orders fit for the auction (in arrival order); those refused as malformed,
    with why; and those left out for the block gas limit, with why."""
    fit: list[dict] = []
    refused: dict[str, str] = {}
    for o in orders:
        try:
            check_order_shape(o, "order")
            require(order_gas(o) <= gas_limit, "order.gas", f"exceeds the block gas limit {gas_limit}")
        except InputError as exc:
            refused[str(o.get("id"))] = f"refused at settlement: {exc.one_line()}"[:REASON_CHARS]
            continue
        fit.append(o)
    admitted = admit_within_gas(fit, gas_limit)
    over = {o["id"]: f"block gas limit: left out so that the slot's orders fit in {gas_limit} gas "
                     f"(its {order_gas(o)} gas; smaller orders are admitted first)"
            for o in fit if o["id"] not in admitted}
    return [o for o in fit if o["id"] in admitted], refused, over


async def _attempt(run: Callable[[dict], Awaitable[dict]], scenario: dict) -> dict:
    try:
        return await run(scenario)
    except Exception as exc:  # the worker died, a value could not be sent to it, ...
        return {"error": f"{type(exc).__name__}: {exc}"[:REASON_CHARS]}


async def _first_breaking(run: Callable[[dict], Awaitable[dict]], scenario: dict,
                          reason: str) -> tuple[str, str]:
    """The order whose arrival first breaks the auction: the last of the shortest failing
    prefix of the slot's orders (found by bisection; the empty prefix is taken to run)."""
    orders = scenario["orders"]
    lo, hi = 0, len(orders)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        report = await _attempt(run, {**scenario, "orders": orders[:mid]})
        if "error" in report:
            hi, reason = mid, report["error"]
        else:
            lo = mid
    return orders[hi - 1]["id"], reason


async def isolated_report(scenario: dict, run: Callable[[dict], Awaitable[dict]]
                          ) -> tuple[dict, dict, dict[str, str]]:
    """The slot's report with every order that breaks the auction left out: the report,
    the scenario it ran on, and the orders left out with why.

    ``run(scenario)`` gives a report; an ``{"error"}`` report or an exception is a failure.
    A failure already marked ``failed`` (the committee's) is not an order's and is final;
    otherwise the breaking order is found, left out and the auction run again, up to
    ``MAX_CULPRITS`` times, after which the slot fails.
    """
    broke: dict[str, str] = {}
    report = await _attempt(run, scenario)
    while "error" in report and not report.get("failed") and scenario["orders"] and len(broke) < MAX_CULPRITS:
        culprit, reason = await _first_breaking(run, scenario, report["error"])
        broke[culprit] = f"left out: the auction failed with it ({reason})"[:REASON_CHARS]
        scenario = {**scenario, "orders": [o for o in scenario["orders"] if o["id"] != culprit],
                    # a committed bundle left out is no longer a constraint (settlement slashes it)
                    "commitments": [c for c in scenario.get("commitments", []) if c["order"] != culprit]}
        report = await _attempt(run, scenario)
    if "error" in report and not report.get("failed"):
        report = failed_report(f"the auction failed: {report['error']}")
    return report, scenario, broke


def with_seed(settled: SettledSlot, seed: Mapping[str, str]) -> SettledSlot:
    """The slot's stored report with the default algorithm's seed revealed (value and
    the commitment published before the deadline: mechanism/seed.py)."""
    report = {**settled.slot.report, "seed": dict(seed)}
    return dataclasses.replace(settled, slot=dataclasses.replace(settled.slot, report=report))


def with_exclusions(settled: SettledSlot, excluded: Mapping[str, str]) -> SettledSlot:
    """The slot's records with the orders left out before the auction, each with its reason."""
    extra = [OrderOutcome(settled.slot.slot, oid, "excluded", 0, 0, reason) for oid, reason in excluded.items()]
    return dataclasses.replace(settled, outcomes=[*settled.outcomes, *extra])


def build_scenario(world: dict, orders: list[dict], builders: dict[str, dict], gas_limit: int) -> dict:
    """The slot as a scenario: orders in arrival order, builders sorted by id."""
    return {
        "format": SCENARIO_FORMAT,
        "world": world,
        "block_gas_limit": gas_limit,
        "orders": orders,
        "builders": [{"id": b, **builders[b]} for b in sorted(builders)],
    }


def committee_auction(slot: Slot, outcome: list[RelayOutcome]) -> BuilderAuction:
    """The builder auction of step (4) run by the sealed-bid MPC committee (seed 000) on the
    builders' own sealed bids: the mechanism passes β0 and the builders whose blocks are
    valid (their bids are placeholders: the service has none); the committee gets β0 from
    the service and each builder's envelopes, and opens only the winner and the price.
    The committee's full outcome (with the bids it refused) is appended to ``outcome``.
    An amount the committee cannot take is an ``InputError`` (the slot's error report);
    any other failure is the committee's (:class:`CommitteeFailure`)."""
    import asyncio

    from mevauction.privacy.builder_auction import RelayOutcome, relay_builder_auction
    from mevauction.privacy.twoparty.relay import PairSlot, relay_pair_auction

    def auction(reserve: int, bids: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
        builders = [b for b, _ in bids if b in slot.bids]
        if not builders:  # nothing sealed to compare: the default block at β0
            outcome.append(RelayOutcome(None, reserve, {}))
            return None, reserve
        try:
            if isinstance(slot, PairSlot):  # the two-party backend (service/pair.py)
                result = relay_pair_auction(slot, reserve, builders)
            else:
                result = asyncio.run(relay_builder_auction(slot, reserve, builders))
        except InputError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise CommitteeFailure(f"{type(exc).__name__}: {exc}") from None
        outcome.append(result)
        return result.winner, result.price
    return auction


def reveal_only_outcome(report: Report, outcome: RelayOutcome) -> None:
    """Make a sealed slot's report carry what the committee opened, and nothing else.

    Every builder's ``bid`` is 0 (never revealed) except the winner's, which is the price it
    pays. The winner's surplus refund β* − price is netted out: it pays price + Σ_{i∈S}
    b_i(B*) and gets nothing back — the same net transfer as Fig. 3 case (4b), without β*.
    A builder whose sealed bid the committee refused is marked invalid with the reason.
    """
    for c in report.builders:
        if c.id in outcome.refused:
            c.valid, c.reason = False, f"sealed bid refused by the committee: {outcome.refused[c.id]}"
        c.bid = report.price if c.id == report.winner else 0
    if report.winner != "default":
        conflict_free = report.builder_settlement[report.winner].paid  # placeholder bid 0 + Σ_{i∈S} b_i(B*)
        report.builder_settlement[report.winner] = BuilderSettlement(report.price + conflict_free, 0)


def split_sealed(builders: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(scenario entries with a placeholder bid 0, each builder's sealed bid) of a sealed slot."""
    entries = {b: {**{k: v for k, v in sub.items() if k != "sealed"}, "bid": 0} for b, sub in builders.items()}
    return entries, {b: sub["sealed"] for b, sub in builders.items() if "sealed" in sub}


def run_scenario(scenario: dict, k_cutoff: int, committee: Slot | None = None,
                 programs: algorithms.SlotPrograms | None = None) -> dict:
    """Worker-process entry: the report of the Boost+ auction, or ``{"error": ...}``.

    With ``committee`` (the slot's sealed bids and the committee to run them on) the
    builders' auction runs in the MPC committee: the winner and price are the clear
    auction's, and the report names no other amount (:func:`reveal_only_outcome`).
    Raises :class:`CommitteeFailure` when the committee itself failed.
    """
    opened: list[RelayOutcome] = []
    auction = committee_auction(committee, opened) if committee else None
    try:
        # The slot's submitted algorithms (service/algorithms.py) run inside run_auction.
        parsed, limits = algorithms.parsed(scenario, programs)
        # Sealed: the algorithms seal their own bids in their jails, for this committee.
        sealing = algorithms.sealing(committee, scenario, programs) if committee is not None else None
        # Their jails, where they were started ahead of the deadline (algorithms.prestart).
        with algorithms.claim_warm(programs) or contextlib.nullcontext() as warm:
            outcome = parsed.run_auction(k_cutoff=k_cutoff, builder_auction=auction, algorithm_limits=limits,
                                         algorithm_sealing=sealing, algorithm_warm=warm)
        if opened:
            reveal_only_outcome(outcome, opened[0])
        return ReportDocument.of(outcome).to_json()
    except InputError as exc:  # e.g. two orders that no world can hold together
        return {"error": exc.one_line()[:REASON_CHARS]}


def identity(label: str, secret: str, slot: int | None = None, size: int = 20) -> str:
    """A stable per-service (and per-slot, if given) identifier of ``size`` bytes."""
    seed = f"{label}:{secret}" + ("" if slot is None else f":{slot}")
    digest = keccak(seed.encode())
    while len(digest) < size:
        digest += keccak(digest)
    return "0x" + digest[:size].hex()


def block_hash(slot: int, parent: str, block: list[str]) -> str:
    """The identifier of a settled block: keccak256 over its slot, parent and order ids."""
    return "0x" + keccak(canonical({"slot": slot, "parent": parent, "block": block}).encode()).hex()


def without_losing_bids(report: dict) -> dict:
    """The report as anyone may read it: every losing builder shows only its id, whether its
    block was valid (and why not); its bid, block and block value are left out. The winner's
    entry stays (its payment is what the ledger settles), and so does o* (β0 is the reserve)."""
    if "error" in report:
        return report
    winner = report["winner"]
    builders = [b if b["id"] == winner else {k: b[k] for k in ("id", "valid", "reason") if k in b}
                for b in report["builders"]]
    return {**report, "builders": builders}


def exclusion_note(oid: str, doc: ReportDocument) -> str:
    """Why an order the auction saw is not in the final block."""
    if oid in doc.conflict_free:
        return "failed when executed (a conflict-free order is otherwise always included)"
    if doc.winner != "default":
        return f"not in the winning block (builder {doc.winner}'s block B*)"
    return ("not in the default block o*: the most valuable block of its conflict group leaves it out "
            "(it conflicts with orders that pay more, or failed at its place)")


def records(slot: int, world: dict, scenario: dict, report: dict, parent_hash: str, secret: str,
            settled_ms: int, builder_times: Mapping[str, int], commitments: Mapping[str, str | None] | None = None,
            penalties: Mapping[str, int] | None = None, keep_bids: bool = True) -> SettledSlot:
    """Turn a report into records; orders the report does not mention are excluded.

    ``penalties``: what each disqualified winner forfeits (see service/builders.py);
    ``keep_bids`` False (sealed mode): the stored report is :func:`without_losing_bids`'s."""
    commitments = commitments or {}
    penalties = penalties or {}
    orders = {o["id"]: o for o in scenario["orders"]}
    failed = "error" in report
    doc = None if failed else ReportDocument.from_json(report)
    block = [] if doc is None else list(doc.block)
    searchers: Mapping[str, SearcherSettlement] = {} if doc is None else doc.searchers
    bhash = block_hash(slot, parent_hash, block)
    winner = "default" if doc is None else doc.winner
    default_pubkey = identity("default-builder", secret, size=48)
    winner_pubkey = default_pubkey if winner == "default" else winner
    proposer = 0 if doc is None else doc.proposer
    fee_recipient = identity("fee-recipient", secret, slot)
    refunds = sum(s.refund for s in searchers.values())

    def gas_and_txs(ids: list[str]) -> tuple[int, int]:
        return (sum(int(orders[i].get("gas", 21_000)) for i in ids if i in orders),
                sum(len(orders[i].get("txs", [i])) for i in ids if i in orders))

    gas_used, num_tx = gas_and_txs(block)
    slot_record = SlotRecord(
        slot=slot, world=world, report=report if keep_bids else without_losing_bids(report), settled_ms=settled_ms,
        block_hash=bhash, parent_hash=parent_hash, winner=winner, builder_pubkey=winner_pubkey,
        proposer_pubkey=identity("proposer", secret, size=48), fee_recipient=fee_recipient,
        gas_limit=int(scenario["block_gas_limit"]), gas_used=gas_used, num_tx=num_tx, value=proposer, refunds=refunds)

    in_block = set(block)
    outcomes = []
    for oid in orders:
        entry = searchers.get(oid, NOT_SETTLED)
        status = "included" if oid in in_block else "excluded"
        note = report["error"] if doc is None else (None if oid in in_block else exclusion_note(oid, doc))
        outcomes.append(OrderOutcome(slot, oid, status, entry.bid, entry.refund, note))

    candidates: list[tuple[str, str, bool, list[str], int | None, int]] = []
    if doc is not None:
        candidates.append(("default", default_pubkey, True, list(doc.default.block), doc.default.value, settled_ms))
        for b in doc.builders:  # a losing bid is not kept here: only the winner's value is
            candidates.append((b.id, b.id, b.valid, list(b.block), b.bid if b.id == winner else None,
                               builder_times.get(b.id, settled_ms)))
    blocks = []
    for builder, pubkey, valid, blk, value, ts in candidates:
        gas, ntx = gas_and_txs(blk)
        blocks.append(BuilderBlockRecord(slot, builder, block_hash(slot, parent_hash, blk), pubkey, valid, gas, ntx,
                                         value, ts, commitments.get(builder)))
    return SettledSlot(slot_record, outcomes, blocks, ledger(slot, doc, fee_recipient, penalties),
                       deposit_entries(slot, report, penalties))


def ledger(slot: int, doc: ReportDocument | None, fee_recipient: str,
           penalties: Mapping[str, int]) -> list[SettlementRecord]:
    """The slot's settlement ledger, one line per party (the proposer as its fee recipient)."""
    if doc is None:  # an error report settles nothing but the penalties
        lines: list[Any] = [("builder", b, amount, 0) for b, amount in penalties.items()]
        if penalties:
            lines.append(("proposer", PROPOSER, 0, sum(penalties.values())))
    else:
        lines = [(a.role, a.party, a.paid, a.received) for a in accounts(doc, penalties)]
    return [SettlementRecord(slot, fee_recipient if role == "proposer" else party, role, paid, received)
            for role, party, paid, received in lines]
