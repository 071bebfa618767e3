"""One auction at one server: intake rules, admission, and the secure evaluation.

Admission, in order, identical at every server:

1. *agreement*: every server publishes the digests of the headers it accepted; a bid
   counts only if every server accepted the same header. Bid order (the tie-break
   order) is by the sum of the servers' arrival sequence numbers.
2. *consistency*: the m shares of every value must lie on one degree-t polynomial
   (``Engine.consistent``); otherwise the bidder is excluded.
3. *range*: 0 ≤ value < 2^64 (quantities of curves: < 2^48), checked inside the MPC.

Only then does the mechanism run on the admitted bids.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from mevauction.privacy import mechanisms as mech
from mevauction.privacy import messages
from mevauction.privacy.field import BID_BITS, MODULUS
from mevauction.privacy.protocol import Engine, P, obj

MECHANISMS = ("first", "second", "builder", "topk", "double", "stream", "baseline")
# Multiplication masks per comparison (29 in the digit merge) and per other product.
MASKS_PER_COMPARISON = 30


class Rejected(Exception):
    """A bid refused at intake; the message is the reason returned to the bidder."""


@dataclass
class Submission:
    header: messages.BidHeader
    digest: str
    shares: list[int]
    seq: int
    masked: list[int]  # shares + [ρ]_t keyed by the digest, published for the consistency check


@dataclass
class Auction:
    id: str
    mechanism: str
    max_bids: int
    parties: int
    index: int
    k: int = 1
    grid: list[int] = field(default_factory=list)
    bids: list[Submission] = field(default_factory=list)
    preprocess_s: float = 0.0

    def __post_init__(self):
        loop = asyncio.get_running_loop()
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.arrived = asyncio.Event()
        self.result: asyncio.Future = loop.create_future()
        self._digests: set[str] = set()
        self._bidders: set[str] = set()

    @classmethod
    def from_request(cls, req: dict, parties: int, index: int) -> "Auction":
        mechanism = str(req["mechanism"])
        if mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism}")
        return cls(id=str(req["auction"]), mechanism=mechanism, max_bids=int(req["max_bids"]),
                   parties=parties, index=index, k=int(req.get("k") or 1),
                   grid=[int(g) for g in req.get("grid") or []])

    @property
    def values_per_bid(self) -> int:
        return len(self.grid) if self.mechanism == "double" else 1

    def close(self) -> None:
        self.closed.set()
        self.arrived.set()

    def accept(self, header: messages.BidHeader, shares, nonce, masks) -> int:
        """Intake checks; returns the arrival sequence number or raises Rejected."""
        if self.closed.is_set():
            raise Rejected("late: the auction is closed")
        if not header.signature_valid():
            raise Rejected("bad signature on the bid header")
        if len(header.share_hashes) != self.parties:
            raise Rejected(f"expected {self.parties} share hashes")
        if not isinstance(shares, list) or len(shares) != self.values_per_bid:
            raise Rejected(f"expected {self.values_per_bid} share(s)")
        try:
            values = [int(s, 16) if isinstance(s, str) else int(s) for s in shares]
            nonce_bytes = bytes.fromhex(str(nonce).removeprefix("0x"))
        except ValueError:
            raise Rejected("shares must be integers and the nonce hex") from None
        if any(not 0 <= v < MODULUS for v in values):
            raise Rejected("share outside the field")
        expected = messages.share_hash(header.auction, header.bidder, self.index, values, nonce_bytes)
        if expected != header.share_hashes[self.index]:
            raise Rejected("share does not match its hash in the header")
        digest = "0x" + header.digest().hex()
        if digest in self._digests:
            raise Rejected("duplicate: this bid was already received")
        one_per_bidder = self.mechanism != "stream"
        if one_per_bidder and header.bidder in self._bidders:
            raise Rejected(f"duplicate: {header.bidder} already bid in this auction")
        if len(self.bids) >= self.max_bids:
            raise Rejected("auction full")
        if self.mechanism == "builder" and header.side == "reserve" and any(
                b.header.side == "reserve" for b in self.bids):
            raise Rejected("duplicate: the reserve was already submitted")
        self._digests.add(digest)
        self._bidders.add(header.bidder)
        rho = masks(header.digest(), len(values))
        masked = [(v + r) % MODULUS for v, r in zip(values, rho)]
        self.bids.append(Submission(header, digest, values, len(self.bids), masked))
        self.arrived.set()
        return len(self.bids) - 1


def plan_material(a: Auction) -> tuple[int, int]:
    """Comparisons and multiplication masks the evaluation will use (slightly over)."""
    n, k, G = a.max_bids, a.k, max(1, len(a.grid))
    admission = n * a.values_per_bid
    per_mech = {
        "first": (n, 2 * n),
        "second": (2 * n, 5 * n),
        "builder": (2 * n + 2, 5 * n + 4),
        "topk": ((k + 1) * n, 4 * k * n),
        "double": (G, 2 * n),
        "stream": (n, 2 * n),
        "baseline": (0, 0),
    }[a.mechanism]
    if a.mechanism == "baseline":
        return 0, 0
    comparisons = admission + per_mech[0]
    masks = MASKS_PER_COMPARISON * comparisons + per_mech[1] + 3 * admission
    return comparisons, masks


async def agree(e: Engine, bids: list[Submission]) -> tuple[list[Submission], list[dict]]:
    """The bids every server accepted with the same header and consistent shares, in agreed order.

    One round: each server publishes, per accepted bid, its digest, arrival number and
    masked shares; the consistency of every admitted bid is then checked locally.
    """
    local = [(b.digest, b.seq, b.header.bidder, b.masked) for b in bids]
    t0 = time.perf_counter()
    views = await e.mpc.transfer(local)
    e.last_round_s = time.perf_counter() - t0
    seqs: dict[str, list[int]] = {}
    masked: dict[str, list[list[int]]] = {}
    who: dict[str, str] = {}
    for view in views:
        for digest, seq, bidder, w in view:
            seqs.setdefault(digest, []).append(seq)
            masked.setdefault(digest, []).append(w)
            who[digest] = bidder
    everywhere = {d for d, s in seqs.items() if len(s) == len(views)}
    mine = {b.digest: b for b in bids}
    admitted = sorted((mine[d] for d in everywhere), key=lambda b: (sum(seqs[b.digest]), b.digest))
    excluded = [{"bidder": who[d], "digest": d, "reason": "shares did not reach every server with the same header"}
                for d in sorted(set(seqs) - everywhere)]
    if admitted:
        w = np.array([[x for b in admitted for x in masked[b.digest][j]] for j in range(len(views))], dtype=object)
        V = len(admitted[0].shares)
        ok = e.consistent_columns(w).reshape(len(admitted), V).all(axis=1)
        excluded += [{"bidder": b.header.bidder, "digest": b.digest, "reason": "inconsistent shares"}
                     for b, good in zip(admitted, ok) if not good]
        admitted = [b for b, good in zip(admitted, ok) if good]
    return admitted, excluded


def _out_of_range(bids: list[Submission], valid) -> list[dict]:
    return [{"bidder": b.header.bidder, "digest": b.digest, "reason": "value out of range"}
            for b, good in zip(bids, valid) if not good]


async def admit(e: Engine, a: Auction, bids: list[Submission]) -> tuple[list[Submission], np.ndarray, list[dict]]:
    """Agreement, share consistency and range checks; returns survivors and their shares."""
    admitted, excluded = await agree(e, bids)
    shares = np.array([b.shares for b in admitted], dtype=object).reshape(len(admitted), a.values_per_bid)
    if not admitted:
        return [], shares, excluded
    bits = mech.QUANTITY_BITS if a.mechanism == "double" else BID_BITS
    in_range = (await e.in_range(shares.reshape(-1), bits)).reshape(shares.shape).all(axis=1)
    excluded += _out_of_range(admitted, in_range)
    return [b for b, good in zip(admitted, in_range) if good], shares[in_range], excluded


async def optimistic_tournament(e: Engine, bids: list[Submission], second: bool,
                                reserve: Submission | None = None):
    """Range checks folded into the tournament's first level; rerun without cheaters if any.

    Returns (bids kept, their Tour or None if none left, exclusions).
    """
    values = obj([b.shares[0] for b in bids])
    checked = np.append(values, reserve.shares[0]) if reserve is not None else values
    tour = await mech.tournament(e, values, second=second, precheck=checked) if len(checked) else None
    valid = tour.valid if tour is not None else np.zeros(0, dtype=bool)
    if reserve is not None and not valid[-1]:
        raise ConnectionAbortedError("the reserve is out of range")
    valid = valid[: len(bids)]
    if valid.all():
        return bids, (tour if len(bids) else None), []
    kept = [b for b, good in zip(bids, valid) if good]
    tour = await mech.tournament(e, values[valid], second=second) if kept else None
    return kept, tour, _out_of_range(bids, valid)


async def evaluate(e: Engine, a: Auction) -> dict:
    """Admission, then the mechanism; returns the public outcome with bidder labels."""
    t0 = time.perf_counter()
    t1 = None
    if a.mechanism in ("first", "second", "builder", "baseline"):
        admitted, excluded = await agree(e, a.bids)
        t1 = time.perf_counter()
        reserve = None
        if a.mechanism == "builder":
            reserves = [b for b in admitted if b.header.side == "reserve"]
            if not reserves:
                raise ConnectionAbortedError("the reserve was not admitted")
            reserve = reserves[0]
            admitted = [b for b in admitted if b is not reserve]
        if a.mechanism == "baseline":
            out = await baseline_second(e, obj([b.shares[0] for b in admitted]))
        else:
            admitted, tour, dropped = await optimistic_tournament(e, admitted, a.mechanism != "first", reserve)
            excluded += dropped
            if a.mechanism == "builder":
                out = await mech.finish_builder(e, reserve.shares[0], tour)
            elif tour is None:
                out = mech.Outcome()
            elif a.mechanism == "first":
                out = await mech.finish_first(e, tour)
            else:
                out = await mech.finish_second(e, tour)
    else:
        admitted, shares, excluded = await admit(e, a, a.bids)
        t1 = time.perf_counter()
        if a.mechanism == "topk":
            out = await mech.secure_topk(e, shares[:, 0], a.k)
        else:
            out = await mech.secure_double(e, a.grid, [b.header.side for b in admitted], shares)
    label = lambda i: admitted[i].header.bidder  # noqa: E731
    return {
        "outcome": {"winner": None if out.winner is None else label(out.winner), "price": out.price,
                    "winners": [label(i) for i in out.winners]},
        "admitted": [b.digest for b in admitted],
        "excluded": excluded,
        "timing": {"admission_s": t1 - t0, "mechanism_s": time.perf_counter() - t1,
                   "agreement_round_s": getattr(e, "last_round_s", None)},
    }


async def baseline_second(e: Engine, bids: np.ndarray) -> mech.Outcome:
    """The straightforward version: MPyC np_argmax + np_amax over secure integers.

    SecInt(65) so that differences of 64-bit bids fit MPyC's signed comparisons.
    """
    n = len(bids)
    if n == 0:
        return mech.Outcome()
    mpc = e.mpc
    secint = mpc.SecInt(BID_BITS + 1, p=MODULUS)
    x = secint.array(secint.field.array(bids))
    u, _ = mpc.np_argmax(x, arg_unary=True, arg_only=False)
    winner = u @ np.arange(n)
    second = mpc.np_amax(x - u * x)
    w, price = await mpc.output([winner, second])
    return mech.Outcome(int(w), int(price), [int(w)])


async def stream(e: Engine, a: Auction) -> dict:
    """Running first-price maximum over bids in arrival order (relay replay).

    After each arrival the servers agree on the next bid, check it, and fold it into
    the secret (max, index) with one comparison; at close, only the final winner and
    price are opened. Returns per-update latencies measured at this server.
    """
    best = idx = None
    admitted: list[Submission] = []
    excluded: list[dict] = []
    latencies: list[float] = []
    position = 0
    while True:
        while position >= len(a.bids) and not a.closed.is_set():
            a.arrived.clear()
            await a.arrived.wait()
        mine = a.bids[position] if position < len(a.bids) else None
        t0 = time.perf_counter()
        views = await e.mpc.transfer((mine.digest, mine.masked) if mine else None)
        if any(v is None for v in views):
            break
        position += 1
        if len({v[0] for v in views}) != 1:
            excluded.append({"bidder": mine.header.bidder, "digest": mine.digest,
                             "reason": "servers received different bids at this position"})
            continue
        value = obj([mine.shares[0]])
        if not e.consistent_columns(np.array([v[1] for v in views], dtype=object))[0]:
            excluded.append({"bidder": mine.header.bidder, "digest": mine.digest, "reason": "inconsistent shares"})
            continue
        j = len(admitted)
        if best is None:
            valid = (await e.in_range(value))[0]
        else:
            # Optimistically: the range check's carry rides with the comparison, its
            # zero test with the selection; an invalid bid leaves the state unchanged.
            hb = await e.high_bit(np.concatenate([(best - value + (1 << BID_BITS)) % P, value]))
            new_wins = (1 - hb[:1]) % P
            prod, ok = await e.mul_and_zero_test(np.concatenate([new_wins, new_wins]),
                                                 np.concatenate([value - best, j - idx]), hb[1:])
            valid = ok[0]
        if not valid:
            excluded.append({"bidder": mine.header.bidder, "digest": mine.digest, "reason": "value out of range"})
            continue
        admitted.append(mine)
        if best is None:
            best, idx = value, obj([j])
        else:
            best, idx = (best + prod[:1]) % P, (idx + prod[1:]) % P
        latencies.append(time.perf_counter() - t0)
    if best is None:
        outcome = {"winner": None, "price": None, "winners": []}
    else:
        w, price = (int(v) for v in await e.open(np.concatenate([idx, best])))
        outcome = {"winner": admitted[w].header.bidder, "price": price, "winners": [admitted[w].header.bidder]}
    return {"outcome": outcome, "admitted": [b.digest for b in admitted], "excluded": excluded,
            "timing": {"update_latency_s": latencies}}
