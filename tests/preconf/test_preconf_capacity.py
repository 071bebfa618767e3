"""Position capacity (issue 14): the provider never commits position asks it cannot keep
together. Each test settles what the engine committed by the oracle's rule
(``settlement.delivery_failure``) on the block the auction's layout builds — committed
bundles asking for a position first, in commitment order, then the rest of the block —
so a commitment the engine should have refused shows as a slash."""

import dataclasses

import pytest
from preconf_fixtures import ALICE, CAROL, PROVIDER, arrive, make_bid, make_engine

from mevauction.preconf import bidoptions
from mevauction.preconf.evidence import find_equivocations
from mevauction.preconf.messages import Commitment, SignedBid
from mevauction.preconf.params import audit
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.settlement import DeliveredBlock, delivery_failure

FULL = 30_000_000


def positioned(tx: str, amount: int, basis: int, value: int, signer=ALICE) -> SignedBid:
    options = bidoptions.encode([bidoptions.PositionConstraint(anchor=1, basis=basis, value=value)])
    sb = make_bid(tx, amount, signer=signer)
    return SignedBid.sign(dataclasses.replace(sb.bid, bid_options=options), signer, sb.chain_id, sb.contract)


def laid_out(commitments: list[Commitment], gas: dict[str, int], filler: int) -> DeliveredBlock:
    """The block as the layout opens it: position asks first in commitment order, then the
    commitments asking for none, then ``filler`` 21,000-gas transactions."""
    asks = [c for c in commitments if c.signed_bid.bid.bid_options]
    rest = [c for c in commitments if not c.signed_bid.bid.bid_options]
    hashes = dict.fromkeys(c.signed_bid.bid.txn_hash for c in asks + rest)  # a copy's bundle is the same one
    txs = [{"hash": "0x" + h, "gasUsed": gas[h]} for h in hashes]
    txs += [{"hash": f"0x{0xf111 + i:064x}", "gasUsed": 21_000} for i in range(filler)]
    return DeliveredBlock.from_txs(2, PROVIDER.address, txs)


def slashed(commitments: list[Commitment], block: DeliveredBlock) -> list[str]:
    return [c.signed_bid.bid.txn_hash for c in commitments
            if delivery_failure(c.signed_bid.bid.txn_hash, "", block, c.signed_bid.bid.bid_options)]


@pytest.mark.parametrize("mode", ["periodic", "continuous"])
def test_two_bids_for_index_0_the_second_is_rejected_and_nothing_is_slashed(mode):
    engine, _, _ = make_engine(mode=mode)
    first, second = positioned("aa" * 32, 50_000, 2, 0), positioned("bb" * 32, 60_000, 2, 0, CAROL)
    out = engine.on_bid(arrive(first, 21_000, 13_000)) + engine.on_bid(arrive(second, 21_000, 13_100))
    out += engine.tick(24_000)
    commitments = [m for m in out if isinstance(m, Commitment)]
    rejects = {m.bid_digest: m.reason for m in out if not isinstance(m, Commitment)}
    block = laid_out(commitments, {"aa" * 32: 21_000, "bb" * 32: 21_000}, 20)
    assert slashed(commitments, block) == [], "a commitment the provider could not keep"
    assert len(commitments) == 1, "only one bundle can open the block"
    loser = second if commitments[0].signed_bid.key == first.key else first
    assert rejects == {loser.digest: "position-unavailable"}
    assert find_equivocations(out) == []
    assert engine.ledger.held(loser.key.encode()) == 0, "the refused bid's escrow is released"
    assert engine.ledger.escrowed(loser.bidder(), PROVIDER.address) == 0


def test_the_periodic_round_keeps_the_higher_bid_and_its_audit_replays():
    engine, params, _ = make_engine()
    low, high = positioned("aa" * 32, 30_000, 2, 0), positioned("bb" * 32, 90_000, 2, 0, CAROL)
    out = engine.on_bid(arrive(low, 21_000, 13_000)) + engine.on_bid(arrive(high, 21_000, 13_100))
    out += engine.tick(24_000)
    assert [m.signed_bid.key for m in out if isinstance(m, Commitment)] == [high.key]
    assert [m.reason for m in out if not isinstance(m, Commitment)] == ["position-unavailable"]
    assert engine.transcript[0]["refused"] == [low.key]
    signed = params.sign(PROVIDER)
    assert audit(signed, engine.transcript, {b.key: b for b in (low, high)}) == len(engine.transcript)


def test_top_percentile_asks_beyond_what_a_full_block_holds_are_rejected():
    """A full block holds at most 30M / 21,000 = 1428 transactions; top 1 % is then index
    ≤ 14: fifteen bundles fit, the sixteenth cannot, whatever the rest of the block."""
    engine, _, _ = make_engine(schedule=((8000, 10_000_000), (0, 10_000_000)), mode="continuous")
    out = []
    for i in range(16):
        out += engine.on_bid(arrive(positioned(f"{i + 1:064x}", 100_000 - i, 1, 1), 21_000, 17_000 + i))
    commitments = [m for m in out if isinstance(m, Commitment)]
    assert len(commitments) == 15
    assert [m.reason for m in out if not isinstance(m, Commitment)] == ["position-unavailable"]
    gas = {c.signed_bid.bid.txn_hash: 21_000 for c in commitments}
    assert slashed(commitments, laid_out(commitments, gas, FULL // 21_000 - 15)) == []


def test_gas_percentile_asks_whose_gas_cannot_all_fit_on_top_are_rejected():
    engine, _, _ = make_engine(schedule=((8000, 30_000_000), (0, 30_000_000)), mode="continuous",
                               reserve=ReservePolicy("fixed", 0))
    out = engine.on_bid(arrive(positioned("aa" * 32, 10**9, 3, 30), 10_000_000, 17_000))
    out += engine.on_bid(arrive(positioned("bb" * 32, 10**9, 3, 30), 10_000_000, 17_100))  # 33 % before it
    out += engine.on_bid(arrive(make_bid("cc" * 32, 10**6), 1_000_000, 17_200))  # no position: fits
    assert [m.signed_bid.bid.txn_hash for m in out if isinstance(m, Commitment)] == ["aa" * 32, "cc" * 32]
    assert [m.reason for m in out if not isinstance(m, Commitment)] == ["position-unavailable"]


def test_a_bid_that_would_push_a_committed_percentile_out_is_rejected():
    """Committed: top 1 % at index 0 needs nothing; fifteen single transactions asking top
    1 % fill indexes 0-14. A 20M-gas bid asking nothing leaves room for only ~476
    transactions, so top 1 % would end at index 4: it is refused, not the committed ones."""
    engine, _, _ = make_engine(schedule=((8000, 30_000_000), (0, 30_000_000)), mode="continuous")
    out = []
    for i in range(15):
        out += engine.on_bid(arrive(positioned(f"{i + 1:064x}", 100_000, 1, 1), 21_000, 17_000 + i))
    big = make_bid("ee" * 32, 10**12)
    out += engine.on_bid(arrive(big, 20_000_000, 17_100))
    assert sum(isinstance(m, Commitment) for m in out) == 15
    assert [(m.bid_digest, m.reason) for m in out if not isinstance(m, Commitment)] == \
        [(big.digest, "position-unavailable")]


def test_a_constraint_no_block_can_meet_is_refused_on_its_own():
    """Anchor and basis unspecified (an empty PositionConstraint): the oracle's rule meets it
    in no block, so committing it would be a certain slash."""
    engine, _, _ = make_engine(mode="continuous")
    empty = positioned("aa" * 32, 50_000, 0, 0)
    empty = SignedBid.sign(dataclasses.replace(empty.bid, bid_options=bidoptions.encode(
        [bidoptions.PositionConstraint(anchor=0, basis=0, value=0)])), ALICE, empty.chain_id, empty.contract)
    out = engine.on_bid(arrive(empty, 21_000, 17_000))
    assert [m.reason for m in out] == ["position-unavailable"]
