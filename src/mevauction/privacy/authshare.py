"""Authenticated shares: every secret the committee computes on carries its own MAC.

A malicious server can add an error of its choice to any multiplication: the product's
masked degree-2t opening (``Engine.mul``) has no redundancy, so every honest server
reconstructs the same shifted value and nothing local looks wrong. Following Chida,
Genkin, Hamada, Ikarashi, Kikuchi, Lindell and Nof ("Fast large-scale honest-majority
MPC for malicious adversaries", CRYPTO 2018), each secret x is held as the pair
([x], [r·x]) for one secret, uniformly random MAC key r that no server knows:

- linear operations act on both halves; a public constant c is the pair (c, c·[r]);
- a product is the pair ([x·y], [(r·x)·y]) — two multiplications in the *same*
  opening round;
- before anything is output, the servers open a fresh random seed, expand it to
  coefficients α_k for every pair (z_k, m_k) produced since the last check, and open
  only T = Σ α_k·m_k − [r]·Σ α_k·z_k, which must be 0. An error δ added to z_k and δ′ to
  m_k leaves T = α_k·(δ′ − r·δ) ≠ 0 unless δ′ = r·δ, and r is unknown to the cheater:
  it passes with probability ≤ 1/p + 2^-64 (the coefficients are 64-bit).

``Sh`` is one such pair of share arrays (``v`` the value, ``m`` the MAC half) with the
array operations the mechanisms use. NumPy is told (``__array_ufunc__ = None``) to leave
``int_array + Sh`` to ``Sh``, so a public array always enters as a constant pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class Sh:
    """The pair ([x], [r·x]) of share arrays of one shape, in the field GF(p)."""

    __slots__ = ("key", "m", "p", "v")
    __array_ufunc__ = None  # ndarray op Sh → Sh's reflected operator

    def __init__(self, v: np.ndarray, m: np.ndarray, key: int, p: int) -> None:
        self.v, self.m, self.key, self.p = v, m, key, p

    # -- constants ----------------------------------------------------------------

    def const(self, c: Any) -> Sh:
        """A public constant (scalar or int array) as a pair with this one's key."""
        c = np.asarray(c, dtype=object)
        return Sh(c, c * self.key, self.key, self.p)

    def _pair(self, o: Any) -> Sh:
        return o if isinstance(o, Sh) else self.const(o)

    # -- arithmetic (linear only: products go through Engine.mul) ------------------

    def __add__(self, o: Any) -> Sh:
        o = self._pair(o)
        return Sh(self.v + o.v, self.m + o.m, self.key, self.p)

    __radd__ = __add__

    def __sub__(self, o: Any) -> Sh:
        o = self._pair(o)
        return Sh(self.v - o.v, self.m - o.m, self.key, self.p)

    def __rsub__(self, o: Any) -> Sh:
        return self._pair(o) - self

    def __neg__(self) -> Sh:
        return Sh(-self.v, -self.m, self.key, self.p)

    def __mul__(self, c: Any) -> Sh:
        if isinstance(c, Sh):
            raise TypeError("a product of two secrets needs Engine.mul")
        c = np.asarray(c, dtype=object) if not isinstance(c, int) else c
        return Sh(self.v * c, self.m * c, self.key, self.p)

    __rmul__ = __mul__

    def __mod__(self, p: int) -> Sh:
        return Sh(self.v % p, self.m % p, self.key, self.p)

    def __lshift__(self, k: int) -> Sh:
        return self * (1 << k)

    # -- shape ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.v)

    def __getitem__(self, index: Any) -> Sh:
        return Sh(np.asarray(self.v[index], dtype=object), np.asarray(self.m[index], dtype=object), self.key, self.p)

    def __setitem__(self, index: Any, value: Sh) -> None:
        value = self._pair(value)
        self.v[index], self.m[index] = value.v, value.m

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.v))

    @property
    def size(self) -> int:
        return int(np.size(self.v))

    def reshape(self, *shape: Any) -> Sh:
        return Sh(np.reshape(self.v, shape if len(shape) != 1 else shape[0]),
                  np.reshape(self.m, shape if len(shape) != 1 else shape[0]), self.key, self.p)

    def copy(self) -> Sh:
        return Sh(np.array(self.v, dtype=object), np.array(self.m, dtype=object), self.key, self.p)

    def sum(self, axis: int | None = None) -> Sh:
        return Sh(np.asarray(np.sum(self.v, axis=axis), dtype=object),
                  np.asarray(np.sum(self.m, axis=axis), dtype=object), self.key, self.p)

    def cumsum(self, axis: int) -> Sh:
        return Sh(np.cumsum(self.v, axis=axis), np.cumsum(self.m, axis=axis), self.key, self.p)

    def take_along_axis(self, index: np.ndarray, axis: int) -> Sh:
        return Sh(np.take_along_axis(self.v, index, axis=axis), np.take_along_axis(self.m, index, axis=axis),
                  self.key, self.p)

    def broadcast_to(self, shape: tuple[int, ...]) -> Sh:
        return Sh(np.broadcast_to(self.v, shape).copy(), np.broadcast_to(self.m, shape).copy(), self.key, self.p)

    def flip(self, axis: int) -> Sh:
        return Sh(np.flip(self.v, axis=axis), np.flip(self.m, axis=axis), self.key, self.p)

    def where(self, mask: np.ndarray, other: Sh) -> Sh:
        """Element-wise self if mask else other (a public mask)."""
        return Sh(np.where(mask, self.v, other.v), np.where(mask, self.m, other.m), self.key, self.p)


def cat(parts: Sequence[Any], key: int, p: int, axis: int = 0) -> Sh:
    """Concatenate pairs and public constants (scalars count as one element)."""
    pairs = [part if isinstance(part, Sh) else Sh(np.atleast_1d(np.asarray(part, dtype=object)),
                                                   np.atleast_1d(np.asarray(part, dtype=object)) * key, key, p)
             for part in parts]
    vs = [np.atleast_1d(s.v) for s in pairs]
    ms = [np.atleast_1d(s.m) for s in pairs]
    return Sh(np.concatenate(vs, axis=axis), np.concatenate(ms, axis=axis), key, p)


def stack(parts: Iterable[Sh], axis: int = 0) -> Sh:
    parts = list(parts)
    key, p = parts[0].key, parts[0].p
    return Sh(np.stack([s.v for s in parts], axis=axis), np.stack([s.m for s in parts], axis=axis), key, p)


class MacCheckFailed(ConnectionAbortedError):
    """The committee's MAC check failed: some server changed a product or an input."""


class InconsistentOpening(ConnectionAbortedError):
    """An opened value's shares are not on one polynomial: a server sent a wrong share."""


class Equivocation(ConnectionAbortedError):
    """Servers received different published values: one sent different ones to its peers."""
