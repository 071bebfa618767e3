"""One auction at one server: intake rules, admission, and the secure evaluation.

Single-value bids (every mechanism but ``double``) arrive as Shamir shares of their l
*bits*, l the auction's width (64 by default, 128 for the Boost+ builder auction). At
intake each server computes, locally, two masked values per bid (see
``field.bit_checks``, signed in the server's receipt); at the deadline one round of
publication settles:

1. *agreement*: a bid counts only if every server accepted the same signed header.
   Bid order (the tie-break order) is by the sum of the servers' arrival numbers.
2. *consistency*: all shares lie on degree-t polynomials — otherwise different
   servers would open different values;
3. *range*: every shared bit is 0 or 1, so the bid Σ 2^j b_j is in [0, 2^l) exactly,
   whatever field elements a cheater sent.

Failing bidders are excluded with the reason. Curves (``double``) are shared value by
value; their quantities are range-checked inside the MPC (< 2^48) after agreement.
Only then does the mechanism run on the admitted bids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from mevauction.errors import InputError
from mevauction.eth import fields
from mevauction.privacy import mechanisms as mech
from mevauction.privacy import messages
from mevauction.privacy.authshare import Sh
from mevauction.privacy.field import DEFAULT_BITS, MAX_CURVE_POINTS, QUANTITY_BITS, WIDTHS, bit_checks
from mevauction.privacy.protocol import Engine, obj

MECHANISMS = ("first", "second", "builder", "topk", "double", "stream", "baseline")
# Product masks per comparison (29 products in the digit merge, two masks each: value
# and MAC half) and per other product.
MASKS_PER_COMPARISON = 60


class Rejected(Exception):
    """A bid refused at intake; the message is the reason returned to the bidder."""


class PublicOutcome(TypedDict, total=False):
    """What the committee opens, with bidder labels for the admitted bids' indices."""

    winner: str | None
    price: int | None
    winners: list[str]
    quantities: dict[str, str]  # double only: each trader's quantity at the clearing price


class Exclusion(TypedDict):
    bidder: str
    digest: str
    reason: str


class Evaluation(TypedDict):
    """One server's result of an auction (its statement adds timing and traffic)."""

    outcome: PublicOutcome
    admitted: list[str]  # header digests, in bid order
    excluded: list[Exclusion]
    timing: dict[str, float] | dict[str, list[float]]


@dataclass
class Submission:
    header: messages.BidHeader
    digest: str
    shares: list[int]
    seq: int
    published: list[int]  # masked check values this server publishes at the deadline
    value: int = 0  # bit-shared bids: this server's share of the bid, Σ 2^j [b_j] (made at intake)


@dataclass
class Auction:
    id: str
    mechanism: str
    max_bids: int
    parties: int
    index: int
    k: int = 1
    grid: list[int] = field(default_factory=list)
    bits: int = DEFAULT_BITS
    controller: str = ""  # the auctioneer's address: the only signer of a reserve
    address_labels: bool = False  # every non-reserve label must be its signer's address
    caps: dict[str, int] = field(default_factory=dict)  # builder label (lower case) → largest bid it may make
    admit: frozenset[str] | None = None  # header digests the auctioneer forwards; None: any bidder may bid
    bids: list[Submission] = field(default_factory=list)
    preprocess_s: float = 0.0
    opened_cpu: float = 0.0  # this server's process CPU time when the auction was opened
    receipts: dict[str, list[list[Receipt | None]]] = field(default_factory=dict)  # digest → bundles, unchecked
    signers: list[str] = field(default_factory=list)  # every server's signing address, in server order

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.arrived = asyncio.Event()
        self.result: asyncio.Future[dict[str, Any]] = loop.create_future()  # this server's signed statement
        self._digests: dict[str, Submission] = {}  # the bids taken, by header digest
        self._bidders: set[str] = set()

    @classmethod
    def from_request(cls, req: dict, parties: int, index: int, controller: str = "") -> Auction:
        mechanism = str(req["mechanism"])
        if mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism}")
        bits = int(req.get("bits") or DEFAULT_BITS)
        if bits not in WIDTHS:
            raise ValueError(f"unsupported bid width {bits}; supported: {', '.join(map(str, WIDTHS))}")
        max_bids, grid = int(req["max_bids"]), [int(g) for g in req.get("grid") or []]
        if mechanism == "double" and max_bids * len(grid) >= MAX_CURVE_POINTS:
            raise ValueError(f"max_bids × grid prices must be below {MAX_CURVE_POINTS}, "
                             "or the aggregates could pass 2^64 and clear at a wrong price")
        return cls(id=str(req["auction"]), mechanism=mechanism, max_bids=max_bids,
                   parties=parties, index=index, k=int(req.get("k") or 1),
                   grid=grid, bits=bits, controller=controller.lower(),
                   address_labels=req.get("address_labels") is True, caps=parse_caps(req.get("caps"), bits),
                   admit=parse_admit(req.get("admit")))

    @property
    def bit_shared(self) -> bool:
        return self.mechanism != "double"

    @property
    def shares_per_bid(self) -> int:
        """l bit shares, then the bidder's two check masks (``field.bit_checks``); or a curve."""
        return self.bits + 2 if self.bit_shared else len(self.grid)

    def close(self) -> None:
        self.closed.set()
        self.arrived.set()

    def has_bid(self, digest: str) -> bool:
        return digest in self._digests

    def check_identity(self, header: messages.BidHeader) -> None:
        """Who may bid under a label: a reserve only the auctioneer; an address only its key."""
        signer = header.signer.lower()
        if header.side == "reserve":
            if not self.controller or signer != self.controller:
                raise Rejected("the reserve is submitted by the auctioneer's key only")
            return
        if messages.is_address(header.bidder):
            if header.bidder.lower() != signer:
                raise Rejected(f"label {header.bidder} is an address: only its own key may bid under it")
        elif self.address_labels:
            raise Rejected("this auction takes bids labelled by their signer's address only")

    def accept(self, header: messages.BidHeader, shares: object, nonce: object, engine: Engine) -> int:
        """Intake checks; returns the arrival sequence number or raises Rejected."""
        if self.closed.is_set():
            raise Rejected("late: the auction is closed")
        if not header.signature_valid():
            raise Rejected("bad signature on the bid header")
        self.check_identity(header)
        if len(header.share_hashes) != self.parties:
            raise Rejected(f"expected {self.parties} share hashes")
        if not isinstance(shares, list) or len(shares) != self.shares_per_bid:
            raise Rejected(f"expected {self.shares_per_bid} share(s)")
        try:
            values = fields.uints(shares, "shares")
            nonce_bytes = fields.data(nonce, "nonce", max_length=64)
        except InputError as exc:
            raise Rejected(f"shares must be integers and the nonce hex ({exc})") from None
        if any(not 0 <= v < engine.p for v in values):
            raise Rejected("share outside the field")
        expected = messages.share_hash(header.auction, header.bidder, self.index, values, nonce_bytes)
        if expected != header.share_hashes[self.index]:
            raise Rejected("share does not match its hash in the header")
        digest = "0x" + header.digest().hex()
        if self.admit is not None and digest not in self.admit:
            raise Rejected("not a bid the auctioneer forwarded for this auction")
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
        self._bidders.add(header.bidder)
        if self.bit_shared:
            published = bit_checks(header.digest(), values, engine.p)
        else:
            rho = engine.digest_masks(header.digest(), len(values))
            published = [(v + int(r)) % engine.p for v, r in zip(values, rho, strict=True)]
        value = sum(b << j for j, b in enumerate(values[:self.bits])) % engine.p if self.bit_shared else 0
        self.bids.append(Submission(header, digest, values, len(self.bids), published, value))
        self._digests[digest] = self.bids[-1]
        self.arrived.set()
        return len(self.bids) - 1


def parse_caps(raw: object, bits: int) -> dict[str, int]:
    """``caps`` of an ``open``: {builder label: largest bid in wei, a decimal string}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > 4096:
        raise ValueError("caps must be an object of at most 4096 labels")
    return {str(label).lower(): min(fields.wei(cap, f"caps.{label}"), (1 << bits) - 1) for label, cap in raw.items()}


def parse_admit(raw: object) -> frozenset[str] | None:
    """``admit`` of an ``open``: the only header digests the auction takes (the auctioneer's
    relayed bids), so nobody can bid around the auctioneer straight to the servers."""
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 4096 or not all(isinstance(d, str) and len(d) == 66 for d in raw):
        raise ValueError("admit must be a list of at most 4096 header digests")
    return frozenset(d.lower() for d in raw)


async def within_caps(e: Engine, a: Auction, bids: list[Submission], values: Sh) -> Sh:
    """The builders' bids with every bid above its builder's cap (its free deposit) as 0.

    Computed in the MPC ([bid ≤ cap]·bid), so an over-cap bid is neither awarded nor
    revealed: it only cannot win, exactly as if it had been refused (a 0 bid never beats
    β0 ≥ 0 and never sets the price max(β0, β′)). Builders without a cap are not limited.
    """
    caps = obj([a.caps.get(b.header.bidder.lower(), (1 << a.bits) - 1) for b in bids])
    return await e.mul(await e.ge(caps, values), values)  # type: ignore[no-any-return]


def plan_material(a: Auction) -> tuple[int, int]:
    """Comparisons and multiplication masks the evaluation will use (slightly over)."""
    n, k, G = a.max_bids, a.k, max(1, len(a.grid))
    comparisons, products = {
        "first": (n, 2 * n),
        "second": (3 * n // 2 + 4, 4 * n),
        "builder": (3 * n // 2 + 6, 4 * n + 4),
        "topk": ((k + 1) * n, 4 * k * n),
        "double": (n * G + G, 3 * n),
        "stream": (n, 2 * n),
        "baseline": (0, 0),
    }[a.mechanism]
    if a.caps:  # one comparison and one product per bid
        comparisons, products = comparisons + n, products + n
    return comparisons, MASKS_PER_COMPARISON * comparisons + 2 * products


def _excluded(bids: list[Submission], keep: Sequence[bool] | np.ndarray, reason: str) -> list[Exclusion]:
    return [{"bidder": b.header.bidder, "digest": b.digest, "reason": reason}
            for b, ok in zip(bids, keep, strict=True) if not ok]


def checks(e: Engine, a: Auction, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From everyone's published values (parties × bids × values): consistent? in range?

    Bit-shared bids: value 0 is the masked combination (degree t), value 1 the masked
    bit check (degree 2t, must be 0). Curves: every value masked, consistency only.
    """
    n = columns.shape[1]
    if a.bit_shared:
        return e.consistent_columns(columns[:, :, 0]), e.zero_at_origin(columns[:, :, 1])
    flat = columns.reshape(columns.shape[0], -1)
    return np.all(e.consistent_columns(flat).reshape(n, -1), axis=1), np.ones(n, dtype=bool)


Receipt = tuple[list[int], object]  # the check values a server signed, and its signature


def parse_receipts(bundle: list[Any]) -> list[Receipt | None]:
    """A forwarded bundle read at ``confirm`` (before the deadline, off the agreement's
    path); a malformed receipt proves nothing and becomes None."""
    out: list[Receipt | None] = []
    for r in bundle:
        try:
            out.append(([int(v) for v in r["published"]], r["signature"]))
        except (KeyError, TypeError, ValueError):
            out.append(None)
    return out


class Culprit(ConnectionAbortedError):
    """A server proven to have cheated by its own signature: the run aborts naming it."""


def receipt_signed(a: Auction, digest: str, server: int, published: list[int], signature: object) -> bool:
    """Whether ``signature`` is server ``server``'s receipt of these check values for this bid
    (its address exchanged between the servers, ``Auction.signers``)."""
    signer = messages.recover(messages.receipt_digest(a.id, digest, server, published), str(signature))
    return signer is not None and server < len(a.signers) and signer == a.signers[server].lower()


def hold_to_receipts(a: Auction, views: list[Any]) -> None:
    """Abort naming the server if it left out or changed a bid it signed a receipt for.

    Each server holds others only to the receipts *it* was forwarded. A receipt whose
    values are the ones its server published needs no check; only one that differs (or
    whose bid is missing) has its signature checked — and only a valid one blames, so no
    bidder or server can frame another with a receipt of its own making. Honest runs
    thus check no receipt signature at all.
    """
    per_server = [{d: w for d, _, _, w in view} for view in views]
    for digest, bundles in a.receipts.items():
        for bundle in bundles:
            for j, r in enumerate(bundle[: len(per_server)]):
                if r is None:
                    continue
                values, signature = r
                published = per_server[j].get(digest)
                if published is not None and [int(v) for v in published] == values:
                    continue
                if not receipt_signed(a, digest, j, values, signature):
                    continue
                if published is None:
                    raise Culprit(f"server {j} cheated: it signed a receipt for bid {digest} and then left it out")
                raise Culprit(f"server {j} cheated: it published check values for bid {digest} "
                              "other than those it signed")


async def agree(e: Engine, a: Auction, bids: list[Submission]) -> tuple[list[Submission], list[Exclusion]]:
    """The bids every server accepted with the same header, with good shares, in agreed order.

    One round: each server publishes, per accepted bid, its digest, arrival number and
    masked check values; the checks of every commonly accepted bid are then local.
    """
    local = [[b.digest, b.seq, b.header.bidder, b.published] for b in bids]
    views = await e.exchange(local)
    try:
        hold_to_receipts(a, views)
    except Culprit as exc:  # raised once the views are known to be the same everywhere (Engine.defer)
        e.defer(exc)
    seqs: dict[str, list[int]] = {}
    published: dict[str, list[list[int]]] = {}
    who: dict[str, str] = {}
    for view in views:
        for digest, seq, bidder, w in view:
            seqs.setdefault(digest, []).append(seq)
            published.setdefault(digest, []).append(w)
            who[digest] = bidder
    everywhere = {d for d, s in seqs.items() if len(s) == len(views)}
    mine = {b.digest: b for b in bids}
    admitted = sorted((mine[d] for d in everywhere), key=lambda b: (sum(seqs[b.digest]), b.digest))
    excluded: list[Exclusion] = [
        {"bidder": who[d], "digest": d, "reason": "shares did not reach every server with the same header"}
        for d in sorted(set(seqs) - everywhere)]
    if admitted:
        columns = np.array([[published[b.digest][j] for b in admitted] for j in range(len(views))], dtype=object)
        consistent, in_range = checks(e, a, columns)
        excluded += _excluded(admitted, consistent, "inconsistent shares")
        excluded += _excluded(admitted, ~consistent | in_range, "value out of range")
        admitted = [b for b, c, r in zip(admitted, consistent, in_range, strict=True) if c and r]
    return admitted, excluded


def raw_values(e: Engine, bids: list[Submission]) -> np.ndarray:
    """[bid] for bit-shared bids: Σ 2^j [b_j], local (summed at intake, off the deadline's path)."""
    if not bids:
        return np.zeros(0, dtype=object)
    return np.array([b.value for b in bids], dtype=object)


async def bid_values(e: Engine, bids: list[Submission]) -> Sh:
    """The bids as authenticated pairs (one product round)."""
    (values,) = await e.authenticate(raw_values(e, bids))
    return values


async def evaluate(e: Engine, a: Auction) -> Evaluation:
    """Admission, then the mechanism; returns the public outcome with bidder labels."""
    t0 = time.perf_counter()
    admitted, excluded = await agree(e, a, a.bids)
    if a.mechanism == "double":
        raw = np.array([b.shares for b in admitted], dtype=object).reshape(len(admitted), len(a.grid))
        (shares,) = await e.authenticate(raw)
        ok = np.all((await e.in_range(shares.reshape(-1), QUANTITY_BITS)).reshape(shares.shape), axis=1)
        excluded += _excluded(admitted, ok, "value out of range")
        admitted, shares = [b for b, good in zip(admitted, ok, strict=True) if good], shares[ok]
    t1 = time.perf_counter()
    if a.mechanism == "builder":
        reserves = [b for b in admitted if b.header.side == "reserve"]
        if not reserves:
            raise ConnectionAbortedError("the reserve was not admitted")
        reserve = (await bid_values(e, reserves[:1]))[0]
        admitted = [b for b in admitted if b is not reserves[0]]
    if a.mechanism == "double":
        out = await mech.secure_double(e, a.grid, [b.header.side for b in admitted], shares)
    elif a.mechanism == "baseline":
        await e.settle()  # MPyC's own rounds do not carry the agreement's digest
        out = await baseline_second(e, raw_values(e, admitted))
    else:
        values = await bid_values(e, admitted)
        if a.mechanism == "topk":
            out = await mech.secure_topk(e, values, a.k)
        elif a.mechanism == "builder":
            if a.caps and len(values):
                values = await within_caps(e, a, admitted, values)
            tour = await mech.tournament(e, values, second=True) if len(values) else None
            out = await mech.finish_builder(e, reserve, tour)
        elif not len(values):
            out = mech.Outcome()
        elif a.mechanism == "first":
            out = await mech.finish_first(e, await mech.tournament(e, values))
        else:
            out = await mech.finish_second(e, await mech.tournament(e, values, second=True))
    await e.settle()  # no statement before every server is known to hold the same views
    await e.verify()  # whatever was opened after the last check: no server signs it unchecked
    label = lambda i: admitted[i].header.bidder
    outcome: PublicOutcome = {"winner": None if out.winner is None else label(out.winner), "price": out.price,
                              "winners": [label(i) for i in out.winners]}
    if a.mechanism == "double":
        outcome["quantities"] = {label(i): str(q) for i, q in out.quantities.items()}
    return {
        "outcome": outcome,
        "admitted": [b.digest for b in admitted],
        "excluded": excluded,
        "timing": {"admission_s": t1 - t0, "mechanism_s": time.perf_counter() - t1},
    }


async def baseline_second(e: Engine, bids: np.ndarray) -> mech.Outcome:
    """The straightforward version: MPyC np_argmax + np_amax over secure integers.

    SecInt(l + 1) so that differences of l-bit bids fit MPyC's signed comparisons.
    """
    n = len(bids)
    if n == 0:
        return mech.Outcome()
    mpc = e.mpc
    secint = mpc.SecInt(e.bits + 1, p=e.p)
    x = secint.array(secint.field.array(bids))
    u, _ = mpc.np_argmax(x, arg_unary=True, arg_only=False)
    winner = u @ np.arange(n)
    second = mpc.np_amax(x - u * x)
    w, price = await mpc.output([winner, second])
    return mech.Outcome(int(w), int(price), [int(w)])


async def stream(e: Engine, a: Auction) -> Evaluation:
    """Running first-price maximum over bids as they arrive (relay replay).

    Servers see concurrent bids in different orders, so a step is a *round*: whenever a
    server holds a bid not yet folded in (or the auction closed) it publishes all such
    bids' digests and check values; the bids every server published are folded into the
    secret (max, index) in digest order, one comparison and one selection each, and the
    rest wait for the next round. The outcome is therefore the same at every server
    whatever order the bids reached them in. At close, bids not at every server are
    excluded and only the final winner and price are opened. Returns, per bid folded
    in, the latency from its round's start, measured at this server.
    """
    leader: tuple[Sh, Sh] | None = None  # [max bid], [its index]
    admitted: list[Submission] = []
    excluded: list[Exclusion] = []
    latencies: list[float] = []
    done: set[str] = set()
    while True:
        while all(b.digest in done for b in a.bids) and not a.closed.is_set():
            a.arrived.clear()
            await a.arrived.wait()
        mine = {b.digest: b for b in a.bids if b.digest not in done}
        t0 = time.perf_counter()
        views = await e.exchange([a.closed.is_set(), [[d, b.published] for d, b in sorted(mine.items())]])
        final = any(v[0] for v in views)  # views has our own too: all stop after the same round
        published = [{d: w for d, w in v[1]} for v in views]
        common = sorted(set.intersection(*(set(p) for p in published)) & set(mine))
        for digest in common:
            bid = mine[digest]
            done.add(digest)
            consistent, in_range = checks(e, a, np.array([[p[digest]] for p in published], dtype=object))
            if not (consistent[0] and in_range[0]):
                why = "inconsistent shares" if not consistent[0] else "value out of range"
                excluded += _excluded([bid], [False], why)
                continue
            value = await bid_values(e, [bid])
            j = len(admitted)
            admitted.append(bid)
            if leader is None:
                leader = value, e.const(obj([j]))
            else:
                best, idx = leader
                new_wins = (1 - await e.ge(best, value)) % e.p
                prod = await e.mul(e.cat([new_wins, new_wins]), e.cat([value - best, j - idx]))
                leader = (best + prod[:1]) % e.p, (idx + prod[1:]) % e.p
            latencies.append(time.perf_counter() - t0)  # from the round's start to this bid folded in
        if final:
            left = [b for d, b in sorted(mine.items()) if d not in done]
            excluded += _excluded(left, [False] * len(left), "shares did not reach every server with the same header")
            break
    await e.settle()
    outcome: PublicOutcome
    if leader is None:
        outcome = {"winner": None, "price": None, "winners": []}
    else:
        best, idx = leader
        w, price = (int(v) for v in await e.open_output(e.cat([idx, best])))
        outcome = {"winner": admitted[w].header.bidder, "price": price, "winners": [admitted[w].header.bidder]}
    return {"outcome": outcome, "admitted": [b.digest for b in admitted], "excluded": excluded,
            "timing": {"update_latency_s": latencies}}
