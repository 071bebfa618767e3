"""The limb-domain field (``privacy.limbs``) against Python ints, and its PRSS's sharings."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from mevauction.privacy.field import WIDTHS, interpolate, modulus_for
from mevauction.privacy.limbs import LimbField, Prss


def values(p: int, n: int, rng: random.Random) -> list[int]:
    edges = [0, 1, 2, p - 1, p - 2, (1 << 64) - 1, 1 << 64, p - (1 << 64)]
    return edges + [rng.randrange(p) for _ in range(n)]


@pytest.mark.parametrize("bits", WIDTHS)
def test_limb_arithmetic_is_the_field_s(bits):
    p = modulus_for(bits)
    f, rng = LimbField(p), random.Random(bits)
    xs = values(p, 500, rng)
    ys = list(reversed(values(p, 500, rng)))
    X, Y = (f.from_ints(np.array(v, dtype=object)) for v in (xs, ys))
    ints = lambda a: [int(v) for v in f.to_ints(a)]
    assert ints(X) == xs
    assert ints(f.mul(X, Y)) == [x * y % p for x, y in zip(xs, ys)]
    assert ints(f.add(X, Y)) == [(x + y) % p for x, y in zip(xs, ys)]
    assert ints(f.sub(X, Y)) == [(x - y) % p for x, y in zip(xs, ys)]
    for c in (0, 3, p - 3, (1 << 70) + 5):
        assert ints(f.scale(X, c)) == [x * c % p for x in xs]
    cs = [3, p - 3, 1, (1 << 80) + 1]
    assert ints(f.combine(cs, [X, Y, X, Y])) == [(4 * x - 3 * y + ((1 << 80) + 1) * y) % p for x, y in zip(xs, ys)]
    assert f.sum(X) == sum(xs) % p
    assert ints(f.unpack(f.pack(X), len(xs))) == xs
    acc, expected = X, xs  # long chains stay exact (every result is weak: limbs < 2^R)
    for _ in range(30):
        acc, expected = f.sub(f.mul(acc, Y), X), [(a * y - x) % p for a, y, x in zip(expected, ys, xs)]
    assert ints(acc) == expected
    top = np.full((f.L, 1), int(f.mask), dtype=np.uint64)  # the largest weak value, 2^(LR) − 1
    assert ints(top) == [((1 << (f.L * f.R)) - 1) % p]


def test_a_peer_s_message_of_the_wrong_length_is_refused():
    f = LimbField(modulus_for(64))
    with pytest.raises(ValueError, match="wrong length"):
        f.unpack(b"\0" * 15, 1)


@pytest.mark.parametrize("m", [3, 5])
def test_prss_gives_degree_t_sharings_and_degree_2t_sharings_of_zero(m):
    p = modulus_for(64)
    f, t, n = LimbField(p), (m - 1) // 2, 200
    keys = {s: random.Random(str(s)).randbytes(16) for s in itertools.combinations(range(m), m - t)}
    parties = [Prss(f, m, t, i, {s: k for s, k in keys.items() if i in s}) for i in range(m)]
    r = [f.to_ints(pr.random(b"uci-1", n)) for pr in parties]
    z = [f.to_ints(pr.zero(b"uci-2", n)) for pr in parties]
    secrets = []
    for k in range(n):
        shares = [(i + 1, int(r[i][k])) for i in range(m)]
        at = interpolate(shares[: t + 1], 0, p)
        assert all(interpolate(shares[: t + 1], x, p) == y for x, y in shares[t + 1:])  # degree t
        assert interpolate([(i + 1, int(z[i][k])) for i in range(2 * t + 1)], 0, p) == 0
        secrets.append(at)
    assert len(set(secrets)) == n  # fresh secrets, not a constant
    again = [f.to_ints(pr.random(b"uci-1", n)) for pr in parties]
    assert all(list(a) == list(b) for a, b in zip(again, r))  # the same input gives the same sharing
