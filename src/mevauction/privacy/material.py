"""Comparison material made before the deadline, in the limb domain (``limbs``).

The same protocol as the online phase's (``protocol.Engine``): authenticated pairs
([x], [r·x]) for the committee's secret MAC key r; a product is the pair
([x·y], [(r·x)·y]) by one masked degree-2t opening of all its shares; a degree-t opening
checks its redundant shares; every pair made here passes one MAC check (a random linear
combination, ``Engine.mac_check``) before any of it enters a pool. Only the arithmetic
differs: limb arrays instead of object arrays, and PRSS by AES-CTR (``limbs.Prss``).

A comparison mask is l/4 random hexadecimal digits, each as the suffix sums
[digit ≥ v] (v = 0..16) of its one-hot vector; a digit is 4 random bits
b = (a/√(a²) + 1)/2 (p ≡ 3 mod 4: a random, a² opened), and for v = 4a + b (a the digit's
high two bits, b its low two) [digit ≥ v] = [hi > a] + [hi = a]·[lo ≥ b]: 2 + 12
authenticated products per digit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gmpy2
import numpy as np

from mevauction.privacy.authshare import InconsistentOpening, Sh
from mevauction.privacy.limbs import U64, LimbField

if TYPE_CHECKING:
    from mevauction.privacy.protocol import Engine

Pair = tuple[np.ndarray, np.ndarray]  # (value limbs, MAC limbs), both (L, n)


class Material:
    """One engine's limb-domain preprocessing (its field, key share, PRSS and peers)."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.f: LimbField = engine.limbs
        self.key = self.f.const(engine.key)
        self.pending: list[Pair] = []  # pairs made since the last MAC check

    # -- pair arithmetic (linear, local) -----------------------------------------

    def add(self, a: Pair, b: Pair) -> Pair:
        return self.f.add(a[0], b[0]), self.f.add(a[1], b[1])

    def sub(self, a: Pair, b: Pair) -> Pair:
        return self.f.sub(a[0], b[0]), self.f.sub(a[1], b[1])

    def one_minus(self, a: Pair) -> Pair:
        """1 − a: the public 1 is the pair (1, [r])."""
        return self.f.sub(self.f.const(1), a[0]), self.f.sub(self.key, a[1])

    def total(self, parts: list[Pair]) -> Pair:
        out = parts[0]
        for part in parts[1:]:
            out = self.add(out, part)
        return out

    # -- opening and products -------------------------------------------------------

    async def open(self, flat: np.ndarray, threshold: int) -> np.ndarray:
        """Reconstruct (L, n) shares of degree ``threshold`` at every party, one round; a
        degree-t opening's redundant shares must lie on the polynomial (else abort)."""
        e, f = self.e, self.f
        n = flat.shape[1]
        senders, payloads = await e._swap(f.pack(flat), e.m - 1)
        rows = [flat] * e.m
        for j, payload in zip(senders, payloads, strict=True):
            try:
                rows[j] = f.unpack(payload, n)
            except ValueError as exc:
                raise InconsistentOpening(f"server {j} sent a malformed opening: {exc}") from None
        if threshold < e.m - 1:
            base = rows[: e.t + 1]
            for j in range(e.t + 1, e.m):
                predicted = f.combine([int(c) for c in e._check[j - e.t - 1]], base)
                if not np.array_equal(f.canonical(predicted), f.canonical(rows[j])):
                    raise InconsistentOpening("an opened value's shares do not lie on one polynomial: "
                                              "a server sent a share that is not its own")
        return f.combine(e._lagrange(tuple(range(1, threshold + 2))), rows[: threshold + 1])

    async def products(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """[x·y]_t for each (x, y) (an (L, 1) factor broadcasts), all in one opening round."""
        e, f = self.e, self.f
        local = [f.mul(x, y) for x, y in pairs]
        sizes = [z.shape[1] for z in local]
        flat = np.concatenate(local, axis=1)
        total = flat.shape[1]
        r = e.prss.random(e.mpc._prss_uci(), total)
        masked = e.prss.zero(e.mpc._prss_uci(), total, extra=flat + r)  # x·y + [r]_t + [0]_2t
        opened = await self.open(masked, 2 * e.t)
        out = f.sub(opened, r)
        return list(np.split(out, np.cumsum(sizes)[:-1], axis=1))

    async def mul(self, factors: list[tuple[Pair, Pair]]) -> list[Pair]:
        """Authenticated products a·b for each (a, b), one round: ([a·b], [(r·a)·b])."""
        flat = await self.products([(x, y) for (av, am), (bv, _) in factors for x, y in ((av, bv), (am, bv))])
        out = [(flat[2 * k], flat[2 * k + 1]) for k in range(len(factors))]
        self.pending += out
        return out

    async def random_bits(self, n: int) -> Pair:
        """n authenticated random bits: b = (a/√(a²) + 1)/2, a uniformly random, a² opened."""
        e, f = self.e, self.f
        a = e.prss.random(e.mpc._prss_uci(), n)
        (ra,) = await self.products([(self.key, a)])
        self.pending.append((a, ra))
        ((square, _),) = await self.mul([((a, ra), (a, ra))])  # its MAC half is in ``pending``
        inv_roots = await self.inverse_roots(await self.open(square, e.t))
        half = (e.p + 1) // 2
        value = f.scale(f.add(f.mul(a, inv_roots), f.const(1)), half)
        mac = f.scale(f.add(f.mul(ra, inv_roots), self.key), half)
        return value, mac

    def own_roots(self, squares: np.ndarray) -> np.ndarray:
        """1/√s for this party's share of the public squares s (``chunk``): one batched
        exponentiation, s^((p−3)/4) = ±1/√s for p ≡ 3 mod 4."""
        e = self.e
        opened = self.f.to_ints(squares)
        if not np.all(opened):
            raise ConnectionAbortedError("a random bit's square was 0; retry")  # probability n/p
        exponent = (e.p - 1) - (e.p + 1) // 4
        roots = gmpy2.powmod_base_list(list(opened), gmpy2.mpz(exponent), gmpy2.mpz(e.p))
        return self.f.from_ints(np.array(list(map(int, roots)), dtype=object))

    def chunk(self, n: int, j: int) -> slice:
        return slice(j * n // self.e.m, (j + 1) * n // self.e.m)

    async def inverse_roots(self, squares: np.ndarray) -> np.ndarray:
        """y = ±1/√s for every public square s, each party computing one m-th (one round).

        Every party checks each y it receives by y²·s = 1, so a wrong root aborts; the
        sign is the sender's choice, which turns a bit b into 1 − b — still uniform and
        secret, since nothing the sender sees depends on the sign of a. All must use the
        *same* signs: the digest of all roots rides on the next round (``Engine._swap``),
        which opens only masked products, so a server sending peers different signs is
        caught before any bit is used for anything but a masked opening.
        """
        e, f = self.e, self.f
        n = squares.shape[1]
        mine = self.own_roots(squares[:, self.chunk(n, e.pid)])
        packed = [f.pack(mine)] * e.m
        senders, payloads = await e._swap(packed[0], e.m - 1)
        parts = [mine] * e.m
        for j, payload in zip(senders, payloads, strict=True):
            packed[j] = payload
            part = self.chunk(n, j)
            try:
                parts[j] = f.unpack(payload, part.stop - part.start)
            except ValueError as exc:
                raise InconsistentOpening(f"server {j} sent malformed inverse square roots: {exc}") from None
            check = f.canonical(f.mul(f.mul(parts[j], parts[j]), squares[:, part]))
            if not (np.all(check[0] == 1) and not np.any(check[1:])):
                raise InconsistentOpening(f"server {j} sent a wrong inverse square root of a random bit's "
                                          "square")
        e.echo(b"".join(packed))
        return np.concatenate(parts, axis=1)

    # -- comparison masks -------------------------------------------------------------

    async def digits(self, n: int, D: int) -> tuple[Sh, Sh]:
        """n comparison masks of D hexadecimal digits: suffix sums (n, D, 17) and digits (n, D)."""
        N = n * D
        bits_v, bits_m = await self.random_bits(4 * N)
        b0, b1, b2, b3 = ((bits_v[:, k * N:(k + 1) * N], bits_m[:, k * N:(k + 1) * N]) for k in range(4))
        b01, b23 = await self.mul([(b0, b1), (b2, b3)])
        lo = [self.add(self.one_minus(self.add(b0, b1)), b01), self.sub(b0, b01), self.sub(b1, b01), b01]
        hi = [self.add(self.one_minus(self.add(b2, b3)), b23), self.sub(b2, b23), self.sub(b3, b23), b23]
        hi_ge = [self.total(hi[a:]) for a in range(4)]  # [hi ≥ a]
        lo_ge = [self.total(lo[b:]) for b in range(4)]  # [lo ≥ b]
        prod = await self.mul([(hi[a], lo_ge[b]) for a in range(4) for b in range(1, 4)])
        suffix: list[Pair] = []
        for a in range(4):
            hi_gt = self.sub(hi_ge[a], hi[a])
            suffix += [hi_ge[a]] + [self.add(hi_gt, prod[3 * a + b - 1]) for b in range(1, 4)]
        digit = self.total([b0, self.add(b1, b1), self.total([b2] * 4), self.total([b3] * 8)])
        await self.check()
        return self._sh([*suffix, None], (n, D, 17)), self._sh([digit], (n, D))

    def _sh(self, parts: list[Pair | None], shape: tuple[int, ...]) -> Sh:
        """Stack limb pairs (None: the constant 0) along a last axis as an object-array pair."""
        f, N = self.f, shape[0] * shape[1]
        halves = []
        for half in (0, 1):
            rows = [np.zeros(N, dtype=object) if p is None else f.to_ints(p[half]) for p in parts]
            halves.append(np.stack(rows, axis=-1).reshape(shape))
        return Sh(halves[0], halves[1], self.e.key, self.e.p)

    async def check(self) -> None:
        """The MAC check of every pair made here since the last one (``Engine.mac_check``)."""
        e, f = self.e, self.f
        pending, self.pending = self.pending, []
        seed = await e.check_seed()
        rng = np.random.Generator(np.random.PCG64(seed))
        w = u = 0
        for z, rz in pending:
            low = np.asarray(rng.integers(0, 1 << 63, size=z.shape[1], dtype=np.int64), dtype=U64)
            alpha = f.from_words([low] + [np.zeros_like(low)] * (f.words - 1))
            w += f.sum(f.mul(alpha, z))
            u += f.sum(f.mul(alpha, rz))
        await e.mac_check(w % e.p, u % e.p, " on the preprocessed material (before any bid)")
