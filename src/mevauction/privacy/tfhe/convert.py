"""From the traders' XOR bit shares to additive shares mod 2^64 of the auction's sums.

The traders XOR-split every bit (``shares``), so any pair of shares is a valid order. But
a ⊕ b = a + b − 2ab is not linear: summing needs the cross term ab, which neither server
can compute alone. Before, the evaluator computed it in TFHE for every bit of every trader
in every comparison (32,768 ciphertexts of 2,049 words at 64 × 64 × 256, ≈ 5 s a pass).
Here one random oblivious transfer per bit does it (Gilboa's product by OT), with the
IKNP extension the two-party backend already has (``twoparty.ot``):

- the evaluator E (OT receiver) chooses by its bit b; the key holder K (sender) holds the
  pads p0, p1 of that OT and sends y = p0 − p1 + (1 − 2a);
- E's share is z = p_b + b·y = p0 + b(1 − 2a), K's share is a − p0: together a ⊕ b.

K sees only y (each masked by a pad it cannot link to b) and E only z (uniform, as p0 is);
the OT hides b from K and p_{1−b} from E. Both then sum their shares in the clear — per
level, per side, prefix sums over the grid — so the TFHE part (``circuit``) only compares
one aggregate per probed level. Plain numpy, no key: both parties import it.
"""

from __future__ import annotations

import numpy as np

from mevauction.privacy.twoparty.garble import FixedKeyHash

U64 = np.uint64


def _tweaks(m: int) -> np.ndarray:
    return np.arange(m, dtype=U64)


def sender(h: FixedKeyHash, q: np.ndarray, s: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K: from its OT-extension rows ``q`` (m, 2), its base choices ``s`` and its bits ``a`` (m,),
    its additive shares and the corrections y to send."""
    tw = _tweaks(len(a))
    p0 = h(q, tw)[:, 0]
    p1 = h(q ^ s, tw)[:, 0]
    a64 = a.astype(U64)
    y = p0 - p1 + (U64(1) - U64(2) * a64)  # wraps mod 2^64 by design
    return a64 - p0, y


def receiver(h: FixedKeyHash, t: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E: from its OT-extension rows ``t`` (m, 2), its bits ``b`` (its OT choices) and K's
    corrections y, its additive shares."""
    if y.shape != b.shape:
        raise ValueError(f"expected {b.size} OT corrections, got {y.size}")
    pad = h(t, _tweaks(len(b)))[:, 0]
    return pad + b.astype(U64) * y


def sums(share: np.ndarray, buy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One party's shares (n, G, bits) of the increments' bits -> its shares (mod 2^64) of
    demand − supply per level (G,), supply per level (G,) and each trader's quantity per
    level (n, G): a buy order counts its increments at and above the level, a sell order at
    and below, as ``mechanisms.clear_double`` does."""
    weights = U64(1) << np.arange(share.shape[2], dtype=U64)
    inc = (share * weights).sum(axis=2, dtype=U64)
    buy = buy.astype(bool)
    cum = np.where(buy[:, None], np.cumsum(inc[:, ::-1], axis=1, dtype=U64)[:, ::-1], np.cumsum(inc, axis=1, dtype=U64))
    supply = cum[~buy].sum(axis=0, dtype=U64)
    return cum[buy].sum(axis=0, dtype=U64) - supply, supply, cum


def opened(*parts: int) -> int:
    """The value of additive shares mod 2^64 (all values here are below 2^63)."""
    return sum(int(p) for p in parts) % (1 << 64)
