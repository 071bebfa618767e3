"""Settlement of one slot: scenario from the stored orders, the Boost+ auction, records.

At the deadline the slot's orders (in arrival order) and its sealed builder
submissions become one ``mevauction.scenario/1`` document; the Boost+ mechanism
(seed 004, Fig. 3) runs on it in a worker process, so a long auction never stalls
intake. The report (``mevauction.report/1``) is then turned into the records the
service keeps: each order's status with its payment and refund, the settlement
ledger (searchers, builders, proposer), and the relay-style traces of the delivered
payload and of every block the auction considered.
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak

from mevauction.errors import InputError
from mevauction.service.committee import CommitteeFailure
from mevauction.service.intake import canonical
from mevauction.service.records import (
    BuilderBlockRecord,
    OrderOutcome,
    SettledSlot,
    SettlementRecord,
    SlotRecord,
)

SCENARIO_FORMAT = "mevauction.scenario/1"
ZERO_HASH = "0x" + "00" * 32


def build_scenario(world: dict, orders: list[dict], builders: dict[str, dict], gas_limit: int) -> dict:
    """The slot as a scenario: orders in arrival order, builders sorted by id."""
    return {
        "format": SCENARIO_FORMAT,
        "world": world,
        "block_gas_limit": gas_limit,
        "orders": orders,
        "builders": [{"id": b, **builders[b]} for b in sorted(builders)],
    }


def committee_auction(intake: list[tuple[str, int]]):
    """The builder auction of step (4) run by the running sealed-bid MPC committee at
    ``intake`` (seed 000): the builders' bids are secret-shared and only the winner and
    price leave. An amount the committee cannot take is an ``InputError`` (the slot's
    error report); any other failure is the committee's (:class:`CommitteeFailure`)."""
    from mevauction.privacy.builder_auction import sealed_builder_auction

    def auction(reserve: int, bids: list[tuple[str, int]]):
        try:
            return sealed_builder_auction(reserve, bids, committee=intake)
        except InputError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise CommitteeFailure(f"{type(exc).__name__}: {exc}") from None
    return auction


def sealed_available() -> bool:
    """Whether the sealed-bid committee (``mevauction.privacy``) is installed."""
    import importlib.util
    try:
        return importlib.util.find_spec("mevauction.privacy.builder_auction") is not None
    except ImportError:
        return False


def run_scenario(scenario: dict, k_cutoff: int, committee: list[tuple[str, int]] | None = None) -> dict:
    """Worker-process entry: the report of the Boost+ auction, or ``{"error": ...}``.

    With ``committee`` (intake addresses of running committee servers) the builder bids
    are opened by the MPC committee instead of in the clear; the report is the same (the
    committee computes the same winner and price), only who sees the losing bids differs.
    Raises :class:`CommitteeFailure` when the committee itself failed.
    """
    from mevauction.intake.scenario import parse_scenario
    from mevauction.mechanism.boost import run_auction

    auction = committee_auction(committee) if committee else None
    try:
        return run_auction(parse_scenario(scenario), k_cutoff=k_cutoff, builder_auction=auction).to_json()
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


def records(slot: int, world: dict, scenario: dict, report: dict, parent_hash: str, secret: str,
            settled_ms: int, builder_times: dict[str, int]) -> SettledSlot:
    """Turn a report into records; orders the report does not mention are excluded."""
    orders = {o["id"]: o for o in scenario["orders"]}
    failed = "error" in report
    block = [] if failed else list(report.get("block", []))
    searchers: dict[str, Any] = {} if failed else report.get("searchers", {})
    bhash = block_hash(slot, parent_hash, block)
    winner = "default" if failed else str(report.get("winner", "default"))
    default_pubkey = identity("default-builder", secret, size=48)
    winner_pubkey = default_pubkey if winner == "default" else winner
    proposer = 0 if failed else int(report.get("proposer", 0))
    fee_recipient = identity("fee-recipient", secret, slot)
    refunds = sum(int(s.get("refund", 0)) for s in searchers.values())

    def gas_and_txs(ids: list[str]) -> tuple[int, int]:
        return (sum(int(orders[i].get("gas", 21_000)) for i in ids if i in orders),
                sum(len(orders[i].get("txs", [i])) for i in ids if i in orders))

    gas_used, num_tx = gas_and_txs(block)
    slot_record = SlotRecord(
        slot=slot, world=world, report=report, settled_ms=settled_ms, block_hash=bhash, parent_hash=parent_hash,
        winner=winner, builder_pubkey=winner_pubkey, proposer_pubkey=identity("proposer", secret, size=48),
        fee_recipient=fee_recipient, gas_limit=int(scenario["block_gas_limit"]), gas_used=gas_used, num_tx=num_tx,
        value=proposer, refunds=refunds)

    in_block = set(block)
    outcomes = []
    for oid in orders:
        entry = searchers.get(oid, {})
        status = "included" if oid in in_block else "excluded"
        note = report["error"] if failed else None
        outcomes.append(OrderOutcome(slot, oid, status, int(entry.get("bid", 0)), int(entry.get("refund", 0)), note))

    candidates = []
    if not failed:
        default = report.get("default", {})
        candidates.append(("default", default_pubkey, True, list(default.get("block", [])),
                           int(default.get("value", 0)), settled_ms))
        for b in report.get("builders", []):
            candidates.append((b["id"], b["id"], bool(b.get("valid")), list(b.get("block") or []),
                               int(b.get("bid", 0)), builder_times.get(b["id"], settled_ms)))
    blocks = []
    for builder, pubkey, valid, blk, value, ts in candidates:
        gas, ntx = gas_and_txs(blk)
        blocks.append(BuilderBlockRecord(slot, builder, block_hash(slot, parent_hash, blk), pubkey, valid, gas, ntx,
                                         value, ts))

    ledger = [SettlementRecord(slot, oid, "searcher", int(s.get("bid", 0)), int(s.get("refund", 0)))
              for oid, s in searchers.items()]
    if not failed:
        for builder, s in report.get("builder_settlement", {}).items():
            ledger.append(SettlementRecord(slot, builder, "builder", int(s.get("paid", 0)), int(s.get("refund", 0))))
        ledger.append(SettlementRecord(slot, fee_recipient, "proposer", 0, proposer))
    return SettledSlot(slot_record, outcomes, blocks, ledger)
