"""Bidder strategies: chance-constrained bids, timing, increments."""

from mevauction.preconf.strategy import AcceptanceModel, best_bid_offset, chance_constrained_bid, next_increment


def test_chance_constrained_bid_is_the_p_quantile_of_thresholds():
    model = AcceptanceModel()
    for t in range(1, 101):  # thresholds 1..100 gwei-ish units
        model.observe(t)
    assert model.min_bid_per_gas(0.99) == 99
    assert model.min_bid_per_gas(0.5) == 50
    assert model.probability(99) >= 0.99 > model.probability(98)
    assert chance_constrained_bid(model, 0.99, 21000, 200) == 99 * 21000
    assert chance_constrained_bid(model, 0.99, 21000, 98) is None  # over the bidder's cap


def test_auctions_that_accept_nothing_make_the_constraint_unreachable():
    model = AcceptanceModel()
    for _ in range(5):
        model.observe(10)
    for _ in range(5):
        model.observe(None)
    assert model.min_bid_per_gas(0.5) == 10
    assert model.min_bid_per_gas(0.6) is None
    assert AcceptanceModel().min_bid_per_gas(0.5) is None


def test_timing_trades_fee_risk_against_execution_outcome_risk():
    offsets = [0, 2000, 4000, 8000]
    sure = {s: 1.0 for s in offsets}
    # Fees far more volatile than the transaction's value: lock the fee as early as possible.
    assert best_bid_offset(8000, offsets, fee_var_per_ms=5.0, exec_var_per_ms=1.0, acceptance=sure) == 8000
    # Execution outcome risk dominates: wait for the block.
    assert best_bid_offset(8000, offsets, fee_var_per_ms=1.0, exec_var_per_ms=5.0, acceptance=sure) == 0
    # An early bid that is rarely accepted early is not worth its execution risk.
    unlikely = {0: 1.0, 2000: 0.9, 4000: 0.05, 8000: 0.0}
    assert best_bid_offset(8000, offsets, 5.0, 1.0, unlikely) == 2000


def test_increments():
    assert next_increment(100, 120, 200, 10) == 120
    assert next_increment(100, 105, 200, 10) == 110
    assert next_increment(195, 100, 200, 10) is None
