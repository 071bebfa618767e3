"""Uniswap-V2 integer arithmetic and the optimal arbitrage size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mevauction.worlds.amm.uniswap import (
    SwapError,
    cycle_output,
    get_amount_in,
    get_amount_out,
    optimal_cycle_input,
)
from property_settings import examples

ETH = 10**18


def test_get_amount_out_small_numbers_by_hand():
    # 1000·997·10^6 / (10^6·1000 + 1000·997) = 997,000,000,000 / 1,000,997,000 = 996.0… → 996
    assert get_amount_out(1000, 10**6, 10**6) == 996


def test_get_amount_in_rounds_up_by_hand():
    # 10^6·996·1000 / ((10^6 − 996)·997) = 996,000,000,000 / 996,006,988 = 999.99… → 999, + 1
    assert get_amount_in(996, 10**6, 10**6) == 1000
    # 10^6·997·1000 / ((10^6 − 997)·997) = 997,000,000,000 / 996,005,991 = 1000.99… → 1000, + 1
    assert get_amount_in(997, 10**6, 10**6) == 1001


def test_get_amount_out_at_mainnet_scale():
    # 1 WETH into 100 WETH / 200,000 USDC: 997e18·200,000e18 / (100e18·1000 + 997e18)
    # = 199,400,000e36 / 100,997e18 = 1,974.31…e18 USDC, floored to the wei.
    assert get_amount_out(ETH, 100 * ETH, 200_000 * ETH) == 199_400_000 * ETH // 100_997
    assert get_amount_out(ETH, 100 * ETH, 200_000 * ETH) == 1_974_316_068_794_122_597_700


@pytest.mark.parametrize("args", [(0, 10, 10), (5, 0, 10), (5, 10, 0)])
def test_get_amount_out_refuses_like_the_pair(args):
    with pytest.raises(SwapError):
        get_amount_out(*args)


def test_get_amount_in_refuses_draining_the_pool():
    with pytest.raises(SwapError, match="INSUFFICIENT_LIQUIDITY"):
        get_amount_in(10**6, 10**6, 10**6)


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(10**3, 10**30), st.integers(10**6, 10**30), st.integers(10**6, 10**30))
def test_amount_in_buys_at_least_the_amount_out(amount_out_seed, reserve_in, reserve_out):
    amount_out = 1 + amount_out_seed % (reserve_out - 1)
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out)
    assert get_amount_out(amount_in, reserve_in, reserve_out) >= amount_out
    # and one wei less would not (getAmountIn is the least input, up to its +1)
    if amount_in > 2:
        assert get_amount_out(amount_in - 2, reserve_in, reserve_out) < amount_out


@pytest.mark.parametrize("hops", [
    [(1_000_000, 2_100_000), (2_000_000, 1_000_000)],  # 2-pool cycle, ~5% apart
    [(500_000, 1_000_000), (1_000_000, 3_100_000), (3_000_000, 520_000)],  # triangle
])
def test_optimal_cycle_input_matches_brute_force(hops):
    x = optimal_cycle_input(hops)
    profit = cycle_output(x, hops) - x
    best = max(cycle_output(v, hops) - v for v in range(1, 60_000))
    assert profit > 0
    assert profit >= best - 2  # the closed form ignores per-hop rounding: within 2 units


def test_unprofitable_cycle_has_no_input():
    assert optimal_cycle_input([(10**6, 10**6), (10**6, 10**6)]) == 0
