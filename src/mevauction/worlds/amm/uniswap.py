"""Uniswap-V2 pair arithmetic, in integers, exactly as the pair and router contracts do it.

``UniswapV2Library.getAmountOut`` / ``getAmountIn`` with the 0.3% fee (997/1000):

- out = (in·997·reserveOut) // (reserveIn·1000 + in·997)
- in  = (reserveIn·amountOut·1000) // ((reserveOut − amountOut)·997) + 1

Both round in the pair's favour, so the constant product never decreases. Reserves
are ``uint112`` in the pair contract; :data:`MAX_RESERVE` is the bound.

The optimal arbitrage size along a cycle of pools (Boost+ paper Example 1: the bundle
"computes a trade size from the reserves") uses the fact that a chain of V2 swaps,
before rounding, is again of the form f(x) = A·x / (B + C·x). Its profit f(x) − x is
concave with maximum at x* = (√(A·B) − B) / C, positive iff A > B (the marginal
price along the cycle beats 1). We take the integer square root and then execute
the hops with the exact rounding above, so the searcher's realised profit is exact.
"""

from __future__ import annotations

from math import isqrt

FEE_NUMERATOR = 997
FEE_DENOMINATOR = 1000
MAX_RESERVE = 2**112 - 1


class SwapError(ValueError):
    """A swap the pair contract would refuse (``INSUFFICIENT_*`` requires)."""


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """``getAmountOut``: output for an exact input, rounded down."""
    if amount_in <= 0:
        raise SwapError("INSUFFICIENT_INPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise SwapError("INSUFFICIENT_LIQUIDITY")
    amount_in_with_fee = amount_in * FEE_NUMERATOR
    return amount_in_with_fee * reserve_out // (reserve_in * FEE_DENOMINATOR + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """``getAmountIn``: input needed for an exact output, rounded up (the ``+ 1``)."""
    if amount_out <= 0:
        raise SwapError("INSUFFICIENT_OUTPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= amount_out:
        raise SwapError("INSUFFICIENT_LIQUIDITY")
    return reserve_in * amount_out * FEE_DENOMINATOR // ((reserve_out - amount_out) * FEE_NUMERATOR) + 1


def chain_coefficients(hops: list[tuple[int, int]]) -> tuple[int, int, int]:
    """(A, B, C) with f(x) = A·x / (B + C·x) for swapping through ``hops`` in turn.

    Each hop is (reserve_in, reserve_out). One hop is A = 997·R_out, B = 1000·R_in,
    C = 997; composing g∘f gives A' = A_g·A, B' = B_g·B, C' = B_g·C + C_g·A.
    """
    a, b, c = 1, 1, 0  # the identity x / 1
    for reserve_in, reserve_out in hops:
        ga, gb = FEE_NUMERATOR * reserve_out, FEE_DENOMINATOR * reserve_in
        a, b, c = ga * a, gb * b, gb * c + FEE_NUMERATOR * a
    return a, b, c


def optimal_cycle_input(hops: list[tuple[int, int]]) -> int:
    """Profit-maximising input along a cycle (0 when no input is profitable)."""
    a, b, c = chain_coefficients(hops)
    if a <= b:
        return 0
    return max(0, (isqrt(a * b) - b) // c)


def cycle_output(amount_in: int, hops: list[tuple[int, int]]) -> int:
    """What the cycle returns for ``amount_in``, hop by hop with exact rounding."""
    amount = amount_in
    for reserve_in, reserve_out in hops:
        amount = get_amount_out(amount, reserve_in, reserve_out)
    return amount
