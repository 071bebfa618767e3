"""The double auction (a call market) as a circuit over XOR-shared curves.

Each trader's input is its curve at the G public price levels, the way its
``mevauction.bids/1`` steps add up: a buyer's demand at level g (its steps priced at or
above grid[g]), a seller's supply (its steps priced at or below). Sides are public, as on
the committee. The circuit, one rule per function:

1. ``valid_curves``: a curve is valid iff it is a sum of steps the format allows — read
   from the edge it trades from (a buyer's top price, a seller's bottom one), every
   increment is in [0, 2^QUANTITY_BITS). One subtraction per level gives both the
   monotonicity (no borrow) and the bound (no high bit).
2. ``zero_invalid``: an invalid curve counts as zero, so a malformed input changes the
   outcome no more than a trader withdrawing its order could.
3. ``side_totals``: demand and supply per level (an adder tree per side).
4. ``clearing_level``: the clearing level is the highest level where demand ≥ supply
   (``mechanisms.clear_double``: the number of levels that clear, minus one; after step 2
   demand falls and supply rises with the price, so those levels are a prefix).
5. ``quantities_at``: each trader's quantity at that level, all zero unless at least one
   buyer and one seller trade (the twin then names no winners either).

Only the clearing bit, the level and the gated quantities are outputs: no curve, no total.

Widths follow from the bounds (``Widths``): a curve value is below G·2^QUANTITY_BITS, a
side's total below n times that; n·G < MAX_CURVE_POINTS, refused beyond it.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mevauction.privacy.field import MAX_CURVE_POINTS, QUANTITY_BITS
from mevauction.privacy.twoparty.circuits import from_bits, gt, index_bits

if TYPE_CHECKING:
    from mevauction.privacy.mechanisms import Outcome

SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Widths:
    traders: int
    levels: int

    @property
    def curve(self) -> int:
        """Bits of one curve value: up to ``levels`` steps, each below 2^QUANTITY_BITS."""
        return QUANTITY_BITS + (self.levels - 1).bit_length()

    @property
    def level(self) -> int:
        return index_bits(self.levels)


def widths(traders: int, levels: int) -> Widths:
    """The widths for this size, or ValueError if it is beyond the bound."""
    if traders < 1 or levels < 1:
        raise ValueError("a double auction needs at least one trader and one price level")
    if traders * levels >= MAX_CURVE_POINTS:
        raise ValueError(f"traders × price levels must be below {MAX_CURVE_POINTS} "
                         f"({traders} × {levels}): the two-party double auction is bounded there")
    return Widths(traders, levels)


# -- the clear side: curves from steps, and the twin --------------------------------------

def curve(side: str, increments: list[int]) -> list[int]:
    """The per-level curve of a trader's per-level step quantities (``sealed.load_bids``)."""
    if side == "buy":  # demand at level g: every step priced at or above it
        return [sum(increments[g:]) for g in range(len(increments))]
    return [sum(increments[:g + 1]) for g in range(len(increments))]


def increments(side: str, values: list[int]) -> list[int] | None:
    """The steps a curve is the sum of, or None if no allowed order has this curve."""
    stair = values[::-1] if side == "buy" else values
    steps = [b - a for a, b in zip([0, *stair[:-1]], stair, strict=True)]
    if any(not 0 <= s < 1 << QUANTITY_BITS for s in steps):
        return None
    return steps[::-1] if side == "buy" else steps


def clear_curves(grid: list[int], sides: list[str], curves: list[list[int]]) -> Outcome:
    """The plaintext twin of ``auction``: invalid curves count as zero, then ``clear_double``."""
    # here, not at the top: mechanisms imports MPyC, which parses sys.argv on import (a party's
    # or the CLI's own options would then be MPyC's), and no party needs the twin
    from mevauction.privacy.mechanisms import clear_double

    steps = [increments(s, c) or [0] * len(grid) for s, c in zip(sides, curves, strict=True)]
    return clear_double(grid, sides, steps)


# -- circuit pieces (wires: (..., width, w), least significant bit first) ----------------

def _zeros(B, shape: tuple[int, ...]):
    return B.const(np.zeros(shape, dtype=np.uint8))


def add(B, x, y, carry=None):
    """x + y (+ carry) with one more bit: a ripple adder, one AND per bit."""
    out = []
    for i in range(x.shape[-2]):
        a, b = x[..., i, :], y[..., i, :]
        if carry is None:
            out.append(B.xor(a, b))
            carry = B.and_(a, b)
            continue
        out.append(B.xor(B.xor(a, b), carry))
        carry = B.xor(carry, B.and_(B.xor(a, carry), B.xor(b, carry)))  # majority(a, b, carry)
    return np.stack([*out, carry], axis=-2)


def subtract(B, x, y):
    """(x − y mod 2^W, borrow): x + ¬y + 1, the borrow being the missing carry."""
    one = B.const(np.ones(B.shape(x[..., 0, :]), dtype=np.uint8))
    total = add(B, x, B.not_(y), carry=one)
    return total[..., :-1, :], B.not_(total[..., -1, :])


def any_of(B, bits):
    """OR over axis -2 of (..., m, w), as a tree of a ⊕ b ⊕ ab."""
    while bits.shape[-2] > 1:
        if bits.shape[-2] % 2:
            bits = np.concatenate([bits, _zeros(B, (*B.shape(bits)[:-1], 1))], axis=-2)
        a, b = bits[..., 0::2, :], bits[..., 1::2, :]
        bits = B.xor(B.xor(a, b), B.and_(a, b))
    return bits[..., 0, :]


def xor_over(B, x, axis: int):
    """XOR of the slices along ``axis``: free (what selects with a one-hot vector)."""
    return functools.reduce(B.xor, list(np.moveaxis(x, axis, 0)))


# -- the rules ---------------------------------------------------------------------------

def valid_curves(B, curves, buy: np.ndarray):
    """(n, w): 1 where trader i's curve is a sum of allowed steps (rule 1)."""
    stair = np.where(buy[:, None, None, None], curves[:, ::-1], curves)  # public reorder: no gates
    before = np.concatenate([_zeros(B, (curves.shape[0], 1, *B.shape(curves)[2:])), stair[:, :-1]], axis=1)
    step, borrow = subtract(B, stair, before)
    bad = np.concatenate([borrow[..., None, :], step[..., QUANTITY_BITS:, :]], axis=-2)
    return B.not_(any_of(B, bad.reshape(bad.shape[0], -1, bad.shape[-1])))


def zero_invalid(B, curves, valid):
    """Rule 2: an invalid curve's every value ANDed to 0, as if the trader had sent no order."""
    return B.and_(curves, valid[:, None, None, :])


def side_totals(B, curves, buy: np.ndarray):
    """(2, G, W', w): demand and supply per level, both sides' adder trees run together."""
    groups = [curves[buy], curves[~buy]]
    m = max(len(g) for g in groups)
    pad = lambda g: np.concatenate([g, _zeros(B, (m - len(g), *B.shape(curves)[1:]))]) if len(g) < m else g
    rows = np.stack([pad(g) for g in groups])  # (2, m, G, W, w)
    while rows.shape[1] > 1:
        if rows.shape[1] % 2:
            rows = np.concatenate([rows, _zeros(B, (2, 1, *B.shape(rows)[2:]))], axis=1)
        rows = add(B, rows[:, 0::2], rows[:, 1::2])
    return rows[:, 0]


def clearing_level(B, demand, supply):
    """(clears at some level (w,), one-hot of the highest level where demand ≥ supply (G, w))."""
    clears = B.not_(gt(B, supply, demand))
    above = np.concatenate([clears[1:], _zeros(B, (1,))])
    return clears[0], B.and_(clears, B.not_(above))  # the last level that clears: the next does not


def level_bits(B, top, width: int):
    """The index of the one-hot level, bit by bit: XORs of public selections, free."""
    g = np.arange(top.shape[0])
    return np.stack([xor_over(B, top[(g >> k) & 1 == 1], 0) if (g >> k & 1).any() else _zeros(B, ())
                     for k in range(width)])


def quantities_at(B, curves, top, buy: np.ndarray):
    """(n, W, w): each trader's curve at the one-hot level, zero unless both sides trade."""
    q = xor_over(B, B.and_(curves, top[None, :, None, :]), 1)
    trades = any_of(B, q)  # (n, w)
    side = [any_of(B, trades[mask]) if mask.any() else _zeros(B, ()) for mask in (buy, ~buy)]
    both = B.and_(side[0], side[1])
    return B.and_(q, both[None, None, :])


def auction(B, sides: list[str], shares_a, shares_b):
    """The outputs to open for curves shares_a ⊕ shares_b of shape (n, G, W, w)."""
    buy = np.array([s == "buy" for s in sides], dtype=bool)
    curves = B.xor(shares_a, shares_b)
    curves = zero_invalid(B, curves, valid_curves(B, curves, buy))
    demand, supply = side_totals(B, curves, buy)
    clears, top = clearing_level(B, demand, supply)
    return {"clears": clears[None], "level": level_bits(B, top, index_bits(len(top))),
            "quantities": quantities_at(B, curves, top, buy)}


# -- a party's job -------------------------------------------------------------------------

def job_bits(job: dict) -> np.ndarray:
    """This party's share bits (n, G, W) of a ``double`` job, every public field checked.

    The job: ``sides`` (n of "buy"/"sell"), ``grid`` (G increasing prices, decimal), and
    ``shares``: per trader G hex strings, each below 2^W (``Widths.curve``).
    """
    n, sides, grid, shares = int(job["n"]), job.get("sides"), _grid(job), job.get("shares")
    w = widths(n, len(grid))
    if not isinstance(sides, list) or len(sides) != n or any(s not in SIDES for s in sides):
        raise ValueError(f"sides: expected {n} of 'buy'/'sell'")
    if not isinstance(shares, list) or len(shares) != n or any(
            not isinstance(c, list) or len(c) != len(grid) for c in shares):
        raise ValueError(f"shares: expected {n} curves of {len(grid)} shares")
    values = np.array([[int(v, 16) for v in c] for c in shares], dtype=object)
    if ((values < 0) | (values >= 1 << w.curve)).any():
        raise ValueError(f"shares: a curve share must be below 2^{w.curve} for {len(grid)} levels")
    return _to_bits(values, w.curve)


def _grid(job: dict) -> list[int]:
    grid = job.get("grid")
    if not isinstance(grid, list) or not grid or not all(isinstance(p, str) and p.isdigit() for p in grid):
        raise ValueError("grid: expected a non-empty list of decimal prices")
    prices = [int(p) for p in grid]
    if any(a >= b for a, b in itertools.pairwise(prices)):
        raise ValueError("grid: prices must increase")
    return prices


def _to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(..., width) uint8 of non-negative ints, least significant bit first."""
    return np.stack([((values >> i) & 1).astype(np.uint8) for i in range(width)], axis=-1)


def decode(job: dict, bits: dict[str, np.ndarray]) -> dict:
    """The outcome as the parties report it: price, and the traders with a quantity there."""
    if not int(bits["clears"].reshape(-1)[0]):
        return {"winner": None, "price": None, "winners": [], "quantities": {}}
    level = from_bits(bits["level"])
    quantities = [from_bits(q) for q in np.asarray(bits["quantities"]).reshape(int(job["n"]), -1)]
    winners = [i for i, q in enumerate(quantities) if q]
    return {"winner": None, "price": _grid(job)[level], "winners": winners,
            "quantities": {str(i): str(quantities[i]) for i in winners}}


def share_curves(curves: list[list[int]], width: int) -> tuple[list[list[str]], list[list[str]]]:
    """XOR shares of every curve value: a uniform ``width``-bit mask to one party, value ⊕ mask to the other."""
    masks = [[secrets.randbits(width) for _ in c] for c in curves]
    return ([[f"{m:x}" for m in row] for row in masks],
            [[f"{m ^ v:x}" for m, v in zip(row, c, strict=True)] for row, c in zip(masks, curves, strict=True)])
