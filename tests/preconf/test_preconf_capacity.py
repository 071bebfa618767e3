"""Position capacity (issue 14): the provider never commits position asks it cannot keep
together, and refuses only what no order of the block's commitments keeps. Each test
settles what the engine committed by the oracle's rule (``settlement.delivery_failure``)
on the block the auction's layout builds — committed bundles asking for a position
first, in the order ``capacity.layout_order`` gives them, then the rest of the block —
so a commitment the engine should have refused shows as a slash."""

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from preconf_fixtures import ALICE, CAROL, PROVIDER, arrive, make_bid, make_engine

from mevauction.preconf import bidoptions
from mevauction.preconf.capacity import arrange, ask_of, layout_order
from mevauction.preconf.evidence import find_equivocations
from mevauction.preconf.messages import Commitment, SignedBid
from mevauction.preconf.params import audit
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.settlement import DeliveredBlock, delivery_failure
from property_settings import examples

FULL = 30_000_000


def positioned(tx: str, amount: int, basis: int, value: int, signer=ALICE) -> SignedBid:
    options = bidoptions.encode([bidoptions.PositionConstraint(anchor=1, basis=basis, value=value)])
    sb = make_bid(tx, amount, signer=signer)
    return SignedBid.sign(dataclasses.replace(sb.bid, bid_options=options), signer, sb.chain_id, sb.contract)


def laid_out(commitments: list[Commitment], gas: dict[str, int], filler: int) -> DeliveredBlock:
    """The block as the layout opens it: position asks first in the layout's order, then the
    commitments asking for none, then ``filler`` 21,000-gas transactions (``gas``: each
    bundle's gas, the engine's estimate and the block's alike)."""
    bids = [c.signed_bid.bid for c in commitments]
    order = layout_order([(ask_of(b.bid_options, b.txn_hash, gas[b.txn_hash]), b.txn_hash.count(",") + 1,
                           gas[b.txn_hash]) for b in bids], FULL)
    commitments = [commitments[k] for k in order]
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


@pytest.mark.parametrize("mode", ["periodic", "continuous"])
def test_a_tighter_ask_after_a_looser_one_is_kept_by_reordering_them(mode):
    """A (absolute ≤ 5) committed, then B (absolute 0): in commitment order B sits at index 1
    and was refused (greedy in acceptance order); B, A keeps both, so both are committed and
    the block laid out with them slashes neither."""
    engine, _, _ = make_engine(mode=mode)
    loose, tight = positioned("aa" * 32, 50_000, 2, 5), positioned("bb" * 32, 60_000, 2, 0, CAROL)
    out = engine.on_bid(arrive(loose, 21_000, 13_000)) + engine.tick(18_000)
    out += engine.on_bid(arrive(tight, 21_000, 18_100)) + engine.tick(24_000)
    commitments = [m for m in out if isinstance(m, Commitment)]
    assert [m.reason for m in out if not isinstance(m, Commitment)] == []
    assert [c.signed_bid.key for c in commitments] == [loose.key, tight.key]
    block = laid_out(commitments, {"aa" * 32: 21_000, "bb" * 32: 21_000}, 20)
    assert (block.transactions["bb" * 32].position, block.transactions["aa" * 32].position) == (0, 1)
    assert slashed(commitments, block) == []


# One segment's asks (all top or all bottom): transactions 1-3, gas in 21,000s, 1-3 options
# of every basis with values where they bind in blocks of 20-300 transactions.
OPTIONS = st.one_of(st.tuples(st.just(2), st.integers(0, 6)), st.tuples(st.just(1), st.integers(0, 15)),
                    st.tuples(st.just(3), st.integers(0, 60)))
ASKS = st.lists(st.tuples(st.integers(1, 3), st.sampled_from([1, 10, 60]), st.lists(OPTIONS, min_size=1, max_size=3)),
                min_size=1, max_size=4)


@settings(max_examples=examples(80), deadline=None)
@given(asks=ASKS, anchor=st.sampled_from([1, 2]), limit=st.sampled_from([20, 80, 300]))
def test_arrange_refuses_exactly_when_no_order_of_the_bundles_keeps_them_all(asks, anchor, limit):
    """Brute force over every order of the bundles in a full block (the room filled with
    21,000-gas transactions), each judged by the oracle's own check: ``arrange`` finds an
    order iff one exists, and the order it finds is kept."""
    bids = []
    for k, (txs, units, options) in enumerate(asks):
        raw = bidoptions.encode([bidoptions.PositionConstraint(anchor, b, v) for b, v in options])
        bids.append((",".join(f"{16 * k + j + 1:064x}" for j in range(txs)), units * 21_000, raw))
    gas_limit = limit * 21_000
    committed_gas = sum(g for _, g, _ in bids)
    if committed_gas > gas_limit:
        return
    filler = [{"hash": f"0x{0xf000 + i:064x}", "gasUsed": 21_000} for i in range((gas_limit - committed_gas) // 21_000)]

    def kept(order) -> bool:
        bundles = [{"hash": "0x" + h, "gasUsed": gas if j == 0 else 0}
                   for k in order for j, h in enumerate(bids[k][0].split(",")) for gas in [bids[k][1]]]
        block = DeliveredBlock.from_txs(2, PROVIDER.address, bundles + filler if anchor == 1 else filler + bundles)
        return all(delivery_failure(h, "", block, raw) is None for h, _, raw in bids)

    found = arrange([(ask_of(raw, h, gas), 0) for h, gas, raw in bids], sum(h.count(",") + 1 for h, _, _ in bids),
                    committed_gas, gas_limit)
    assert (found is not None) == any(kept(p) for p in itertools.permutations(range(len(bids))))
    if found is not None:
        assert kept(found)


def test_the_layout_prefers_an_order_that_the_thinnest_block_keeps():
    """B (index ≤ 5) committed before C (top 10 %): in a full block either order keeps both,
    but if the block holds only these two, C must be first (1 > 2·10 // 100)."""
    b = ask_of(bidoptions.encode([bidoptions.PositionConstraint(1, 2, 5)]), "bb" * 32, 21_000)
    c = ask_of(bidoptions.encode([bidoptions.PositionConstraint(1, 1, 10)]), "cc" * 32, 21_000)
    assert arrange([(b, 0), (c, 0)], 2, 42_000, FULL) == [0, 1]  # the full block: commitment order
    assert layout_order([(b, 1, 21_000), (c, 1, 21_000)], FULL) == [1, 0]
