"""Bulk PRSS (privacy.prss) gives exactly MPyC's values: servers agree and nothing weakens."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mpyc import thresha
from mpyc.finfields import GF

from mevauction.privacy import prss
from mevauction.privacy.field import MASK_TERM_BOUND, modulus_for


def party_prfs(m: int, t: int, i: int, bound: int) -> dict:
    """PRFs for party i's subsets of size m − t, keyed as MPyC keys them (any fixed keys will do)."""
    return {
        frozenset(s): thresha.PRF(bytes([7, *s]) * 4, bound) for s in itertools.combinations(range(m), m - t) if i in s
    }


@pytest.mark.parametrize("bits", [64, 128])
@pytest.mark.parametrize("which", ["field", "mask"])
def test_bulk_prss_equals_mpyc(bits, which):
    p = modulus_for(bits)
    field = GF(p)
    bound = p if which == "field" else MASK_TERM_BOUND
    for m, t in ((3, 1), (5, 2)):
        for i in range(m):
            prfs = party_prfs(m, t, i, bound)
            for n in (0, 1, 257):
                ours = prss.share(field, m, i, prfs, b"uci", n)
                theirs = thresha.np_pseudorandom_share(field, m, i, prfs, b"uci", n).value
                assert ours.dtype == object and np.array_equal(ours, np.asarray(theirs, dtype=object))
                if which == "field" and n:
                    zero = prss.share_zero(field, m, i, prfs, b"uci", n)
                    ref = thresha.np_pseudorandom_share_0(field, m, i, prfs, b"uci", n).value
                    assert np.array_equal(zero, np.asarray(ref, dtype=object))
