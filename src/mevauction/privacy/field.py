"""The committee's field and Shamir sharing as a bidder computes it.

Bids are shared in GF(p) with p the largest Blum prime below 2^98 — the field MPyC
itself picks for 66-bit secure integers at security parameter 30 (l + k + 2 bits).
That leaves room to mask a 65-bit difference with 64 + 30 random bits without wrapping
(see ``protocol.carry``). Party i (0-based) holds the value of the sharing polynomial
at x = i + 1, MPyC's convention, so shares made here are MPyC shares.
"""

from __future__ import annotations

import hashlib
import secrets

import gmpy2

BID_BITS = 64
SEC_PARAM = 30


def _largest_blum_prime_below(power: int) -> int:
    p = int(gmpy2.prev_prime(1 << power))
    while p % 4 != 3:
        p = int(gmpy2.prev_prime(p))
    return p


MODULUS = _largest_blum_prime_below(BID_BITS + 2 + SEC_PARAM + 2)


def threshold_for(parties: int) -> int:
    """Honest-majority threshold t = ⌊(m−1)/2⌋; t = 0 (m < 3) means no secrecy at all."""
    return (parties - 1) // 2


def share(value: int, parties: int, threshold: int | None = None) -> list[int]:
    """Shamir shares of ``value``: a random polynomial of degree t evaluated at 1..m."""
    t = threshold_for(parties) if threshold is None else threshold
    coefficients = [value % MODULUS] + [secrets.randbelow(MODULUS) for _ in range(t)]
    return [_evaluate(coefficients, x) for x in range(1, parties + 1)]


def _evaluate(coefficients: list[int], x: int) -> int:
    y = 0
    for c in reversed(coefficients):
        y = (y * x + c) % MODULUS
    return y


def interpolate(points: list[tuple[int, int]], at: int = 0) -> int:
    """Lagrange interpolation through ``points`` [(x, y)] evaluated at ``at``."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (at - xj) % MODULUS
                den = den * (xi - xj) % MODULUS
        total = (total + yi * num * pow(den, -1, MODULUS)) % MODULUS
    return total


def consistent(shares: list[int], threshold: int) -> bool:
    """True when all m shares lie on one polynomial of degree ≤ t."""
    points = list(enumerate(shares, start=1))
    base = points[: threshold + 1]
    return all(interpolate(base, x) == y for x, y in points[threshold + 1:])


def bits_of(value: int, width: int = BID_BITS) -> list[int]:
    """Little-endian bits of 0 ≤ value < 2^width: what a bidder shares, bit by bit."""
    if not 0 <= value < 1 << width:
        raise ValueError(f"value must be in [0, 2^{width})")
    return [(value >> j) & 1 for j in range(width)]


def challenges(digest: bytes, label: bytes, n: int) -> list[int]:
    """n public field elements derived from a bid's header digest (Fiat–Shamir).

    The header commits to the share hashes, so a bidder fixes its shares before it
    can know these coefficients; cheating would need a 1-in-p hash collision.
    """
    stream = hashlib.shake_256(b"mevauction.sealed.challenge/1" + label + digest).digest(16 * n)
    return [int.from_bytes(stream[16 * i:16 * i + 16], "little") % MODULUS for i in range(n)]
