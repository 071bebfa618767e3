"""The committee's fields and Shamir sharing as a bidder computes it.

An auction has a bid *width* l: bids are integers in [0, 2^l). Its field is GF(p) with
p the largest Blum prime below 2^(l + 2 + k + 2), k = 30 the statistical security
parameter — the field MPyC itself picks for (l + 2)-bit secure integers at security
parameter k. The comparison (``protocol.Engine.high_bit``) opens x + r + 2^l·s for a
difference x < 2^(l+1), an l-bit mask r and a k-bit mask s; the sum is below
2^(l+k+1) + 2^(l+1) < p, so it never wraps and hides x up to statistical distance
2^-(k-1) *whatever l is*: widening l widens the field by the same number of bits and
keeps the comparison exact with the same statistical security.

- l = 64 (default, ``sealed run``, spec/sealed.md): p < 2^98;
- l = 128 (the Boost+ builder auction, ``builder_auction``): p < 2^162.

Party i (0-based) holds the value of the sharing polynomial at x = i + 1, MPyC's
convention, so shares made here are MPyC shares.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets

import gmpy2

DEFAULT_BITS = 64
BID_BITS = DEFAULT_BITS  # the width of ``sealed run`` bids (spec/sealed.md)
QUANTITY_BITS = 48  # double-auction quantities: sums of up to 2^16 curves stay below 2^64 (any width)
MAX_CURVE_POINTS = 1 << 16  # bids × grid prices of one double auction: its aggregates then stay below 2^64
WIDTHS = (64, 96, 128)   # supported bid widths (multiples of the 4-bit comparison digit)
SEC_PARAM = 30


def _largest_blum_prime_below(power: int) -> int:
    p = int(gmpy2.prev_prime(1 << power))
    while p % 4 != 3:
        p = int(gmpy2.prev_prime(p))
    return p


@functools.cache
def modulus_for(bits: int) -> int:
    """The field of auctions whose bids are below 2^bits (see the module docstring)."""
    if bits not in WIDTHS:
        raise ValueError(f"unsupported bid width {bits}; supported: {', '.join(map(str, WIDTHS))}")
    return _largest_blum_prime_below(bits + 2 + SEC_PARAM + 2)


MODULUS = modulus_for(DEFAULT_BITS)


# A comparison's high mask s is drawn by pseudorandom secret sharing: the sum of C(m, t)
# independent PRF outputs, each uniform below MASK_TERM_BOUND = 2^k. A sum of independent
# uniforms moves under a shift of 1 by at most 1/2^k in statistical distance (as one term
# does), and x + r carries at most 2 into s (x + r < 3·2^l), so an opened
# c = x + r + 2^l·s hides x up to 2·2^-k = 2^-(k-1) = 2^-29. (Bounding the *sum* by 2^k
# instead, as MPyC does, leaves each term k − log2 C(m, t) bits: 2^-27 for m = 3.) The
# price is a larger s, up to C(m, t)·2^k; ``comparison_fits`` checks c still cannot wrap.
MASK_TERM_BOUND = 1 << SEC_PARAM
HIDING_LOG2 = 1 - SEC_PARAM  # log2 of one opened comparison's statistical distance


def comparison_fits(bits: int, parties: int, threshold: int, p: int) -> bool:
    """True when the largest opened c = x + r + 2^l·s stays below p (no wrap-around)."""
    largest_s = math.comb(parties, threshold) * (MASK_TERM_BOUND - 1)
    return (1 << (bits + 1)) + (1 << bits) + (largest_s << bits) < p


def threshold_for(parties: int) -> int:
    """Honest-majority threshold t = ⌊(m−1)/2⌋; t = 0 (m < 3) means no secrecy at all."""
    return (parties - 1) // 2


def share(value: int, parties: int, threshold: int | None = None, p: int = MODULUS) -> list[int]:
    """Shamir shares of ``value`` in GF(p): a random polynomial of degree t evaluated at 1..m."""
    return share_many([value], parties, threshold, p)[0]


def share_many(values: list[int], parties: int, threshold: int | None = None, p: int = MODULUS) -> list[list[int]]:
    """``share`` for each of ``values``, their random coefficients from one ``secrets`` call
    (a bidder shares 66 values a bid): each coefficient is 128 bits longer than p, reduced
    mod p — within 2^-128 of uniform."""
    t = threshold_for(parties) if threshold is None else threshold
    width = (p.bit_length() + 7) // 8 + 16
    raw = secrets.token_bytes(width * t * len(values))
    randoms = [int.from_bytes(raw[i * width:(i + 1) * width], "little") % p for i in range(t * len(values))]
    xs = range(1, parties + 1)
    return [[_evaluate([v % p, *randoms[k * t:(k + 1) * t]], x, p) for x in xs] for k, v in enumerate(values)]


def _evaluate(coefficients: list[int], x: int, p: int) -> int:
    y = 0
    for c in reversed(coefficients):
        y = (y * x + c) % p
    return y


def interpolate(points: list[tuple[int, int]], at: int = 0, p: int = MODULUS) -> int:
    """Lagrange interpolation in GF(p) through ``points`` [(x, y)] evaluated at ``at``."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * (at - xj) % p
                den = den * (xi - xj) % p
        total = (total + yi * num * pow(den, -1, p)) % p
    return total


def consistent(shares: list[int], threshold: int, p: int = MODULUS) -> bool:
    """True when all m shares lie on one polynomial of degree ≤ t over GF(p)."""
    points = list(enumerate(shares, start=1))
    base = points[: threshold + 1]
    return all(interpolate(base, x, p) == y for x, y in points[threshold + 1:])


def bits_of(value: int, width: int = DEFAULT_BITS) -> list[int]:
    """Little-endian bits of 0 ≤ value < 2^width: what a bidder shares, bit by bit."""
    if not 0 <= value < 1 << width:
        raise ValueError(f"value must be in [0, 2^{width})")
    return [(value >> j) & 1 for j in range(width)]


def challenges(digest: bytes, label: bytes, n: int, p: int = MODULUS) -> list[int]:
    """n public elements of GF(p) derived from a bid's header digest (Fiat–Shamir).

    Each is a 128-bit hash output reduced mod p. The header commits to the share
    hashes, so a bidder fixes its shares before it can know these coefficients; a
    malformed sharing then passes a check with probability ≤ 1/min(p, 2^128) < 2^-97
    (a random linear combination; p > 2^97 for every width).
    """
    stream = hashlib.shake_256(b"mevauction.sealed.challenge/1" + label + digest).digest(16 * n)
    return [int.from_bytes(stream[16 * i:16 * i + 16], "little") % p for i in range(n)]


def check_coefficients(digest: bytes, n: int, p: int) -> tuple[list[int], list[int]]:
    """(λ, μ) of ``bit_checks`` for a bid of n bits."""
    return challenges(digest, b"consistency", n, p), challenges(digest, b"bits", n, p)


def bit_checks(digest: bytes, values: list[int], p: int,
               coefficients: tuple[list[int], list[int]] | None = None) -> list[int]:
    """The two masked check values one server publishes for a bit-shared bid, from its
    share message alone: ``values`` = its l bit shares, then its share of the bidder's
    random mask ρ (degree t) and of the bidder's zero sharing z (degree 2t):

    - consistency: Σ λ_j·b_j + ρ — degree t across servers iff (w.h.p.) every bit sharing is;
    - bit check: Σ μ_j·b_j·(1 − b_j) + z — a degree-2t sharing of 0 iff (w.h.p.) every
      b_j is 0 or 1, i.e. the bid Σ 2^j b_j is in [0, 2^l).

    λ, μ are Fiat–Shamir challenges of the header digest, which commits the share
    hashes, so the masks were fixed before them. The masks come from the bidder (not the
    servers' PRSS) so the bidder can compute every server's values and hold a server
    that signs other ones to account. ``coefficients``: (λ, μ) if already derived
    (``check_coefficients``; a bidder needs them for every server).
    """
    bits, rho, zero = values[:-2], values[-2], values[-1]
    lam, mu = coefficients or check_coefficients(digest, len(bits), p)
    combo = sum(c * b for c, b in zip(lam, bits, strict=True)) + rho
    check = sum(u * b * (1 - b) for u, b in zip(mu, bits, strict=True)) + zero
    return [combo % p, check % p]
