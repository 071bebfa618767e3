"""The auction functions, each over secret-shared bids, each with its clear twin.

Every secure function takes share arrays of the admitted bids (in bid order, which is
the tie-break order: ties go to the earliest bid) and opens only its stated output:

- ``first``: winner index and its bid;
- ``second``: winner index and the highest other bid (Vickrey);
- ``builder``: Boost+ Fig. 3 steps (3)–(4): the highest builder bid β* wins if it beats
  the secret reserve β0 (ties go to the default block), paying max(β0, β′);
- ``topk``: the set of the k highest bidders (not their order) and the uniform price,
  the (k+1)-th highest bid;
- ``double``: the clearing price of sealed buy and sell curves over a public price grid
  (the sugar-beet design: aggregate locally, compare demand and supply at every grid
  price in one parallel step, open only how many grid prices clear), who trades and
  each trader's quantity at that price — never a curve. n·G < 2^16 (``field.MAX_CURVE_POINTS``)
  keeps every aggregate below 2^64, the width the comparison is exact at.

Tournaments keep the left (earlier) element unless the right one is strictly greater.
The clear twins define the expected results the tests compare with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mevauction.privacy.authshare import Sh
from mevauction.privacy.protocol import Engine, obj


@dataclass
class Outcome:
    """What a mechanism opens: indices into the admitted bids, and a price."""

    winner: int | None = None
    price: int | None = None
    winners: list[int] = field(default_factory=list)
    quantities: dict[int, int] = field(default_factory=dict)  # double: each trader's quantity at the price


# -- clear twins ----------------------------------------------------------------------

def _earliest_highest(bids: list[int]) -> int:
    """Index of the highest of non-empty ``bids``; ties go to the earliest."""
    return max(range(len(bids)), key=lambda i: (bids[i], -i))


def _runner_up(bids: list[int], winner: int) -> int:
    """The highest bid other than the winner's (0 when it is the only one)."""
    return max((b for i, b in enumerate(bids) if i != winner), default=0)


def clear_first(bids: list[int]) -> Outcome:
    if not bids:
        return Outcome()
    w = _earliest_highest(bids)
    return Outcome(w, bids[w], [w])


def clear_second(bids: list[int]) -> Outcome:
    if not bids:
        return Outcome()
    w = _earliest_highest(bids)
    return Outcome(w, _runner_up(bids, w), [w])


def clear_builder(reserve: int, bids: list[int]) -> Outcome:
    """None wins (the default block) when β0 ≥ β*; it then 'pays' β0, as the clear mechanism reports."""
    if not bids or reserve >= max(bids):
        return Outcome(None, reserve, [])
    w = _earliest_highest(bids)
    return Outcome(w, max(reserve, _runner_up(bids, w)), [w])


def clear_topk(bids: list[int], k: int) -> Outcome:
    order = sorted(range(len(bids)), key=lambda i: (-bids[i], i))
    price = bids[order[k]] if len(bids) > k else 0
    return Outcome(None, price, sorted(order[:k]))


def clear_double(grid: list[int], sides: list[str], increments: list[list[int]]) -> Outcome:
    """Clearing price = the highest grid price at which demand ≥ supply."""
    curves = list(zip(sides, increments, strict=True))
    demand = [sum(sum(inc[g:]) for s, inc in curves if s == "buy") for g in range(len(grid))]
    supply = [sum(sum(inc[: g + 1]) for s, inc in curves if s == "sell") for g in range(len(grid))]
    clearing = sum(1 for d, s in zip(demand, supply, strict=True) if d >= s) - 1
    if clearing < 0:
        return Outcome()
    trading = [i for i, (s, inc) in enumerate(curves)
               if (sum(inc[clearing:]) if s == "buy" else sum(inc[: clearing + 1])) > 0]
    if not any(sides[i] == "buy" for i in trading) or not any(sides[i] == "sell" for i in trading):
        trading = []
    quantity = lambda i: sum(curves[i][1][clearing:]) if sides[i] == "buy" else sum(curves[i][1][: clearing + 1])
    return Outcome(None, grid[clearing], trading, {i: quantity(i) for i in trading})


# -- secure versions ------------------------------------------------------------------

@dataclass
class Tour:
    """A finished tournament: shares of the max, the runner-up and the max's index."""

    m: Sh
    s: Sh
    idx: Sh


async def tournament(e: Engine, values: Sh, second: bool = False, index: bool = True) -> Tour:
    """Secure max (and argmax, and runner-up) by a pairwise tournament, log2(n) levels.

    Merging (mL, sL, iL) with (mR, sR, iR): R wins iff mR > mL; the new runner-up is
    the larger of the winner's runner-up and the loser. That second comparison needs the
    first one's result, so it is deferred and done together with the next level's
    comparison (one batch, same rounds); the root's is settled at the end. On the first
    level the runner-up is just the smaller of the two. Runner-up of a single bid is 0.
    """
    n = len(values)
    if n == 0:  # callers decide what an auction without bids yields
        raise ValueError("a tournament needs at least one bid")
    m = values % e.p
    s = e.const(np.zeros(n, dtype=object))
    idx = e.const(obj(range(n)))
    # Deferred runner-up comparisons, one per node: (the winner's runner-up, the loser).
    deferred: tuple[Sh, Sh] | None = None
    first_level = True
    while len(m) > 1:
        odd = len(m) % 2
        end = len(m) - odd
        mL, mR = m[0:end:2], m[1:end:2]
        iL, iR = idx[0:end:2], idx[1:end:2]
        sL, sR = s[0:end:2], s[1:end:2]
        h = len(mL)
        if not second or first_level:
            deltas = [mR - mL] + ([iR - iL] if index else [])
            r_wins = (1 - await e.ge(mL, mR)) % e.p
            prod = await e.mul(e.cat([r_wins] * len(deltas)), e.cat(deltas))
            new_m = (mL + prod[:h]) % e.p
            new_i = (iL + prod[h:]) % e.p if index else iL
            new_s = (mL + mR - new_m) % e.p if second else sL
        else:
            # Pipelined runner-up: this level's ge also settles the previous level's
            # pending max(winner's runner-up, loser) — two comparisons per merge, not three.
            left, right, deltas = [mL], [mR], [mR - mL, iR - iL]
            if deferred is not None:
                pend_w, pend_lo = deferred
                left.append(pend_w)
                right.append(pend_lo)
                deltas.append(pend_w - pend_lo)
            bits = await e.ge(e.cat(left), e.cat(right))
            r_wins = (1 - bits[:h]) % e.p
            selectors = [r_wins, r_wins] + ([bits[h:]] if deferred is not None else [])
            prod = await e.mul(e.cat(selectors), e.cat(deltas))
            new_m = (mL + prod[:h]) % e.p
            new_i = (iL + prod[h:2 * h]) % e.p
            if deferred is not None:
                s = (deferred[1] + prod[2 * h:]) % e.p
            sL, sR = s[0:end:2], s[1:end:2]
            pend_w = (sL + await e.mul(r_wins, sR - sL)) % e.p   # the winner's runner-up
            pend_lo = (mL + mR - new_m) % e.p                     # the loser
            if odd:  # a bye: max(s, 0) = s
                pend_w, pend_lo = e.cat([pend_w, s[-1:]]), e.cat([pend_lo, 0])
            deferred = (pend_w, pend_lo)
            new_s = e.const(np.zeros(h, dtype=object))  # pending; settled by the next ge
        if odd:
            new_m = e.cat([new_m, m[-1:]])
            new_i = e.cat([new_i, idx[-1:]])
            new_s = e.cat([new_s, s[-1:]])
        m, idx, s = new_m, new_i, new_s
        first_level = False
    if deferred is not None:
        pend_w, pend_lo = deferred
        g = await e.ge(pend_w, pend_lo)
        s = (pend_lo + await e.mul(g, pend_w - pend_lo)) % e.p
    return Tour(m[0], s[0], idx[0])


async def finish_first(e: Engine, t: Tour) -> Outcome:
    w, price = (int(v) for v in await e.open_output(e.cat([t.idx, t.m])))
    return Outcome(w, price, [w])


async def finish_second(e: Engine, t: Tour) -> Outcome:
    w, price = (int(v) for v in await e.open_output(e.cat([t.idx, t.s])))
    return Outcome(w, price, [w])


async def finish_builder(e: Engine, reserve: Sh, t: Tour | None) -> Outcome:
    """Second price with a secret reserve; when the default block wins only that fact and β0 open."""
    if t is None:
        return Outcome(None, int((await e.open_output(e.cat([reserve])))[0]), [])
    g = await e.ge(e.cat([reserve, t.s]), e.cat([t.m, reserve]))
    default_wins = g[:1]
    builder_price = await e.select(g[1:2], e.cat([t.s]), e.cat([reserve]))
    # Both cases in one opening: index + 1 (0 = the default block) and the price paid.
    prod = await e.mul(e.cat([(1 - default_wins) % e.p, default_wins]),
                       e.cat([t.idx + 1, reserve - builder_price[0]]))
    w1, price = (int(v) for v in await e.open_output(e.cat([prod[0], builder_price[0] + prod[1]])))
    return Outcome(w1 - 1, price, [w1 - 1]) if w1 else Outcome(None, price, [])


async def argmax_unit(e: Engine, values: Sh) -> tuple[Sh, Sh]:
    """Secure max and its position as a secret unit vector (earliest on ties)."""
    m = values % e.p
    levels = []  # (comparison bits, whether an odd element was carried)
    while len(m) > 1:
        odd = len(m) % 2
        end = len(m) - odd
        mL, mR = m[0:end:2], m[1:end:2]
        r_wins = (1 - await e.ge(mL, mR)) % e.p
        new_m = (mL + await e.mul(r_wins, mR - mL)) % e.p
        levels.append((r_wins, odd))
        m = e.cat([new_m, m[-1:]]) if odd else new_m
    u = e.const(obj([1]))
    for r_wins, odd in reversed(levels):
        h = len(r_wins)
        right = await e.mul(u[:h], r_wins)
        children = e.const(np.zeros(2 * h, dtype=object))
        children[0::2], children[1::2] = (u[:h] - right) % e.p, right
        u = e.cat([children, u[h:]]) if odd else children
    return m[0], u


async def secure_topk(e: Engine, bids: Sh, k: int) -> Outcome:
    """The k highest bidders as a set, and the (k+1)-th highest bid as uniform price.

    Bids are shifted by +1 so a removed bidder (set to 0) never ties a real bid of 0.
    """
    n = len(bids)
    if n <= k:
        return Outcome(None, 0, list(range(n)))
    vals = (bids + 1) % e.p
    chosen = e.const(np.zeros(n, dtype=object))
    for _ in range(k):
        _, u = await argmax_unit(e, vals)
        chosen = (chosen + u) % e.p
        vals = (vals - await e.mul(u, vals)) % e.p
    top = (await tournament(e, vals, index=False)).m
    opened = await e.open_output(e.cat([chosen, top]))
    return Outcome(None, int(opened[-1]) - 1, [i for i in range(n) if opened[i] == 1])


async def secure_double(e: Engine, grid: list[int], sides: list[str], increments: Sh) -> Outcome:
    """Clearing price over the public grid from secret per-grid-point increments (n, G)."""
    n, G = increments.shape
    buy = np.array([s == "buy" for s in sides], dtype=bool)
    # Per-bidder cumulative quantities: demand counts steps at or above p, supply at or below.
    cum_up = increments.cumsum(axis=1) % e.p
    cum_down = increments.flip(1).cumsum(axis=1).flip(1) % e.p
    per_bidder = cum_down.where(np.broadcast_to(buy[:, None], (n, G)), cum_up)
    demand = per_bidder[buy].sum(axis=0) % e.p if buy.any() else np.zeros(G, dtype=object)
    supply = per_bidder[~buy].sum(axis=0) % e.p if (~buy).any() else np.zeros(G, dtype=object)
    clears = await e.ge(demand, supply)
    clearing = int((await e.open_output(e.cat([clears.sum() % e.p])))[0]) - 1
    if clearing < 0:
        return Outcome()
    # Each trader's quantity at the clearing price — all a settlement needs; no curve opens.
    quantities = await e.open_output(per_bidder[:, clearing])
    trading = quantities != 0
    winners = [i for i in range(n) if trading[i]]
    if not (trading & buy).any() or not (trading & ~buy).any():
        winners = []
    return Outcome(None, grid[clearing], winners, {i: int(quantities[i]) for i in winners})
