"""What a trader sends: its per-level increments, every bit XOR-split between K and E.

A curve on G public grid levels is G increments ``inc[g]`` (a buy order's demand at level
g is the sum of its increments at g and above, a sell order's supply the sum at g and
below), each below 2^bits. Sent as bits, every pair of shares that passes ``check``
(a G × bits array of 0/1) reconstructs to *some* valid order: increments are never
negative and never reach 2^bits, so demand is non-increasing, supply non-decreasing and
both bounded by G·(2^bits − 1). A malformed submission is therefore either rejected by
the party that receives it (and the trader then trades nothing) or is an order the
trader could have placed — neither the conversion nor the circuit needs a range or
monotonicity check of its own.
Plain Python: imported by the auctioneer's venv and by the parties' ``.venv-fhe``.
"""

from __future__ import annotations

import secrets

MAX_BITS = 4  # bits of one increment: each adds one OT per level and trader, and widens demand − supply


def to_bits(increments: list[int], bits: int) -> list[list[int]]:
    return [[(v >> k) & 1 for k in range(bits)] for v in increments]


def split(increments: list[int], bits: int) -> tuple[list[list[int]], list[list[int]]]:
    """The key holder's and the evaluator's shares: uniform random bits, and their XOR with the value."""
    if any(not 0 <= v < 1 << bits for v in increments):
        raise ValueError(f"increments must lie in [0, 2^{bits})")
    mask = [[secrets.randbits(1) for _ in range(bits)] for _ in increments]
    value = to_bits(increments, bits)
    return mask, [[m ^ v for m, v in zip(mrow, vrow, strict=True)] for mrow, vrow in zip(mask, value, strict=True)]


def combine(a: list[list[int]], b: list[list[int]]) -> list[int]:
    """The increments a pair of shares stands for (tests and the plaintext check only)."""
    return [sum((x ^ y) << k for k, (x, y) in enumerate(zip(ra, rb, strict=True))) for ra, rb in zip(a, b, strict=True)]


def pack(share: list[list[int]]) -> list[int]:
    """A share as sent to a party's intake: one integer below 2^bits per level (its bits, low
    first; ``to_bits`` reverses it)."""
    return [sum(b << k for k, b in enumerate(row)) for row in share]


def check(share: object, levels: int, bits: int) -> str | None:
    """Why ``share`` is not a levels × bits array of 0/1, or None when it is."""
    if not isinstance(share, list) or len(share) != levels:
        return f"expected {levels} levels"
    for row in share:
        if not isinstance(row, list) or len(row) != bits or any(type(x) is not int or x not in (0, 1) for x in row):
            return f"every level must be {bits} bits of 0/1"
    return None
