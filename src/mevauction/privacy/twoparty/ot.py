"""Oblivious transfer: Chou–Orlandi base OT and IKNP extension to correlated OT.

Base OT (Chou–Orlandi, "The Simplest Protocol for Oblivious Transfer", LATINCRYPT 2015)
over secp256k1 (coincurve): the sender publishes A = aG; for choice c the receiver sends
B = bG + c·A and keys on H(A, B, bA); the sender derives k0 = H(A, B, aB) and
k1 = H(A, B, a(B − A)). One receiver cannot know both, as that needs a·A = a²G.

Extension (Ishai–Kilian–Nissim–Petrank, CRYPTO 2003): κ = 128 base OTs with the roles
swapped turn into m OTs. The extension receiver (choices r) sends u^j = G(k0_j) ⊕ G(k1_j) ⊕ r
for each column j; the sender (base-OT choices s) gets q^j = G(k_{s_j}) ⊕ s_j·u^j, whose
rows are q_i = t_i ⊕ r_i·s. With the correlation-robust hash H the sender's pads
H(q_i), H(q_i ⊕ s) and the receiver's H(t_i) form m random OTs. ``correlated`` turns them
into OTs of (W_i, W_i ⊕ Δ), the form the garbler's free-XOR labels need: one 16-byte
correction per OT.

IKNP alone is secure against a semi-honest receiver only: one that sends columns u^j for
different choice vectors learns bits of s, and with s both labels of a wire (so Δ). The
correlation check of Keller–Orsini–Scholl (CRYPTO 2015, "Actively secure OT extension with
optimal overhead", Fig. 7) catches that: after u, the sender picks random χ_i ∈ GF(2^128)
(a seed), the receiver answers x = Σ χ_i·r_i and t = Σ χ_i·t_i, and the sender checks
Σ χ_i·q_i = t ⊕ x·s. KOS_EXTRA extra OTs on random choices, thrown away, hide the real
choices in x. Products are carry-less (polynomials over GF(2), unreduced: an equality
of unreduced products implies the reduced one, so the check is at least as strict).
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np
from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mevauction.privacy.twoparty.garble import FixedKeyHash

KAPPA = 128
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _kdf(a: bytes, b: bytes, point: bytes) -> bytes:
    return hashlib.sha256(b"mevauction/co-ot" + a + b + point).digest()[:16]


def _neg(p: PublicKey) -> PublicKey:
    raw = bytearray(p.format(compressed=True))
    raw[0] ^= 1  # 02 <-> 03: the same x, the other y
    return PublicKey(bytes(raw))


def _scalar() -> bytes:
    return (secrets.randbelow(_ORDER - 1) + 1).to_bytes(32, "big")


class BaseSender:
    """Holds m pairs of keys once the receiver's points have arrived."""

    def __init__(self) -> None:
        self.a = _scalar()
        self.A = PrivateKey(self.a).public_key
        self.A_bytes = self.A.format()
        self.minus_aA = _neg(self.A.multiply(self.a))

    def keys(self, points: list[bytes]) -> list[tuple[bytes, bytes]]:
        out = []
        for raw in points:
            B = PublicKey(raw)
            aB = B.multiply(self.a)
            out.append((_kdf(self.A_bytes, raw, aB.format()),
                        _kdf(self.A_bytes, raw, PublicKey.combine_keys([aB, self.minus_aA]).format())))
        return out


def base_receive(A_bytes: bytes, choices: list[int]) -> tuple[list[bytes], list[bytes]]:
    """The points to send and the chosen keys."""
    A = PublicKey(A_bytes)
    points, keys = [], []
    for c in choices:
        b = _scalar()
        B = PrivateKey(b).public_key
        if c:
            B = PublicKey.combine_keys([B, A])
        raw = B.format()
        points.append(raw)
        keys.append(_kdf(A_bytes, raw, A.multiply(b).format()))
    return points, keys


def prg(seed: bytes, nbytes: int) -> np.ndarray:
    """AES-128-CTR keystream under ``seed``: the expansion G of each base-OT key."""
    enc = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    return np.frombuffer(enc.update(bytes(nbytes)), dtype=np.uint8)


def _pad_bits(m: int) -> int:
    return (m + 127) // 128 * 128


def _transpose8(x: np.ndarray) -> np.ndarray:
    """Transpose the 8×8 bit matrix in each uint64 (bit 8·row + col), Hacker's Delight 7-3."""
    u = np.uint64
    t = (x ^ (x >> u(7))) & u(0x00AA00AA00AA00AA)
    x = x ^ t ^ (t << u(7))
    t = (x ^ (x >> u(14))) & u(0x0000CCCC0000CCCC)
    x = x ^ t ^ (t << u(14))
    t = (x ^ (x >> u(28))) & u(0x00000000F0F0F0F0)
    return x ^ t ^ (t << u(28))


def transpose(cols: np.ndarray, m: int) -> np.ndarray:
    """κ columns of m bits (κ, m/8 bytes) -> m rows of κ = 128 bits as (m, 2) uint64.

    Bytes are regrouped so that each uint64 holds an 8×8 block of bits, which is then
    transposed in-register: no array of one byte per bit.
    """
    nb = cols.shape[1]
    blocks = np.ascontiguousarray(cols.reshape(KAPPA // 8, 8, nb).transpose(0, 2, 1)).view(np.uint64)
    out = _transpose8(blocks.reshape(KAPPA // 8, nb)).view(np.uint8).reshape(KAPPA // 8, nb, 8)
    rows = np.ascontiguousarray(out.transpose(1, 2, 0)).reshape(nb * 8, KAPPA // 8)[:m]
    return np.ascontiguousarray(rows).view(np.uint64).reshape(m, 2)


KOS_EXTRA = KAPPA + 64  # κ + s random OTs sacrificed to the check (s = 64 statistical bits)


def _chi(seed: bytes, n: int) -> np.ndarray:
    """The check's coefficients χ_i ∈ GF(2^128), one per OT, as (n, 2) uint64."""
    return prg(seed, 16 * n).view(np.uint64).reshape(n, 2)


_BLOCKS = 4096  # byte positions per table: 16 MB of table at a time, whatever the OT count


def _combine(cols: np.ndarray, chi: np.ndarray) -> int:
    """Σ_i χ_i·row_i (carry-less) for the rows whose bits are the columns ``cols`` (bytes).

    Row i's bit j is bit i of column j, so Σ_i χ_i·row_i = Σ_j X^j·y_j with
    y_j = ⊕ of the χ_i where column j has bit i set. Four Russians: per byte position, the
    256 XORs of its 8 χ_i in a table, so each y_j is one lookup per byte of its column
    (numpy only: BLAS threads stall when two parties share a loaded machine)."""
    lo = np.zeros(cols.shape[0], dtype=np.uint64)
    hi = np.zeros(cols.shape[0], dtype=np.uint64)
    for start in range(0, cols.shape[1], _BLOCKS):
        part = cols[:, start:start + _BLOCKS]
        blocks = part.shape[1]
        c = chi[8 * start:8 * (start + blocks)].reshape(blocks, 8, 2)
        at = (part + (np.arange(blocks, dtype=np.int64) << 8)).ravel()  # flat rows of the tables
        for word, acc in ((0, lo), (1, hi)):
            table = np.zeros((blocks, 256), dtype=np.uint64)
            for k in range(8):
                table[:, 1 << k:2 << k] = table[:, :1 << k] ^ c[:, k, word:word + 1]
            acc ^= np.bitwise_xor.reduce(table.ravel()[at].reshape(part.shape), axis=1)
    out = 0
    for j, (low, high) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        out ^= (low | high << 64) << j
    return out


def clmul(a: int, b: int) -> int:
    out = 0
    while b:
        low = b & -b
        out ^= a << (low.bit_length() - 1)
        b ^= low
    return out


class ExtReceiver:
    """The evaluator: base-OT sender, then the extension receiver of its input bits."""

    def __init__(self) -> None:
        self.base = BaseSender()

    def setup(self, points: list[bytes]) -> None:
        self.seeds = self.base.keys(points)

    def extend(self, r: np.ndarray) -> tuple[bytes, np.ndarray]:
        """The u matrix to send, and the rows t_i."""
        m = len(r)
        nbytes = _pad_bits(m) // 8
        self._r = np.pad(r.astype(np.uint8), (0, _pad_bits(m) - m))
        rb = np.packbits(self._r, bitorder="little")
        t = np.stack([prg(k0, nbytes) for k0, _ in self.seeds])
        u = t ^ np.stack([prg(k1, nbytes) for _, k1 in self.seeds]) ^ rb
        self._cols = t
        return u.tobytes(), transpose(t, m)

    def answer(self, seed: bytes) -> bytes:
        """KOS: x = Σ χ_i·r_i (16 bytes) and t = Σ χ_i·t_i (32 bytes) for the sender's seed."""
        if len(seed) != 16:
            raise ValueError("OT extension check: the seed must be 16 bytes")
        chi = _chi(seed, len(self._r))
        x = _combine(np.packbits(self._r, bitorder="little")[None, :], chi)  # one column: the choices
        return x.to_bytes(16, "little") + _combine(self._cols, chi).to_bytes(32, "little")


class ExtSender:
    """The garbler: base-OT receiver with random s, then the extension sender."""

    def __init__(self) -> None:
        self.s_bits = [secrets.randbits(1) for _ in range(KAPPA)]
        packed = np.packbits(np.array(self.s_bits, dtype=np.uint8), bitorder="little")
        self.s = packed.view(np.uint64).copy()

    def setup(self, A_bytes: bytes) -> list[bytes]:
        points, self.seeds = base_receive(A_bytes, self.s_bits)
        return points

    def extend(self, u_bytes: bytes, m: int) -> np.ndarray:
        """The rows q_i = t_i ⊕ r_i·s."""
        nbytes = _pad_bits(m) // 8
        if len(u_bytes) != KAPPA * nbytes:
            raise ValueError(f"OT extension matrix has {len(u_bytes)} bytes, expected {KAPPA * nbytes}")
        u = np.frombuffer(u_bytes, dtype=np.uint8).reshape(KAPPA, nbytes)
        q = np.stack([prg(k, nbytes) for k in self.seeds])
        q[np.array(self.s_bits, dtype=bool)] ^= u[np.array(self.s_bits, dtype=bool)]
        self._cols = q
        return transpose(q, m)

    def check(self, seed: bytes, reply: bytes) -> bool:
        """KOS: Σ χ_i·q_i = t ⊕ x·s, i.e. every column of u was made with the same choices."""
        if len(reply) != 48:
            return False
        x, t = int.from_bytes(reply[:16], "little"), int.from_bytes(reply[16:], "little")
        s = sum(bit << j for j, bit in enumerate(self.s_bits))
        return _combine(self._cols, _chi(seed, self._cols.shape[1] * 8)) == t ^ clmul(x, s)


def correlated_send(h: FixedKeyHash, q: np.ndarray, s: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero labels W_i = H(q_i, i) and the corrections H(q_i) ⊕ H(q_i ⊕ s) ⊕ Δ to send."""
    tw = np.arange(len(q), dtype=np.uint64)
    h0 = h(q, tw)
    h1 = h(q ^ s, tw)
    return h0, h0 ^ h1 ^ delta


def correlated_receive(h: FixedKeyHash, t: np.ndarray, r: np.ndarray, corrections: np.ndarray) -> np.ndarray:
    """The labels W_i ⊕ r_i·Δ."""
    pads = h(t, np.arange(len(t), dtype=np.uint64))
    return pads ^ corrections * r.astype(np.uint64)[:, None]
