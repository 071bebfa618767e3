"""Settlement and slashing on hand-made blocks (rules re-derived from mev-commit's oracle,
BidderRegistry.convertFundsToProviderReward and ProviderRegistry.slash)."""

import pytest
from preconf_fixtures import ALICE, PROVIDER, make_bid

from mevauction.errors import InputError
from mevauction.preconf.decay import PRECISION
from mevauction.preconf.messages import Commitment
from mevauction.preconf.settlement import DeliveredBlock, reward, settle, slash

TX_A, TX_B, TX_C = "aa" * 32, "bb" * 32, "cc" * 32
ETH = 10**18


def commitment(txs, amount=ETH, slash_amt=ETH // 2, start=1000, end=2000, dispatch=1500, reverting=""):
    signed = make_bid(",".join(txs), amount, block=7, start=start, end=end, slash=slash_amt, reverting=reverting)
    return Commitment.make(signed, (1, 2), PROVIDER, dispatch)


def block(txs, winner=PROVIDER.address, failed=()):
    return DeliveredBlock.from_json({"blockNumber": 7, "winner": winner,
                                     "transactions": [{"hash": "0x" + h, "succeeded": h not in failed, "gasUsed": 21000}
                                                      for h in txs]})


def test_reward_decays_then_takes_two_percent_fee():
    result = settle(commitment([TX_A]), block(["11" * 32, TX_A]), provider_stake=10 * ETH)
    assert result.kind == "reward" and result.residual == 50 * PRECISION
    assert result.protocol_fee == ETH // 2 * 2 // 100
    assert result.provider_payout == ETH // 2 - result.protocol_fee
    assert result.bidder_refund == ETH // 2
    assert result.provider_payout + result.protocol_fee + result.bidder_refund == ETH


def test_bundle_must_be_consecutive_and_in_order():
    c = commitment([TX_A, TX_B])
    assert settle(c, block([TX_A, TX_B, TX_C]), 10 * ETH).kind == "reward"
    out_of_order = settle(c, block([TX_B, TX_A]), 10 * ETH)
    assert out_of_order.kind == "slash" and "out of order" in out_of_order.reason
    gap = settle(c, block([TX_A, TX_C, TX_B]), 10 * ETH)
    assert gap.kind == "slash"


def test_missing_transaction_slashes_with_five_percent_penalty():
    result = settle(commitment([TX_A, TX_B]), block([TX_A]), provider_stake=10 * ETH)
    assert result.kind == "slash" and "missing" in result.reason
    assert result.slash_to_bidder == ETH // 2
    assert result.slash_penalty == ETH // 2 * 5 // 100
    assert result.bidder_refund == ETH  # escrowed bid unlocked in full
    assert result.stake_taken == result.slash_to_bidder + result.slash_penalty


def test_reverted_transaction_slashes_unless_allowed():
    assert settle(commitment([TX_A]), block([TX_A], failed={TX_A}), 10 * ETH).kind == "slash"
    allowed = commitment([TX_A], reverting="0x" + TX_A.upper())
    assert settle(allowed, block([TX_A], failed={TX_A}), 10 * ETH).kind == "reward"


def test_slash_capped_by_short_stake():
    assert slash(10, 100, provider_stake=102, reason="x", residual_share=0).slash_penalty == 2
    short = slash(10, 100, provider_stake=40, reason="x", residual_share=0)
    assert (short.slash_to_bidder, short.slash_penalty, short.stake_taken) == (40, 0, 40)


def test_commitment_of_non_winner_is_void():
    result = settle(commitment([TX_A]), block([TX_A], winner=ALICE.address), 10 * ETH)
    assert result.kind == "void" and result.bidder_refund == ETH


def test_dispatch_after_decay_end_pays_nothing_and_refunds_all():
    result = settle(commitment([TX_A], dispatch=2500), block([TX_A]), 10 * ETH)
    assert (result.provider_payout, result.protocol_fee, result.bidder_refund) == (0, 0, ETH)


def test_reward_rounding_never_creates_wei():
    for amount in (1, 3, 7, 999, 10**18 + 1):
        for share in (0, 1, 33 * PRECISION + 7, 10**18):
            r = reward(amount, share)
            assert r.provider_payout + r.protocol_fee + r.bidder_refund == amount


def test_wrong_block_number_is_an_input_error():
    bad = DeliveredBlock.from_json({"blockNumber": 8, "winner": PROVIDER.address, "transactions": [TX_A]})
    with pytest.raises(InputError, match="blockNumber"):
        settle(commitment([TX_A]), bad, ETH)


def test_duplicate_transaction_in_block_is_refused():
    with pytest.raises(InputError, match="twice"):
        DeliveredBlock.from_json({"blockNumber": 7, "winner": PROVIDER.address, "transactions": [TX_A, "0x" + TX_A]})
