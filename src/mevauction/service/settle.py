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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mevauction.errors import InputError
from mevauction.eth.keccak import keccak
from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.mechanism.auction import BuilderAuction
from mevauction.mechanism.boost import BuilderSettlement, Report, SearcherSettlement
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
    from mevauction.privacy.builder_auction import RelayOutcome, SealedSlot

ZERO_HASH = "0x" + "00" * 32
NOT_SETTLED = SearcherSettlement(0, 0)  # an order the report does not mention (an error report)


def build_scenario(world: dict, orders: list[dict], builders: dict[str, dict], gas_limit: int) -> dict:
    """The slot as a scenario: orders in arrival order, builders sorted by id."""
    return {
        "format": SCENARIO_FORMAT,
        "world": world,
        "block_gas_limit": gas_limit,
        "orders": orders,
        "builders": [{"id": b, **builders[b]} for b in sorted(builders)],
    }


def committee_auction(slot: SealedSlot, outcome: list[RelayOutcome]) -> BuilderAuction:
    """The builder auction of step (4) run by the sealed-bid MPC committee (seed 000) on the
    builders' own sealed bids: the mechanism passes β0 and the builders whose blocks are
    valid (their bids are placeholders: the service has none); the committee gets β0 from
    the service and each builder's envelopes, and opens only the winner and the price.
    The committee's full outcome (with the bids it refused) is appended to ``outcome``.
    An amount the committee cannot take is an ``InputError`` (the slot's error report);
    any other failure is the committee's (:class:`CommitteeFailure`)."""
    import asyncio

    from mevauction.privacy.builder_auction import RelayOutcome, relay_builder_auction

    def auction(reserve: int, bids: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
        builders = [b for b, _ in bids if b in slot.bids]
        if not builders:  # nothing sealed to compare: the default block at β0
            outcome.append(RelayOutcome(None, reserve, {}))
            return None, reserve
        try:
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


def sealed_available() -> bool:
    """Whether the sealed-bid committee (``mevauction.privacy``) is installed."""
    import importlib.util
    try:
        return importlib.util.find_spec("mevauction.privacy.builder_auction") is not None
    except ImportError:
        return False


def run_scenario(scenario: dict, k_cutoff: int, committee: SealedSlot | None = None) -> dict:
    """Worker-process entry: the report of the Boost+ auction, or ``{"error": ...}``.

    With ``committee`` (the slot's sealed bids and the committee to run them on) the
    builders' auction runs in the MPC committee: the winner and price are the clear
    auction's, and the report names no other amount (:func:`reveal_only_outcome`).
    Raises :class:`CommitteeFailure` when the committee itself failed.
    """
    from mevauction.intake.scenario import parse_scenario

    opened: list[RelayOutcome] = []
    auction = committee_auction(committee, opened) if committee else None
    try:
        outcome = parse_scenario(scenario).run_auction(k_cutoff=k_cutoff, builder_auction=auction)
        if opened:
            reveal_only_outcome(outcome, opened[0])
        return ReportDocument.of(outcome).to_json()
    except InputError as exc:  # e.g. two orders that no world can hold together
        return {"error": exc.one_line()}


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
        note = report["error"] if failed else None
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
