"""The service's provider desk against a real SQLite store (no HTTP): decisions survive a
restart as they were (nothing re-decided, escrow not grown), and the delivery hook
settles a block's commitments on an explicit mined block, ledger balanced and durable."""

import asyncio
import time

import pytest

from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.nike import GENERATOR
from mevauction.service.clock import SlotClock
from mevauction.service.config import ServiceConfig
from mevauction.service.metrics import Metrics
from mevauction.service.preconf import PreconfDesk
from mevauction.service.store import Store

CONTRACT = "0x" + "ab" * 20
PROVIDER_KEY = "0x" + "22" * 32
ALICE, BOB = Signer.from_label("alice"), Signer.from_label("bob")
SLOT_S = 6.0
PER_GAS = 10


def config(**extra) -> ServiceConfig:
    return ServiceConfig(preconf_key=PROVIDER_KEY, preconf_contract=CONTRACT, preconf_reserve_per_gas=PER_GAS,
                         preconf_reject_within_ms=60_000, preconf_stake="1000000", preconf_hash_only="any",
                         preconf_deposits={ALICE.address: "10000000", BOB.address: "300000"}, **extra)


class Desk:
    """A desk on a store, rebuilt on the same database file as a restart would."""

    def __init__(self, url: str, clock: SlotClock):
        self.url, self.clock = url, clock

    def __enter__(self) -> PreconfDesk:
        self.store = Store(self.url)
        desk = PreconfDesk(config(), self.clock, self.store, Metrics())
        desk.load()
        return desk

    def __exit__(self, *exc) -> None:
        self.store.close()


def bid(desk: PreconfDesk, signer: Signer, tx: int, amount: int, block: int) -> SignedBid:
    now = int(time.time() * 1000)
    b = Bid(f"{tx:064x}", amount, block, now - 1000, now + 10_000, slash_amt=amount // 2,
            bidder_pk_x=GENERATOR[0], bidder_pk_y=GENERATOR[1])
    return SignedBid.sign(b, signer, desk.engine.params.chain_id, CONTRACT)


def state(desk: PreconfDesk) -> dict:
    return {"records": {k: (r.status, len(r.messages)) for k, r in desk.bids.items()},
            "deposits": [desk.deposit(who.address) for who in (ALICE, BOB)], "stake": desk.stake}


@pytest.fixture
def setup(tmp_path):
    clock = SlotClock(time.time() - 0.5, SLOT_S)  # slot 0 open, ~5.5 s to its deadline
    return f"sqlite:///{tmp_path / 'desk.db'}", clock


def test_every_decision_survives_a_restart_as_it_was(setup):
    url, clock = setup
    block = clock.current() + 1

    async def run():
        with Desk(url, clock) as desk:
            sends = [bid(desk, ALICE, 1, 21_000 * PER_GAS * 2, block),  # committed
                     bid(desk, BOB, 2, 21_000 * PER_GAS * 20, block),  # insufficient-deposit
                     bid(desk, ALICE, 3, 21_000 * PER_GAS - 1, block),  # below the reserve: pending
                     bid(desk, ALICE, 4, 21_000 * PER_GAS - 2, block)]  # pending, then superseded
            for sb in sends:
                await desk.send_bid(sb, sb.bidder())
            raised = bid(desk, ALICE, 4, 21_000 * PER_GAS - 1, block)
            await desk.send_bid(raised, ALICE.address)
            before = state(desk)
        assert sorted(s for s, _ in before["records"].values()) == ["committed", "pending", "pending",
                                                                     "rejected", "rejected"]
        with Desk(url, clock) as again:
            assert state(again) == before
            # A retry of the refused bid gets its stored reject, never a pending record.
            assert (await again.send_bid(sends[1], BOB.address)).status == "rejected"
            assert state(again) == before
    asyncio.run(run())


def test_delivery_settles_the_blocks_commitments_with_a_balanced_durable_ledger(setup):
    url, clock = setup
    block = clock.current() + 1

    async def run():
        with Desk(url, clock) as desk:
            kept = bid(desk, ALICE, 11, 21_000 * PER_GAS * 4, block)
            broken = bid(desk, ALICE, 12, 21_000 * PER_GAS * 3, block)
            for sb in (kept, broken):
                assert (await desk.send_bid(sb, ALICE.address)).status == "committed"
            assert desk.sold_gas(block) == 2 * 21_000 and len(desk.committed(block)) == 2  # hooks for the block
            escrowed = int(desk.deposit(ALICE.address)["escrowed"])
            assert escrowed == kept.bid.bid_amt + broken.bid.bid_amt
            mined = ["0x" + "ee" * 32, "0x" + kept.bid.txn_hash]  # the broken one's transaction is not in it
            report = await desk.settle_block(block, mined)
            outcome = {c["bidKey"]: c for c in report["commitments"]}
            assert outcome[kept.key]["outcome"] == "reward" and outcome[broken.key]["outcome"] == "slash"
            assert report["balanced"] and int(outcome[broken.key]["slash_to_bidder"]) == broken.bid.slash_amt
            paid = int(outcome[kept.key]["provider_payout"]) + int(outcome[kept.key]["protocol_fee"])
            assert 0 < paid <= kept.bid.bid_amt  # decayed: dispatched after the decay started
            after = desk.deposit(ALICE.address)
            assert after["escrowed"] == "0" and int(after["available"]) == 10_000_000 - paid
            assert desk.stake == 1_000_000 - int(outcome[broken.key]["stake_taken"])
            settled = state(desk)
            assert await desk.settle_block(block, []) == await desk.settlement(block)  # once only
        with Desk(url, clock) as again:
            assert state(again) == settled
            stored = await again.settlement(block)
            assert {c["bidKey"]: c["outcome"] for c in stored["commitments"]} == {kept.key: "reward",
                                                                                  broken.key: "slash"}
            assert sorted(e["kind"] for e in stored["ledger"]) == ["fee", "penalty", "refund", "reward", "slash",
                                                                    "unlock"]
    asyncio.run(run())
