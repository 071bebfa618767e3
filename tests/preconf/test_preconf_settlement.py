"""Settlement and slashing on explicit mined blocks (no chain needed): mev-commit's oracle
rule exactly (hashes matched as spelled, bundle atomic and in order, reverts, bidOptions
position constraints), BidderRegistry / ProviderRegistry amounts, the dispatch window, and
a ledger that balances per block."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from preconf_fixtures import ALICE, CAROL, PROVIDER, make_bid

from mevauction.errors import InputError
from mevauction.preconf import bidoptions
from mevauction.preconf.bidoptions import PositionConstraint, Shutterised
from mevauction.preconf.decay import PRECISION
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.settlement import (
    DeliveredBlock,
    Recorded,
    reward,
    settle_commitments,
    settle_one,
    slash,
)
from property_settings import examples

TX_A, TX_B, TX_C = "aa" * 32, "bb" * 32, "cc" * 32
ETH = 10**18
WINDOW = 2000


def commitment(txs, amount=ETH, slash_amt=ETH // 2, start=1000, end=2000, dispatch=1500, reverting="",
               options=(), signer=ALICE):
    signed = make_bid(",".join(txs), amount, block=7, start=start, end=end, slash=slash_amt, reverting=reverting,
                      signer=signer)
    if options:
        b = signed.bid
        signed = SignedBid.sign(Bid(b.txn_hash, b.bid_amt, b.block_number, b.decay_start, b.decay_end,
                                    b.reverting_tx_hashes, b.slash_amt, b.bidder_pk_x, b.bidder_pk_y,
                                    bidoptions.encode(options)), signer, signed.chain_id, signed.contract)
    return Commitment.make(signed, (1, 2), PROVIDER, dispatch)


def recorded(c, at=None, escrowed=None):
    return Recorded(c, c.dispatch_timestamp + 5 if at is None else at,
                    c.signed_bid.bid.bid_amt if escrowed is None else escrowed)


def block(txs, winner=PROVIDER.address, failed=(), gas=None):
    return DeliveredBlock.from_json({"blockNumber": 7, "winner": winner, "transactions": [
        {"hash": "0x" + h, "succeeded": h not in failed, "gasUsed": (gas or {}).get(h, 21000)} for h in txs]})


def settle(c, blk, stake=10 * ETH, **kw):
    return settle_one(recorded(c, **kw), blk, stake, WINDOW)


def test_reward_decays_then_takes_two_percent_fee():
    result = settle(commitment([TX_A]), block(["11" * 32, TX_A]))
    assert result.kind == "reward" and result.residual == 50 * PRECISION
    assert result.protocol_fee == ETH // 2 * 2 // 100
    assert result.provider_payout == ETH // 2 - result.protocol_fee
    assert result.provider_payout + result.protocol_fee + result.bidder_refund == ETH


def test_hashes_match_exactly_as_the_oracle_does():
    """The oracle keys the block by lower-case hex without 0x and looks the bid's strings
    up as written: an upper-case or 0x-prefixed hash is 'missing' and slashed."""
    assert settle(commitment([TX_A]), block([TX_A])).kind == "reward"
    for spelled in ("0x" + TX_A, TX_A.upper(), " " + TX_A):
        assert settle(commitment([spelled]), block([TX_A])).kind == "slash"
    # revertingTxHashes likewise: a 0x spelling does not excuse the revert.
    assert settle(commitment([TX_A], reverting="0x" + TX_A), block([TX_A], failed={TX_A})).kind == "slash"
    assert settle(commitment([TX_A], reverting=TX_A), block([TX_A], failed={TX_A})).kind == "reward"


def test_bundle_must_be_consecutive_and_in_order():
    c = commitment([TX_A, TX_B])
    assert settle(c, block([TX_A, TX_B, TX_C])).kind == "reward"
    assert "out of order" in settle(c, block([TX_B, TX_A])).reason
    assert settle(c, block([TX_A, TX_C, TX_B])).kind == "slash"


def test_missing_transaction_slashes_with_five_percent_penalty():
    result = settle(commitment([TX_A, TX_B]), block([TX_A]))
    assert result.kind == "slash" and "not in block" in result.reason
    assert result.slash_to_bidder == ETH // 2 and result.slash_penalty == ETH // 2 * 5 // 100
    assert result.bidder_refund == ETH and result.stake_taken == result.slash_to_bidder + result.slash_penalty


def test_position_constraints_are_honoured():
    top2 = PositionConstraint(anchor=1, basis=2, value=1)  # absolute: position <= 1
    c = commitment([TX_A], options=(top2,))
    assert settle(c, block([TX_A, TX_B, TX_C])).kind == "reward"
    assert settle(c, block([TX_B, TX_C, TX_A])).kind == "slash"
    bottom = PositionConstraint(anchor=2, basis=1, value=10)  # bottom 10 % of 10 txs: position >= 9
    many = [f"{i:064x}" for i in range(9)]
    assert settle(commitment([TX_A], options=(bottom,)), block([*many, TX_A])).kind == "reward"
    assert settle(commitment([TX_A], options=(bottom,)), block([TX_A, *many])).kind == "slash"
    gas_top = PositionConstraint(anchor=1, basis=3, value=50)  # gas used before it <= 50 %
    gas = {TX_B: 30_000, TX_A: 21_000, TX_C: 100_000}
    assert settle(commitment([TX_A], options=(gas_top,)), block([TX_B, TX_A, TX_C], gas=gas)).kind == "reward"
    assert settle(commitment([TX_A], options=(gas_top,)), block([TX_C, TX_A, TX_B], gas=gas)).kind == "slash"
    # Two constraints, one bundle transaction: only one is removed, the other slashes.
    assert settle(commitment([TX_A], options=(top2, top2)), block([TX_A])).kind == "slash"
    # A broken bundle with a shutterised option is neither slashed nor paid (the oracle returns).
    shut = Shutterised("ab" * 32, 1, "cd")
    assert settle(commitment([TX_A], options=(shut,)), block([TX_B])).kind == "void"


def test_bid_options_codec_round_trips():
    opts = (PositionConstraint(1, 2, 3), PositionConstraint(2, 3, -1), Shutterised("ab" * 32, 7, "ff"))
    raw = bidoptions.encode(opts)
    assert bidoptions.decode(raw) == opts
    assert bidoptions.from_json(bidoptions.to_json(opts)) == opts
    # Bytes as Go's proto.Marshal writes {options: [{positionConstraint: {anchor: 1, basis: 2, value: 3}}]}.
    assert bidoptions.encode(opts[:1]) == bytes.fromhex("0a080a0608011002" "1803")
    for bad in (b"\x0a", b"\x0a\x05\x0a\x03\x08", b"\x0d\x00\x00\x00\x00", b"\x0a\x02\x1a\x00"):
        with pytest.raises(InputError):
            bidoptions.decode(bad)


def test_dispatch_timestamp_is_checked_against_when_it_was_recorded():
    """A commitment file's dispatchTimestamp is the provider's claim: dated back to before
    the decay started, it would keep 100 %. Outside the window it was never storable: void."""
    c = commitment([TX_A], dispatch=500)  # claims before the decay start
    assert settle(c, block([TX_A]), at=1600).kind == "reward"  # recorded within 2 s: allowed
    late = settle(c, block([TX_A]), at=500 + WINDOW)
    assert late.kind == "void" and "window" in late.reason and late.bidder_refund == ETH
    assert settle(c, block([TX_A]), at=499).kind == "void"  # dispatched after it was recorded


def test_slash_capped_by_short_stake():
    assert slash(10, 100, provider_stake=102, reason="x", residual_share=0).slash_penalty == 2
    short = slash(10, 100, provider_stake=40, reason="x", residual_share=0)
    assert (short.slash_to_bidder, short.slash_penalty, short.stake_taken) == (40, 0, 40)


def test_commitment_of_non_winner_is_void():
    result = settle(commitment([TX_A]), block([TX_A], winner=ALICE.address))
    assert result.kind == "void" and result.bidder_refund == ETH


def test_reward_rounding_never_creates_wei():
    for amount in (1, 3, 7, 999, 10**18 + 1):
        for share in (0, 1, 33 * PRECISION + 7, 10**18):
            r = reward(amount, share)
            assert r.provider_payout + r.protocol_fee + r.bidder_refund == amount


def test_block_input_errors():
    with pytest.raises(InputError, match="blockNumber"):
        settle(commitment([TX_A]), DeliveredBlock.from_json({"blockNumber": 8, "winner": PROVIDER.address,
                                                             "transactions": ["0x" + TX_A]}))
    with pytest.raises(InputError, match="twice"):
        DeliveredBlock.from_json({"blockNumber": 7, "winner": PROVIDER.address,
                                  "transactions": ["0x" + TX_A, "0x" + TX_A.upper()]})
    with pytest.raises(InputError, match=r"transactions\[0\]\.hash"):
        DeliveredBlock.from_json({"blockNumber": 7, "winner": PROVIDER.address, "transactions": ["0x²" + TX_A]})


def test_a_block_of_commitments_settles_into_a_balanced_ledger():
    kept = commitment([TX_A], dispatch=1250)
    broken = commitment([TX_B], signer=CAROL)
    result = settle_commitments(["0x" + TX_C, "0x" + TX_A], [recorded(kept), recorded(broken)], 7, PROVIDER.address,
                                provider_stake=ETH, window_ms=WINDOW)
    assert [o.settlement.kind for o in result.outcomes] == ["reward", "slash"]
    assert result.balanced()
    by_kind = {(e.kind, e.to): e.amount for e in result.entries}
    assert by_kind[("reward", PROVIDER.address)] == 750 * 10**15 - 15 * 10**15
    assert by_kind[("slash", CAROL.address)] == ETH // 2 and by_kind[("penalty", "protocol")] == ETH // 40
    assert result.to_json()["commitments"][1]["outcome"] == "slash"


@settings(max_examples=examples(50), deadline=None)
@given(amounts=st.lists(st.tuples(st.integers(1, 10**20), st.integers(0, 10**20), st.integers(900, 2100),
                                  st.booleans()), min_size=1, max_size=4),
       stake=st.integers(0, 10**20))
def test_ledger_balances_for_any_block(amounts, stake):
    recs, txs = [], []
    for i, (amount, slash_amt, dispatch, included) in enumerate(amounts):
        tx = f"{i + 1:064x}"
        if included:
            txs.append("0x" + tx)
        signed = SignedBid.sign(Bid(tx, amount, 7, 1000, 2000, slash_amt=slash_amt, bidder_pk_x=1, bidder_pk_y=2),
                                ALICE, 31337, "0xA4AD4f68d0b91CFD19687c881e50f3A00242828c")
        recs.append(Recorded(Commitment.make(signed, (1, 2), PROVIDER, dispatch), dispatch + 1, amount))
    result = settle_commitments(txs, recs, 7, PROVIDER.address, stake, WINDOW)
    assert result.balanced() and result.stake_in <= stake
    assert result.escrow_in == sum(a for a, *_ in amounts)


def test_bid_options_bytes_equal_protobufs_own_marshalling():
    """The hand codec (what the bid digest hashes) against the protobuf runtime."""
    from mevauction.client.providerapi import BidOptions
    m = BidOptions()
    pc = m.options.add().position_constraint
    pc.anchor, pc.basis, pc.value = 2, 3, -7
    so = m.options.add().shutterised_bid_option
    so.identity_prefix, so.eon_id, so.encrypted_tx = "ab" * 32, 9, "ff00"
    ours = (PositionConstraint(2, 3, -7), Shutterised("ab" * 32, 9, "ff00"))
    assert bidoptions.encode(ours) == m.SerializeToString()
    assert bidoptions.decode(m.SerializeToString()) == ours


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.tuples(st.integers(1, 300_000), st.integers(1, 3)), min_size=1, max_size=9), st.data())
def test_the_auctions_position_check_agrees_with_the_oracle(orders, data):
    """The auction plans and reports positions by the rule settlement judges them by: for a
    block of orders of one to three transactions delivered as the service delivers without
    a chain (an order's gas on its first transaction), ``position_problem`` finds a problem
    exactly when the oracle's check leaves a constraint unmet — with one to three
    constraints on the bid (each met by a different transaction), on every anchor, basis
    and value. (Before, only the first constraint was judged, on the first transaction.)"""
    from mevauction.intake.scenario import parse_scenario
    from mevauction.mechanism.commitments import BASES, CommittedBundle, Position, position_problem
    from mevauction.preconf.settlement import delivery_failure

    hashes = [[f"{10 * i + j + 1:064x}" for j in range(k)] for i, (_, k) in enumerate(orders)]
    world = parse_scenario({"format": "mevauction.scenario/1", "world": {"kind": "table"}, "orders": [
        {"id": f"o{i}", "reads": [], "writes": [], "txs": ["0x" + h for h in hs], "gas": g, "bid": {"default": 0}}
        for i, (hs, (g, _)) in enumerate(zip(hashes, orders, strict=True))]}).world
    order = data.draw(st.permutations(range(len(orders))))
    committed = data.draw(st.sampled_from(order))
    asks = data.draw(st.lists(st.tuples(st.sampled_from(["top", "bottom"]), st.sampled_from(sorted(BASES)),
                                        st.integers(0, 150)), min_size=1, max_size=3))
    (anchor, basis, value), *more = asks
    bundle = CommittedBundle(f"o{committed}", anchor, value, basis=basis,
                             more=tuple(Position(a, v, b) for a, b, v in more))
    problem = position_problem(world, [f"o{i}" for i in order], bundle)
    delivered = DeliveredBlock.from_txs(7, PROVIDER.address, [
        {"hash": "0x" + h, "gasUsed": orders[i][0] if j == 0 else 0} for i in order for j, h in enumerate(hashes[i])])
    options = bidoptions.encode([PositionConstraint(1 if a == "top" else 2, BASES[b], v) for a, b, v in asks])
    assert (problem is None) == (delivery_failure(",".join(hashes[committed]), "", delivered, options) is None)
