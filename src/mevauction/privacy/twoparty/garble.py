"""Half-gates garbling with free XOR, vectorised: one AES call per batch of AND gates.

Labels are 128-bit values held as pairs of uint64 (numpy, last axis 2). The same
circuit code runs on three backends that walk the gates in the same order:
``Plain`` (bits; the circuit's clear twin), ``Garbler`` (zero labels; records the
garbled tables) and ``Evaluator`` (active labels; consumes the tables). Each ``and_``
call garbles all its gates at once, so the Python cost is per layer, not per gate.

The hash is the tweakable circular-correlation-robust one of Guo–Katz–Wang–Yu
(S&P 2020): H(x, i) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i, π fixed-key AES-128 (AES-NI through
``cryptography``), σ(xL‖xR) = (xL ⊕ xR)‖xL a linear orthomorphism.
"""

from __future__ import annotations

import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# A public fixed key: the hash's security rests on π modelled as a random permutation.
FIXED_KEY = bytes(range(16))


class FixedKeyHash:
    def __init__(self, key: bytes = FIXED_KEY) -> None:
        self._enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

    def permute(self, x: np.ndarray) -> np.ndarray:
        """π on every 128-bit row of ``x`` (shape (..., 2) uint64) in one ECB call."""
        flat = np.ascontiguousarray(x, dtype=np.uint64)
        out = self._enc.update(flat.tobytes())
        return np.frombuffer(out, dtype=np.uint64).reshape(flat.shape)

    def __call__(self, x: np.ndarray, tweak: np.ndarray) -> np.ndarray:
        s = np.empty_like(x)
        s[..., 0] = x[..., 0] ^ x[..., 1]
        s[..., 1] = x[..., 0]
        s[..., 0] ^= tweak
        return self.permute(s) ^ s


def lsb(x: np.ndarray) -> np.ndarray:
    return (x[..., 0] & np.uint64(1)).astype(np.uint8)


def random_labels(shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(secrets.token_bytes(16 * int(np.prod(shape, dtype=np.int64))),
                         dtype=np.uint64).reshape(*shape, 2).copy()


def _mask(bits: np.ndarray, label: np.ndarray) -> np.ndarray:
    """``bits`` · ``label`` row by row (bits broadcast over the label's 2 words)."""
    return label & (-bits.astype(np.int64)).view(np.uint64)[..., None]  # 0 or all ones: an AND, not a multiply


class Plain:
    """Clear evaluation of a circuit on bits: the twin the garbled run must equal.

    Bits carry a trailing axis of length 1, so circuits index wires as labels do (``[..., i, :]``).
    """

    def xor(self, a, b):
        return a ^ b

    def and_(self, a, b):
        return a & b

    def not_(self, a):
        return a ^ 1

    def const(self, bits: np.ndarray):
        return np.asarray(bits, dtype=np.uint8)[..., None]

    def shape(self, a):
        return a.shape[:-1]


_TWEAKS = np.zeros(0, dtype=np.uint64)  # 0, 1, 2, … grown on demand: no arange per layer


class _Labels:
    gates = 0  # AND gates so far: each takes the tweaks 2j, 2j + 1

    def xor(self, a, b):
        return a ^ b

    def shape(self, a):
        return a.shape[:-1]

    def _tweaks(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        start = self.gates
        self.gates += k
        global _TWEAKS
        if len(_TWEAKS) < 2 * self.gates:
            _TWEAKS = np.arange(4 * self.gates, dtype=np.uint64)  # rebound, so older slices stay valid
        t = _TWEAKS[2 * start:2 * self.gates]
        return t[0::2], t[1::2]


class Garbler(_Labels):
    """Holds Δ (lsb 1, the point-and-permute bit) and appends each layer's tables."""

    def __init__(self, hash_: FixedKeyHash | None = None) -> None:
        self.h = hash_ or FixedKeyHash()
        self.delta = random_labels(())
        self.delta[0] |= np.uint64(1)
        self.zero = random_labels(())  # the constant wire: evaluator always holds this label
        self.tables: list[np.ndarray] = []
        self.gates = 0

    def one(self, zero: np.ndarray) -> np.ndarray:
        return zero ^ self.delta

    def inputs(self, shape: tuple[int, ...]) -> np.ndarray:
        return random_labels(shape)

    def encode(self, zero: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """The active labels for ``bits`` on wires with zero labels ``zero``."""
        return zero ^ _mask(bits, np.broadcast_to(self.delta, zero.shape))

    def const(self, bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits, dtype=np.uint8)
        return np.broadcast_to(self.zero, (*bits.shape, 2)) ^ _mask(bits, np.broadcast_to(self.delta, (*bits.shape, 2)))

    def not_(self, a):
        return a ^ self.delta

    def and_(self, a, b):
        a, b = np.broadcast_arrays(a, b)
        shape = a.shape
        a0, b0 = a.reshape(-1, 2), b.reshape(-1, 2)
        d = self.delta
        j0, j1 = self._tweaks(len(a0))
        pa, pb = lsb(a0), lsb(b0)
        # one AES call for the four hashes of the whole layer
        h = self.h(np.concatenate([a0, a0 ^ d, b0, b0 ^ d]), np.concatenate([j0, j0, j1, j1]))
        ha0, ha1, hb0, hb1 = np.split(h, 4)
        tg = ha0 ^ ha1 ^ _mask(pb, np.broadcast_to(d, a0.shape))
        wg = ha0 ^ _mask(pa, tg)
        te = hb0 ^ hb1 ^ a0
        we = hb0 ^ _mask(pb, te ^ a0)
        self.tables.append(np.stack([tg, te], axis=1))
        return (wg ^ we).reshape(shape)

    def table_bytes(self) -> bytes:
        return b"".join(t.tobytes() for t in self.tables)


class Evaluator(_Labels):
    def __init__(self, tables: np.ndarray, zero: np.ndarray, hash_: FixedKeyHash | None = None) -> None:
        self.h = hash_ or FixedKeyHash()
        self.table = tables.reshape(-1, 2, 2)
        self.zero = zero
        self.gates = 0

    def const(self, bits: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.zero, (*np.shape(bits), 2)).copy()

    def not_(self, a):
        return a

    def and_(self, a, b):
        a, b = np.broadcast_arrays(a, b)
        shape = a.shape
        wa, wb = a.reshape(-1, 2), b.reshape(-1, 2)
        start = self.gates
        j0, j1 = self._tweaks(len(wa))
        if self.gates > len(self.table):
            raise ValueError("garbled circuit too short for the circuit being evaluated")
        t = self.table[start:self.gates]
        h = self.h(np.concatenate([wa, wb]), np.concatenate([j0, j1]))
        hg, he = np.split(h, 2)
        w = hg ^ _mask(lsb(wa), t[:, 0]) ^ he ^ _mask(lsb(wb), t[:, 1] ^ wa)
        return w.reshape(shape)
