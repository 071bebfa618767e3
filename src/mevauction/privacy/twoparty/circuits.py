"""The auction circuits over XOR-shared 64-bit bids, written once for every backend.

Wires are arrays whose last axis holds a label (or, on ``Plain``, a bit) and whose
second-to-last axis is the bit position, least significant first. Comparisons use a
log-depth tree (6 AND layers for 64 bits, 189 ANDs) rather than a 64-layer ripple:
the cost that matters in Python is the number of layers, not of gates.

Tournament order and tie-break match ``mechanisms``: the left (earlier) bid is kept
unless the right one is strictly greater.
"""

from __future__ import annotations

import numpy as np

WIDTH = 64  # ``sealed run|open --backend 2pc``; the service's builder auction uses 128 (``WIDTHS``)
WIDTHS = (64, 128)
MECHANISMS = ("first", "second", "builder", "topk", "double")  # the auctions with a circuit (double: double.py)


def to_bits(values: list[int], width: int = WIDTH) -> np.ndarray:
    """(n, width) uint8, least significant bit first (one bytes join, not a loop per bit:
    at the close this runs on every share row)."""
    nbytes = (width + 7) // 8
    raw = np.frombuffer(b"".join(x.to_bytes(nbytes, "little") for x in values), dtype=np.uint8)
    return np.unpackbits(raw.reshape(len(values), nbytes), axis=1, bitorder="little")[:, :width].copy()


def from_bits(bits: np.ndarray) -> int:
    return sum(int(b) << i for i, b in enumerate(np.asarray(bits).reshape(-1)))


def index_bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def gt(B, x, y):
    """[x > y] for numbers x, y of shape (..., W, w); returns (..., w)."""
    g = B.and_(x, B.not_(y))  # this bit alone decides: x_i = 1, y_i = 0
    e = B.not_(B.xor(x, y))  # equal so far
    while g.shape[-2] > 1:
        if g.shape[-2] % 2:  # odd width: a neutral top bit (never decides, always equal)
            pad = (*g.shape[:-2], 1)
            g = np.concatenate([g, B.const(np.zeros(pad, dtype=np.uint8))], axis=-2)
            e = np.concatenate([e, B.const(np.ones(pad, dtype=np.uint8))], axis=-2)
        g_lo, g_hi, e_lo, e_hi = g[..., 0::2, :], g[..., 1::2, :], e[..., 0::2, :], e[..., 1::2, :]
        if g.shape[-2] == 2:
            return B.xor(g_hi, B.and_(e_hi, g_lo))[..., 0, :]
        both = B.and_(np.stack([e_hi, e_hi]), np.stack([g_lo, e_lo]))
        g, e = B.xor(g_hi, both[0]), both[1]  # the two cases are exclusive: XOR is OR
    return g[..., 0, :]


def mux(B, s, a, b):
    """b where s else a; s has shape (..., w) and selects whole numbers."""
    return B.xor(a, B.and_(s[..., None, :], B.xor(a, b)))


def tournament(B, bids, second: bool):
    """Max, its index and (if ``second``) the highest other bid of (n, W, w) bids."""
    n, width = bids.shape[0], bids.shape[-2]
    L = index_bits(n)
    vals = bids
    idx = B.const(np.array([[(i >> k) & 1 for k in range(L)] for i in range(n)], dtype=np.uint8))
    sec = B.const(np.zeros((n, width), dtype=np.uint8))  # used only if ``second``
    first_round = True
    while vals.shape[0] > 1:
        m = vals.shape[0]
        p = m // 2
        lv, rv = vals[0:2 * p:2], vals[1:2 * p:2]
        g = gt(B, rv, lv)
        parts_l = [lv, idx[0:2 * p:2]] + ([sec[0:2 * p:2]] if second and not first_round else [])
        parts_r = [rv, idx[1:2 * p:2]] + ([sec[1:2 * p:2]] if second and not first_round else [])
        out = mux(B, g, np.concatenate(parts_l, axis=-2), np.concatenate(parts_r, axis=-2))
        wv, wi = out[..., :width, :], out[..., width:width + L, :]
        if second:
            loser = B.xor(B.xor(lv, rv), wv)  # free: the other of the two
            if first_round:  # leaves have no second bid: it is the loser
                ws = loser
            else:
                wsec = out[..., width + L:, :]
                ws = mux(B, gt(B, loser, wsec), wsec, loser)
            sec = np.concatenate([ws, sec[2 * p:]]) if m % 2 else ws
        vals = np.concatenate([wv, vals[2 * p:]]) if m % 2 else wv
        idx = np.concatenate([wi, idx[2 * p:]]) if m % 2 else wi
        first_round = False
    return vals[0], idx[0], sec[0]


def top_k(B, bids, k: int):
    """Flags of the k highest bids (ties to the earliest) and the (k+1)-th highest bid.

    k rounds of a max tournament over (alive, bid) as a 65-bit number; the round's winner
    is flagged and no longer alive. Only the flags are opened, not the order of picking.
    """
    n, width = bids.shape[0], bids.shape[-2]
    L = index_bits(n)
    alive = B.const(np.ones((n, 1), dtype=np.uint8))
    flags = B.const(np.zeros((n, 1), dtype=np.uint8))
    mine = B.const(np.array([[(i >> j) & 1 for j in range(L)] for i in range(n)], dtype=np.uint8))
    for _ in range(k + 1):
        v, i, _s = tournament(B, np.concatenate([bids, alive], axis=-2), second=False)
        if _ == k:
            return flags, B.and_(v[:width], v[width:width + 1])  # a picked bid is no price: 0 then
        same = B.not_(B.xor(mine, i[None]))  # bit j of the winner's index equals bit j of slot i
        while same.shape[-2] > 1:
            if same.shape[-2] % 2:
                same = np.concatenate([same, B.const(np.ones((n, 1), dtype=np.uint8))], axis=-2)
            same = B.and_(same[..., 0::2, :], same[..., 1::2, :])
        both = B.and_(np.stack([flags, alive]), np.stack([same, same]))
        flags = B.xor(B.xor(flags, same), both[0])  # flags OR same
        alive = B.xor(alive, both[1])  # alive AND NOT same
    raise AssertionError("unreachable")


def rows(mechanism: str, n: int, capped: bool = False) -> int:
    """Input rows of an auction of n bids: ``builder`` adds β0 first and, if ``capped``,
    one cap per bid after the bids."""
    return n + (mechanism == "builder") * (1 + n * capped)


def auction(B, mechanism: str, shares_a, shares_b, k: int = 1, capped: bool = False):
    """The outputs to open, as a dict of wire arrays; bids are shares_a ⊕ shares_b.

    For ``builder`` row 0 is the auctioneer's reserve β0 and the rest are builders; with
    ``capped`` the second half of those rows are the builders' caps (their free deposits):
    a bid above its cap counts as 0 — it can neither win nor set the price.
    """
    bids = B.xor(shares_a, shares_b)
    if mechanism == "builder" and capped:
        n = (bids.shape[0] - 1) // 2
        offers, caps = bids[1:1 + n], bids[1 + n:]
        zero = B.const(np.zeros(offers.shape[:-1], dtype=np.uint8))
        bids = np.concatenate([bids[:1], mux(B, gt(B, offers, caps), offers, zero)])
    if mechanism == "first":
        v, i, _ = tournament(B, bids, second=False)
        return {"winner": i, "price": v}
    if mechanism == "second":
        v, i, s = tournament(B, bids, second=True)
        return {"winner": i, "price": s}
    if mechanism == "builder":
        reserve, builders = bids[0], bids[1:]
        v, i, s = tournament(B, builders, second=True)
        win = gt(B, v, reserve)
        price = mux(B, gt(B, s, reserve), reserve, s)  # max(β0, β′); β0 itself when the default block wins
        return {"won": win[None], "winner": B.and_(i, win[None]), "price": price}
    if mechanism == "topk":
        flags, price = top_k(B, bids, k)
        return {"winners": flags, "price": price}
    raise ValueError(f"mechanism {mechanism!r} has no two-party circuit")


SECURITY = ("malicious", "semi-honest")  # a job's ``security``: dual execution (default), or one execution


def security(job: dict) -> str:
    mode = job.get("security", SECURITY[0])
    if mode not in SECURITY:
        raise ValueError(f"security must be one of {SECURITY}")
    return str(mode)
