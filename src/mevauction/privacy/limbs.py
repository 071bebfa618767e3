"""Vectorised arithmetic in the committee's fields, on NumPy uint64 limbs, and fast PRSS.

Every committee field is GF(p) with p = 2^b − δ for a small δ (65, 5, 101 for b = 98,
130, 162: ``field.modulus_for`` takes the largest Blum prime below a power of 2). An
element is held as L limbs of R ≤ 27 bits (an (L, n) uint64 array, least significant limb
first), so a product's columns (≤ L·2^(2R) < 2^57) never overflow and its high half folds
back by 2^(LR) ≡ δ·2^(LR−b), a small number. NumPy then does a million products in a few
dozen array operations where object arrays of Python ints make a million Python calls per
operation — the committee's preprocessing (≈ 10^6 authenticated products for 1,024 bids)
spends its time there (docs/benchmarks/sealed.md, issue 16 § 1).

Results of every operation are *weak*: each limb < 2^R, the value < 2^(LR) and congruent
mod p; ``canonical`` gives the representative in [0, p) (for equality, encoding, ints).

``Prss``: pseudorandom secret sharing (Cramer, Damgård, Ishai) with AES-128-CTR as the
PRF instead of MPyC's per-call SHAKE stream and object-array Lagrange products: each
subset S of m − t parties shares a key (derived from MPyC's PRSS key of S) and party i
adds u_S·g_S(i) with g_S(x) = Π_{j∉S} (j − x), a *small integer* polynomial of degree t
vanishing outside S (MPyC's f_S scaled by the public nonzero constant g_S(0), which keeps
u_S·g_S(0) uniform). A party outside S's key set sees u_S·g_S(0) masking the secret.
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

U64 = np.uint64
MAX_LIMB_BITS = 27
MAX_DELTA = 1 << 10
SMALL = 1 << 20  # constants below this (or p − c below it) multiply without a full product


class LimbField:
    """GF(p), p = 2^b − δ, on (L, ...) uint64 limb arrays."""

    def __init__(self, p: int) -> None:
        b = p.bit_length()
        delta = (1 << b) - p
        if not 0 < delta < MAX_DELTA:
            raise ValueError(f"p must be 2^{b} − δ with 0 < δ < {MAX_DELTA}")
        L = 1
        while -(-b // L) > MAX_LIMB_BITS:
            L += 1
        self.p, self.b, self.delta, self.L, self.R = p, b, delta, L, -(-b // L)
        self.mask = U64((1 << self.R) - 1)
        self.top_bits = b - self.R * (L - 1)  # bits of a canonical element's top limb
        self.top_mask = U64((1 << self.top_bits) - 1)
        self.fold = U64((1 << (L * self.R)) % p)  # 2^(LR) mod p = δ·2^(LR−b) < 2^10
        self.words = -(-b // 64)  # 64-bit words of an element on the wire
        # A multiple of p whose every limb is ≥ 2^R: a − b = a + pad − b limb by limb, no borrow.
        pad = self.split(-(-(1 << (L * self.R + 1)) // p) * p)
        for k in range(L - 1):
            pad[k] += 1 << self.R
            pad[k + 1] -= 1
        self.pad = np.array(pad, dtype=U64).reshape(L, 1)

    def split(self, x: int) -> list[int]:
        """Limbs of a non-negative int (the top limb takes whatever is above R·(L−1) bits)."""
        R = self.R
        return [(x >> (R * k)) & ((1 << R) - 1) for k in range(self.L - 1)] + [x >> (R * (self.L - 1))]

    def const(self, c: int) -> np.ndarray:
        return np.array(self.split(c % self.p), dtype=U64).reshape(self.L, 1)

    def zeros(self, n: int) -> np.ndarray:
        return np.zeros((self.L, n), dtype=U64)

    # -- reduction ----------------------------------------------------------------

    def _carry(self, a: np.ndarray) -> np.ndarray:
        """In place: limbs of any size (< 2^63) → weak form, the overflow above 2^(LR) folded back."""
        R = U64(self.R)
        while True:
            for k in range(self.L - 1):
                a[k + 1] += a[k] >> R
                a[k] &= self.mask
            over = a[-1] >> R
            if not over.any():
                return a
            a[-1] &= self.mask
            a[0] += over * self.fold

    def _carry_plain(self, a: np.ndarray) -> None:
        R = U64(self.R)
        for k in range(self.L - 1):
            a[k + 1] += a[k] >> R
            a[k] &= self.mask

    def canonical(self, a: np.ndarray) -> np.ndarray:
        """The representative in [0, p) of a weak array (a new array)."""
        a = a.copy()
        tb, delta = U64(self.top_bits), U64(self.delta)
        for _ in range(2):  # fold the bits above b (2^b ≡ δ): twice leaves a value < 2^b
            high = a[-1] >> tb
            a[-1] &= self.top_mask
            a[0] += high * delta
            self._carry_plain(a)
        w = a.copy()
        w[0] += delta  # a ≥ p iff a + δ ≥ 2^b
        self._carry_plain(w)
        ge = (w[-1] >> tb).astype(bool)
        w[-1] &= self.top_mask
        return np.where(ge, w, a)

    # -- arithmetic (weak in, weak out) --------------------------------------------

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._carry(a + b)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._carry(a + self.pad - b)

    def neg(self, a: np.ndarray) -> np.ndarray:
        return self._carry(self.pad - a)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Element-wise product (either factor may be an (L, 1) constant)."""
        L, R = self.L, U64(self.R)
        shape = np.broadcast_shapes(a.shape[1:], b.shape[1:])
        cols = np.zeros((2 * L, *shape), dtype=U64)
        for i in range(L):
            for j in range(L):
                cols[i + j] += a[i] * b[j]
        for k in range(2 * L - 1):
            cols[k + 1] += cols[k] >> R
            cols[k] &= self.mask
        low = cols[:L]
        low += cols[L:] * self.fold  # limb L + k is worth 2^(Rk)·2^(LR) ≡ 2^(Rk)·fold
        return self._carry(low)

    def mul_small(self, a: np.ndarray, c: int) -> np.ndarray:
        """a·c for a public 0 ≤ c < 2^20 (no full product)."""
        return self._carry(a * U64(c))

    def scale(self, a: np.ndarray, c: int) -> np.ndarray:
        """a·c for any public constant c."""
        c %= self.p
        if c < SMALL:
            return self.mul_small(a, c)
        if self.p - c < SMALL:
            return self.neg(self.mul_small(a, self.p - c))
        return self.mul(a, self.const(c))

    def combine(self, coefficients: list[int], rows: list[np.ndarray], extra: np.ndarray | None = None) -> np.ndarray:
        """Σ c_k·rows_k (+ ``extra``, limbs < 2^(R+2)) for public constants c_k, one carry at the end.

        A small c multiplies the limbs; a small negative one (p − c small) multiplies
        pad − row instead, which has no negative limb; only other constants take a product.
        Each term stays below 2^50, so a handful sum without overflow.
        """
        acc = None if extra is None else extra.copy()
        for c, row in zip(coefficients, rows, strict=True):
            c %= self.p
            if c == 1:
                acc = row.copy() if acc is None else acc + row  # never the caller's array, carried in place
                continue
            if c < SMALL:
                term = row * U64(c)
            elif self.p - c < SMALL:
                term = (self.pad - row) * U64(self.p - c)
            else:
                term = self.mul(row, self.const(c))
            acc = term if acc is None else acc + term
        return self._carry(np.zeros_like(rows[0]) if acc is None else acc)

    def sum(self, a: np.ndarray) -> int:
        """Σ of all elements of a (L, n) array, as an int in [0, p)."""
        totals = a.reshape(self.L, -1).sum(axis=1, dtype=U64)  # < n·2^R: fine below 2^37 elements
        return sum(int(t) << (self.R * k) for k, t in enumerate(totals)) % self.p

    # -- conversion ---------------------------------------------------------------

    def to_words(self, a: np.ndarray) -> list[np.ndarray]:
        """64-bit words (least significant first) of a canonical array."""
        words = [np.zeros(a.shape[1:], dtype=U64) for _ in range(self.words)]
        for k in range(self.L):
            pos = self.R * k
            w, off = divmod(pos, 64)
            words[w] |= a[k] << U64(off)
            if off + self.R > 64 and w + 1 < self.words:
                words[w + 1] |= a[k] >> U64(64 - off)
        return words

    def from_words(self, words: list[np.ndarray]) -> np.ndarray:
        """Limbs of values given as 64-bit words; the value must be < 2^(LR)."""
        out = np.empty((self.L, *words[0].shape), dtype=U64)
        for k in range(self.L):
            w, off = divmod(self.R * k, 64)
            limb = words[w] >> U64(off)
            if off + self.R > 64 and w + 1 < len(words):
                limb |= words[w + 1] << U64(64 - off)
            out[k] = limb & self.mask
        return out

    def to_ints(self, a: np.ndarray) -> np.ndarray:
        """An object array of Python ints in [0, p) (the online phase's representation)."""
        words = self.to_words(self.canonical(a))
        out = words[0].astype(object)
        for j in range(1, self.words):
            out += words[j].astype(object) << (64 * j)
        return out

    def from_ints(self, x: np.ndarray) -> np.ndarray:
        """Limbs of an array of ints (any, reduced mod p first)."""
        x = np.asarray(x, dtype=object) % self.p
        low = (1 << 64) - 1
        return self.from_words([((x >> (64 * j)) & low).astype(U64) for j in range(self.words)])

    def from_stream(self, raw: bytes, n: int) -> np.ndarray:
        """n elements from a keyed stream, 4 bytes per limb: each value's low b bits.

        A value ≥ p (probability δ/2^b < 2^-90) stands for value − p, so each element is
        within statistical distance δ/2^b of uniform in GF(p).
        """
        limbs = np.frombuffer(raw, dtype="<u4", count=self.L * n).reshape(self.L, n).astype(U64)
        limbs[:-1] &= self.mask
        limbs[-1] &= self.top_mask
        return limbs

    def pack(self, a: np.ndarray) -> bytes:
        """A peer-to-peer wire form of (L, n) elements: canonical limbs, 4 bytes each."""
        return self.canonical(a).astype("<u4").tobytes()

    def unpack(self, payload: bytes, n: int) -> np.ndarray:
        """``pack``'s inverse; whatever a peer sent is read as a weak element, never trusted further."""
        if len(payload) != 4 * self.L * n:
            raise ValueError("a peer sent a message of the wrong length")
        return np.frombuffer(payload, dtype="<u4").reshape(self.L, n).astype(U64) & self.mask

    @property
    def stream_bytes(self) -> int:
        return 4 * self.L


class Prss:
    """Party ``pid``'s pseudorandom sharings (degree t) and zero sharings (degree 2t).

    ``keys``: MPyC's PRSS keys of the subsets of m − t parties (0-based) this party is in.
    Every call takes a fresh unique common input (MPyC's ``_prss_uci``), so parties that
    draw in the same order draw the same sharings.
    """

    def __init__(self, field: LimbField, m: int, t: int, pid: int, keys: dict[tuple[int, ...], bytes]) -> None:
        self.f, self.t = field, t
        x = pid + 1
        self.terms: list[tuple[bytes, int]] = []  # (AES key of S, g_S(x))
        for subset, key in sorted(keys.items()):
            if pid not in subset:
                continue
            aes = hashlib.sha256(b"mevauction.prss.aes/1" + bytes(subset) + key).digest()[:16]
            self.terms.append((aes, math.prod(j + 1 - x for j in range(m) if j not in subset)))
        self.x = x

    def _stream(self, key: bytes, uci: bytes, n: int) -> np.ndarray:
        nonce = hashlib.sha256(b"mevauction.prss.nonce/1" + uci).digest()[:16]
        enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
        return self.f.from_stream(enc.update(bytes(self.f.stream_bytes * n)), n)

    def random(self, uci: bytes, n: int) -> np.ndarray:
        """Shares of n uniformly random secrets, degree t."""
        return self.f.combine([g for _, g in self.terms], [self._stream(k, uci, n) for k, _ in self.terms])

    def zero(self, uci: bytes, n: int, extra: np.ndarray | None = None) -> np.ndarray:
        """Shares of n sharings of 0, degree 2t: Σ_S Σ_{k=1..t} u_{S,k}·x^k·g_S(x) (+ ``extra``)."""
        if self.t == 0:
            return self.f.zeros(n) if extra is None else self.f._carry(extra.copy())
        coefficients, rows = [], []
        for (key, g), k in itertools.product(self.terms, range(1, self.t + 1)):
            rows.append(self._stream(key, uci + bytes([k]), n))
            coefficients.append(g * self.x ** k)
        return self.f.combine(coefficients, rows, extra)
