"""Bidder-side pieces without a committee: Shamir sharing, signatures, clear twins."""

import dataclasses
import random

from mevauction.privacy import mechanisms as clear
from mevauction.privacy import messages
from mevauction.privacy.field import MODULUS, consistent, interpolate, share


def test_shamir_shares_reconstruct_from_any_two_of_three():
    rng = random.Random(1)
    for _ in range(20):
        v = rng.randrange(1 << 64)
        s = share(v, 3)
        pts = list(enumerate(s, start=1))
        assert all(interpolate([pts[i], pts[j]]) == v for i in range(3) for j in range(3) if i < j)
        assert consistent(s, 1)
        assert not consistent([s[0], s[1], (s[2] + 1) % MODULUS], 1)


def test_header_signature_binds_every_field():
    key = messages.new_key()
    h = messages.BidHeader("a1", "alice", messages.address(key), "", "0x" + "11" * 32, ("0x01", "0x02", "0x03"))
    signed = h.signed(key)
    assert signed.signature_valid()
    for change in ({"bidder": "bob"}, {"commitment": "0x" + "22" * 32}, {"share_hashes": ("0x01", "0x02", "0x04")}):
        assert not dataclasses.replace(signed, **change).signature_valid()


def test_clear_twins_on_small_cases():
    bids = [5, 9, 9, 2]
    assert (clear.clear_first(bids).winner, clear.clear_first(bids).price) == (1, 9)
    assert (clear.clear_second(bids).winner, clear.clear_second(bids).price) == (1, 9)
    assert (clear.clear_builder(9, bids).winner, clear.clear_builder(9, bids).price) == (None, 9)
    assert (clear.clear_builder(6, bids).winner, clear.clear_builder(6, bids).price) == (1, 9)
    assert (clear.clear_builder(6, [8, 1]).winner, clear.clear_builder(6, [8, 1]).price) == (0, 6)
    top = clear.clear_topk(bids, 2)
    assert (top.winners, top.price) == ([1, 2], 5)
    # A buyer wants 10 units up to 30; sellers offer 4 from 10 and 8 more from 20.
    # Demand ≥ supply at 10 (10 ≥ 4) but not at 20 (10 < 12): clearing price 10,
    # where only the first seller trades.
    d = clear.clear_double([10, 20, 30], ["buy", "sell", "sell"], [[0, 0, 10], [4, 0, 0], [0, 8, 0]])
    assert (d.price, d.winners) == (10, [0, 1])
    assert clear.clear_double([10], ["buy", "sell"], [[1], [2]]).price is None
