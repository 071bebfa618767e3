"""Settling the service's preconfirmations when a block is delivered (the delivery hook).

The block-delivery code calls :func:`settle_block` (``PreconfDesk.settle_block``) once
per block with the mined block's transactions in order — hashes, or
``{hash, succeeded, gasUsed}`` from the receipts — and the block's winner (the
proposer's chosen builder; a commitment by any other provider is void). Every
commitment the service signed for that block is then settled by mev-commit's oracle
rule (:func:`mevauction.preconf.settlement.settle_commitments`): the dispatch timestamp
is checked against the time the commitment was stored, not taken from the message;
escrow is spent (kept: the decayed amount, of which the protocol fee) or released
(broken, void); slashes come out of the provider's stake. The outcomes and every
ledger entry are written in one transaction before memory changes, so a failed write
leaves nothing half-settled; settling a block again returns the stored result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Commitment
from mevauction.preconf.settlement import BLOCK_SETTLEMENT_FORMAT, Recorded, settle_commitments
from mevauction.service import dao
from mevauction.service.metrics import Metrics
from mevauction.service.store import Db, Store


class PreconfDesk(Protocol):
    """What settlement uses of the desk (service/preconf.py), which imports this module."""

    store: Store
    ledger: DepositLedger
    metrics: Metrics
    signer: Signer
    stake: int
    dispatch_window_ms: int
    settled: set[int]
    settled_hash: dict[int, str]
    _settling: asyncio.Lock


def _recorded(db: Db, desk: PreconfDesk, block_number: int) -> list[Recorded]:
    """The block's commitments in the order stored, with when each was stored and its escrow."""
    out: list[Recorded] = []
    for bid in dao.preconf_bids_in_order_for_block(db, block_number):
        key = bid.digest + bid.signature
        for m in dao.preconf_messages_about(db, bid.digest):
            if m.kind != "commitment" or m.bid_key not in (None, key):
                continue
            commitment = Commitment.from_json(m.message)
            # Rows stored before migration 8 carry no storing time: the dispatch
            # timestamp is then all there is (such rows predate settlement).
            recorded_ms = m.stored_ms if m.stored_ms is not None else commitment.dispatch_timestamp
            out.append(Recorded(commitment, recorded_ms, desk.ledger.held(key.encode())))
    return out


async def settle_block(desk: PreconfDesk, block_number: int, block_txs: list, winner: str | None = None,
                       block_hash: str | None = None) -> dict:
    """Settle every commitment for ``block_number`` against the mined block; the report.
    Given the block's hash, a block already settled against another hash (reorganised
    away) is settled again against this one: the earlier settlement is undone in memory
    and replaced in the same write, so nothing is paid twice."""
    async with desk._settling:
        replace = block_number in desk.settled and block_hash is not None \
            and desk.settled_hash.get(block_number) not in (None, block_hash)
        if block_number in desk.settled and not replace:
            stored = await settlement_report(desk, block_number)
            assert stored is not None
            return stored
        if replace:
            await _undo(desk, block_number)
        recorded = await desk.store.read(lambda db: _recorded(db, desk, block_number))
        result = settle_commitments(block_txs, recorded, block_number, winner or desk.signer.address, desk.stake,
                                    desk.dispatch_window_ms)
        assert result.balanced(), "settlement ledger does not balance"
        report = result.to_json()
        outcomes = [{**c, "bidKey": o.bid_key, "escrowed": str(r.escrowed),
                     **({"blockHash": block_hash} if block_hash else {})}
                    for c, o, r in zip(report["commitments"], result.outcomes, recorded, strict=True)]
        now = int(time.time() * 1000)

        def write(db: Db) -> None:
            if replace:
                dao.delete_preconf_settlement(db, block_number)
            dao.insert_preconf_settlement(db, block_number, outcomes, report["ledger"], now)
        await desk.store.write(write)
        for o in result.outcomes:
            key = o.bid_key.encode()
            s = o.settlement
            if desk.ledger.held(key):
                if s.kind == "reward":
                    desk.ledger.spend(key, s.provider_payout + s.protocol_fee)
                else:
                    desk.ledger.release(key)
            desk.metrics.inc("mevauction_preconf_settled_total", help="Preconfirmation commitments settled",
                             outcome=s.kind)
        desk.stake -= result.stake_in
        desk.settled.add(block_number)
        if block_hash:
            desk.settled_hash[block_number] = block_hash
        return {**report, "commitments": outcomes, **({"blockHash": block_hash} if block_hash else {}),
                "resettled": replace}


async def _undo(desk: PreconfDesk, block_number: int) -> None:
    """Put back, in memory, what a block's stored settlement moved: each escrow held again
    (its payment or release undone), the stake's slashes returned."""
    outcomes = await desk.store.read(lambda db: dao.preconf_outcomes_of(db, block_number))
    provider = desk.signer.address
    for o in outcomes:
        paid = int(o["provider_payout"]) + int(o["protocol_fee"])
        desk.ledger.reopen(o["bidKey"].encode(), o["bidder"], provider, int(o.get("escrowed", paid)), paid)
        desk.stake += int(o["stake_taken"])
    desk.settled.discard(block_number)


def balanced(outcomes: list[dict], ledger: list[dict]) -> bool:
    """The stored block balances: what its entries take out of escrow is what the
    commitments held, and out of the stake what their slashes took (rows stored before
    ``escrowed`` was recorded are checked on the stake alone)."""
    def out_of(prefix: str) -> int:
        return sum(int(e["amount"]) for e in ledger if e["from"].startswith(prefix))
    stake_ok = out_of("stake:") == sum(int(o["stake_taken"]) for o in outcomes)
    if any("escrowed" not in o for o in outcomes):
        return stake_ok
    return stake_ok and out_of("escrow:") == sum(int(o["escrowed"]) for o in outcomes)


async def settlement_report(desk: PreconfDesk, block_number: int) -> dict | None:
    """The stored settlement of one block (None: not settled yet)."""
    def read(db: Db) -> dict | None:
        if block_number not in desk.settled:
            return None
        outcomes = dao.preconf_outcomes_of(db, block_number)
        ledger = dao.preconf_ledger_of(db, block_number)
        hashes = {o["blockHash"] for o in outcomes if "blockHash" in o}
        return {"format": BLOCK_SETTLEMENT_FORMAT, "blockNumber": block_number, "commitments": outcomes,
                "ledger": ledger, "balanced": balanced(outcomes, ledger),
                **({"blockHash": hashes.pop()} if len(hashes) == 1 else {})}
    return await desk.store.read(read)
