"""Pseudorandom secret sharing (PRSS) as MPyC defines it, evaluated in bulk.

MPyC's ``thresha.PRF`` turns each l-byte chunk of a SHAKE-128 stream into a Python int
one element at a time (``int.from_bytes`` in a generator): profiled in a 1,024-bid run
that loop is the largest single item of a server's preprocessing (≈ 2.6 M values per
server). Here the same stream is cut into the same chunks in one C loop and converted
by ``map``: about 2× faster per value (0.26 vs 0.49 µs). The values are exactly
MPyC's (``tests/privacy/test_prss.py`` compares them), so the security argument — and
agreement with a peer running MPyC's own code — is unchanged; only the speed differs.
"""

from __future__ import annotations

from hashlib import shake_128
from itertools import repeat
from typing import Any

import numpy as np
from mpyc import thresha


def prf_array(prf: Any, uci: bytes, n: int) -> np.ndarray:
    """``prf(uci, (n,))`` for an MPyC ``thresha.PRF``: n values in range(prf.max), as objects."""
    size = prf.byte_length
    if n == 0 or size == 0:
        return np.zeros(n, dtype=object)
    # A void dtype of the chunk size cuts the stream into bytes objects in one C loop;
    # map(int.from_bytes) then converts them without a Python-level generator frame.
    chunks = np.frombuffer(shake_128(prf.key + uci).digest(n * size), dtype=f"V{size}").tolist()
    values = np.fromiter(map(int.from_bytes, chunks, repeat("little")), dtype=object, count=n)
    return values % prf.max


def share(field: Any, m: int, i: int, prfs: dict, uci: bytes, n: int) -> np.ndarray:
    """Party i's shares of n pseudorandom values (``thresha.np_pseudorandom_share(...).value``)."""
    total = sum(prf_array(prf, uci, n) * thresha._f_S_i(field, m, i, subset) for subset, prf in prfs.items())
    return np.asarray(total, dtype=object) % field.order


def share_zero(field: Any, m: int, i: int, prfs: dict, uci: bytes, n: int) -> np.ndarray:
    """Party i's shares of n degree-2t sharings of 0 (``thresha.np_pseudorandom_share_0(...).value``)."""
    d = m - len(next(iter(prfs)))  # every subset has m − t parties
    powers = np.array([(i + 1) ** j for j in range(1, d + 1)], dtype=object)
    total: Any = 0
    for subset, prf in prfs.items():
        total = total + (prf_array(prf, uci, n * d).reshape(n, d) @ powers) * thresha._f_S_i(field, m, i, subset)
    return np.asarray(total, dtype=object) % field.order
