"""mev-commit's residual formula; cases from oracle/pkg/updater/updater_test.go
(TestComputeResidualAfterDecay, primev/mev-commit @ 79f1e932)."""

import pytest

from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, PRECISION, decayed_amount, residual

CASES = [  # (name, start, end, dispatch, expected)
    ("commit before start", 1000, 2000, 500, ONE_HUNDRED_PERCENT),
    ("commit at start", 1000, 2000, 1000, ONE_HUNDRED_PERCENT),
    ("commit after end", 1000, 2000, 2500, 0),
    ("commit at end", 1000, 2000, 2000, 0),
    ("start equals end", 1000, 1000, 1000, 0),
    ("start after end", 2000, 1000, 1500, 0),
    ("midpoint", 1000, 2000, 1500, 50 * PRECISION),
    ("25% passed", 1000, 2000, 1250, 75 * PRECISION),
    ("75% passed", 1000, 2000, 1750, 25 * PRECISION),
    ("very close to start", 100000, 200000, 100001, 999990000000000000),
    ("very close to end", 100000, 200000, 199000, 1 * PRECISION),
    ("zero start", 0, 1000, 500, 50 * PRECISION),
    ("zero start and commit", 0, 1000, 0, ONE_HUNDRED_PERCENT),
    ("large ms timestamps", 1700000000000, 1700000012000, 1700000003000, 75 * PRECISION),
    ("minimal duration", 1000, 1001, 1000, ONE_HUNDRED_PERCENT),
    ("minimal duration, one passed", 1000, 1002, 1001, 50 * PRECISION),
]


@pytest.mark.parametrize("name,start,end,dispatch,expected", CASES, ids=[c[0] for c in CASES])
def test_residual_matches_mev_commit(name, start, end, dispatch, expected):
    assert residual(start, end, dispatch) == expected


def test_residual_floors_and_is_monotone():
    assert residual(0, 3, 1) == 2 * ONE_HUNDRED_PERCENT // 3  # 666…666, floored
    values = [residual(0, 997, t) for t in range(0, 1000)]
    assert values == sorted(values, reverse=True)


def test_decayed_amount_rounds_down():
    assert decayed_amount(10**18, 0, 4, 1) == 75 * 10**16
    assert decayed_amount(3, 0, 3, 1) == 1  # 3 · 0.666… = 1.99… → 1
    assert decayed_amount(7, 10, 20, 5) == 7
