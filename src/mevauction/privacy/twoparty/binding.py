"""Binding each party's circuit inputs to the shares the bidders dealt (dual execution).

Dual execution makes a party feed the same shares to both executions, not the bidders'
ones: flipping a bit of its share in both flips that bit of the bid. So whoever splits a
bid (the bidder, or ``sealed run``'s coordinator) also deals, per row, a one-time
GF(2)-linear MAC for each party's bits to the *other* party: party p's row is x = share
bits ‖ s mask bits r (L = w + s bits); the peer holds keys K_l (64-bit, l < L) and a
per-row α (64-bit, all from a 32-byte seed), party p the tags T_l = K_l ⊕ x_l·α. Alone,
the tags are uniform to p and the keys are independent of x.

Once the inputs are fixed, a coin toss fixes a public random matrix M (s rows; per
input row i its own s × w block M_i, and the identity on the mask bits; the halves ride
on the input flights, ``dualex.inputs``).
Each circuit also outputs σ = ⊕_i M_i·bid_i ⊕ r_i (XOR only: no garbled table; the
garbler sends its decoding bits after the toss), so σ is masked by the mask shares and
says nothing about a bid. Each party then claims c_i = M_i·share_i ⊕ r_i for each of its
rows (masked by its own r_i: nothing about its share) with one aggregated tag per
sketch row, τ_j = ⊕_i ⊕_l M_ijl·T_il; the peer checks τ_j = ⊕_i (⊕_l M_ijl·K_il ⊕ c_ij·α_i)
(a wrong claim passes only by guessing a 64-bit α) and that σ = ⊕_i (c_i ⊕ c'_i). A party
that fed e ≠ 0 instead of its dealt bits moves σ by ⊕_i M_i·e_i, which is non-zero
except with probability 2^-s over M: then it must claim another c than its tags support.
Rows both parties know (padding zeros, public caps) carry no MAC: each side computes the
other's claim itself. docs/privacy.md, *Against a malicious party*, has the argument.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from mevauction.eth.keccak import keccak

SKETCH = 40  # s: a substituted share goes unnoticed with probability 2^-s
SEED = 32  # bytes of a row's key seed
_KEY_DOMAIN = b"mevauction/2pc/mac-key/1"
_SKETCH_DOMAIN = b"mevauction/2pc/sketch/1"
_COIN_DOMAIN = b"mevauction/2pc/coin/1"
_DIGEST_DOMAIN = b"mevauction/2pc/binding/1"


def keys(seed: bytes, length: int) -> tuple[np.ndarray, np.uint64]:
    """A row's MAC keys (``length`` 64-bit words) and its α, from the seed the dealer drew."""
    raw = hashlib.shake_256(_KEY_DOMAIN + seed).digest(8 * (length + 1))
    words = np.frombuffer(raw, dtype=np.uint64)
    return words[:length].copy(), words[length]


def _hex_bits(value: int, width: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(value.to_bytes((width + 7) // 8, "little"), dtype=np.uint8),
                         bitorder="little")[:width]


def deal(shares: tuple[np.ndarray, np.ndarray]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each party's binding material for its rows of share bits (``shares[p]``: (rows, w) bits).

    Party p's row: its mask r (s bits, uniform), the tags of its bits (share ‖ r) under the
    peer's keys, and the seed of its own keys for the peer's row."""
    rows, w = shares[0].shape
    length = w + SKETCH
    masks = [[secrets.randbits(SKETCH) for _ in range(rows)] for _ in range(2)]
    seeds = [[secrets.token_bytes(SEED) for _ in range(rows)] for _ in range(2)]  # seeds[p]: p's keys on the peer
    out: tuple[list[dict[str, str]], list[dict[str, str]]] = ([], [])
    for i in range(rows):
        for p in (0, 1):
            bits = np.concatenate([shares[p][i], _hex_bits(masks[p][i], SKETCH)])
            k, alpha = keys(seeds[1 - p][i], length)
            tags = k ^ (-bits.astype(np.int64)).view(np.uint64) & alpha
            out[p].append({"mask": f"{masks[p][i]:x}", "tags": tags.tobytes().hex(), "key": seeds[p][i].hex()})
    return out


def split(values: list[int], width: int) -> tuple[tuple[list[str], list[str]], tuple[list[dict], list[dict]]]:
    """XOR-share each value (a uniform mask to party 0, value ⊕ mask to party 1) and deal the
    MACs: ((shares 0, shares 1) in hex, (material 0, material 1))."""
    masks = [secrets.randbits(width) for _ in values]
    shares = ([f"{m:x}" for m in masks], [f"{m ^ v:x}" for m, v in zip(masks, values, strict=True)])
    bits = tuple(_row_bits([int(x, 16) for x in column], width) for column in shares)
    return shares, deal((bits[0], bits[1]))


def _row_bits(values: list[int], width: int) -> np.ndarray:
    raw = b"".join(v.to_bytes(width // 8, "little") for v in values)
    return np.unpackbits(np.frombuffer(raw, np.uint8).reshape(len(values), width // 8), axis=1, bitorder="little")


def public(peer_share: int) -> dict[str, str]:
    """A row both parties know (padding, a public cap): no MAC, the peer's share named."""
    return {"peer": f"{peer_share:x}"}


def digest(material: dict[str, Any]) -> int:
    """What the bidder's share hash commits to besides the share (so it signs its MACs too)."""
    body = "|".join(str(material.get(k, "")) for k in ("mask", "tags", "key")).encode()
    return int.from_bytes(keccak(_DIGEST_DOMAIN + body), "big")


def check(material: object, w: int) -> dict[str, str]:
    """One row's material as a bidder sent it, refused with a reason if malformed."""
    if not isinstance(material, dict) or set(material) != {"mask", "tags", "key"} or \
            not all(isinstance(v, str) for v in material.values()):
        raise ValueError("bind: expected {mask, tags, key} hex strings")
    try:
        mask, tags, seed = int(material["mask"], 16), bytes.fromhex(material["tags"]), bytes.fromhex(material["key"])
    except ValueError:
        raise ValueError("bind: not hex") from None
    if mask >> SKETCH or len(tags) != 8 * (w + SKETCH) or len(seed) != SEED:
        raise ValueError(f"bind: a mask below 2^{SKETCH}, {w + SKETCH} 8-byte tags and a {SEED}-byte key")
    return dict(material)


@dataclass(frozen=True)
class Rows:
    """One party's binding material for a job's rows, parsed."""

    tags: np.ndarray  # (rows, L) uint64, zero on public rows
    keys: np.ndarray  # (rows, L) uint64: keys on the peer's bits, zero on public rows
    alphas: np.ndarray  # (rows,) uint64, zero on public rows
    public: np.ndarray  # (rows,) bool
    peer_bits: np.ndarray  # (rows, L) bits: the peer's inputs on public rows (zero elsewhere)


@dataclass(frozen=True)
class Dealt:
    """One dealt row's material, parsed (an intake parses each bid's when it takes it)."""

    mask: int
    tags: np.ndarray  # (L,) uint64
    keys: np.ndarray  # (L,) uint64: on the peer's bits
    alpha: np.uint64


def dealt(material: object, w: int) -> Dealt:
    m = check(material, w)
    k, alpha = keys(bytes.fromhex(m["key"]), w + SKETCH)
    return Dealt(int(m["mask"], 16), np.frombuffer(bytes.fromhex(m["tags"]), np.uint64), k, alpha)


def parse(job: dict, rows: int, w: int) -> Rows:
    """A job's ``macs``, one per input row: a public row {peer}, a dealt row's material, or it parsed."""
    macs = job.get("macs")
    if not isinstance(macs, list) or len(macs) != rows:
        raise ValueError(f"macs: expected one per input row ({rows})")
    length = w + SKETCH
    pub = np.array([isinstance(m, dict) and set(m) == {"peer"} for m in macs], bool)
    peer = np.zeros((rows, length), np.uint8)
    try:
        peer_values = [int(str(m["peer"]), 16) for m, p in zip(macs, pub, strict=True) if p]
    except ValueError:
        raise ValueError("macs: a public share is not hex") from None
    if any(not 0 <= v < 1 << w for v in peer_values):
        raise ValueError(f"macs: a public share must be below 2^{w}")
    if peer_values:
        peer[pub, :w] = _row_bits(peer_values, w)
    tags, ks = np.zeros((rows, length), np.uint64), np.zeros((rows, length), np.uint64)
    alphas = np.zeros(rows, np.uint64)
    for i in np.flatnonzero(~pub):
        d = macs[i] if isinstance(macs[i], Dealt) else dealt(macs[i], w)
        if len(d.tags) != length:
            raise ValueError(f"macs: row {i} was dealt for another width")
        tags[i], ks[i], alphas[i] = d.tags, d.keys, d.alpha
    return Rows(tags, ks, alphas, pub, peer)


def parse_masks(job: dict, rows: int) -> np.ndarray:
    """(rows, s) bits: this party's sketch masks (zero on public rows), checked as ``parse``."""
    macs = job.get("macs")
    if not isinstance(macs, list) or len(macs) != rows:
        raise ValueError(f"macs: expected one per input row ({rows})")
    try:
        values = [m.mask if isinstance(m, Dealt) else int(str(m["mask"]), 16) if isinstance(m, dict) and "mask" in m
                  else 0 for m in macs]
    except ValueError:
        raise ValueError("macs: mask is not hex") from None
    if any(not 0 <= v < 1 << SKETCH for v in values):
        raise ValueError(f"macs: a mask must be below 2^{SKETCH}")
    return _row_bits(values, 64)[:, :SKETCH]


def coin() -> tuple[bytes, bytes]:
    """(seed, commitment): this party's half of the coin toss that fixes M."""
    seed = secrets.token_bytes(16)
    return seed, hashlib.sha256(_COIN_DOMAIN + seed).digest()


def opens(seed: bytes, commitment: bytes) -> bool:
    return len(seed) == 16 and hashlib.sha256(_COIN_DOMAIN + seed).digest() == commitment


@dataclass(frozen=True)
class Matrix:
    packed: np.ndarray  # (s, rows, w/8) uint8: per sketch row, the blocks M_i side by side, bit-packed
    w: int


def matrix(seed: bytes, rows: int, w: int) -> Matrix:
    """The public sketch matrix from both coin halves (garbler's first)."""
    raw = hashlib.shake_256(_SKETCH_DOMAIN + seed).digest(SKETCH * rows * w // 8)
    return Matrix(np.frombuffer(raw, dtype=np.uint8).reshape(SKETCH, rows, w // 8), w)


BLOCK = 2048  # input bits per slice of the bit-sliced product: each sum fits a 12-bit field


def sketch(m: Matrix, words: np.ndarray) -> np.ndarray:
    """⊕_i (M_i · words_i[:w] ⊕ words_i[w:]) per sketch row, for c columns of 64-bit words at once.

    ``words``: (rows, L, c) uint64 (label words, tags, keys). Bit-sliced: the dense part is a
    float product of 0/1 values slice by slice, two bits per float (bit k + 4096 · bit k', so
    a slice's two sums, ≤ 2048 each, stay exact below 2^24), then parity."""
    rows, _, c = words.shape
    w, half = m.w, 32 * c
    dense = np.ascontiguousarray(words[:, :w]).reshape(rows * w, c)
    packed = m.packed.reshape(SKETCH, rows * w // 8)  # unpacked slice by slice: never all of M at once
    parity = np.zeros((SKETCH, 64 * c), np.int64)
    for at in range(0, rows * w, BLOCK):
        part = dense[at:at + BLOCK]
        bits = np.unpackbits(part.view(np.uint8).reshape(len(part), 8 * c), axis=1, bitorder="little")
        both = bits[:, :half].astype(np.float32) + np.float32(4096) * bits[:, half:]
        block = np.unpackbits(packed[:, at // 8:(at + len(part)) // 8], axis=1, bitorder="little")
        sums = (block.astype(np.float32) @ both).astype(np.int64)
        parity[:, :half] ^= sums
        parity[:, half:] ^= sums >> 12
    out = np.packbits((parity & 1).astype(np.uint8), axis=1, bitorder="little").view(np.uint64).reshape(SKETCH, c)
    return out ^ np.bitwise_xor.reduce(words[:, w:], axis=0)


def claims(m: Matrix, bits: np.ndarray) -> np.ndarray:
    """(rows, s) bits: M_i · share_i ⊕ r_i for each row of a party's inputs ``bits`` (rows, L)."""
    w = m.w
    packed = np.packbits(bits[:, :w], axis=1, bitorder="little")  # (rows, w/8)
    both = np.bitwise_and(m.packed, packed[None]).view(np.uint64)  # (s, rows, w/64)
    parity = np.bitwise_xor.reduce(np.bitwise_count(both), axis=2) & 1
    return parity.T.astype(np.uint8) ^ bits[:, w:]


def expected_tags(r: Rows, key_sketch: np.ndarray, peer_claims: np.ndarray) -> np.ndarray:
    """What the peer's aggregated tags must be, given the keys' sketch and its claims."""
    scaled = np.where(peer_claims.astype(bool) & ~r.public[:, None], r.alphas[:, None], np.uint64(0))
    return key_sketch ^ np.bitwise_xor.reduce(scaled, axis=0)
