"""The service's sealed path at the committee: builders seal with ``seal_builder_bid``
(their side), ``relay_builder_auction`` forwards header and envelopes with the reserve,
and the outcome equals the clear second price with reserve; a bid above its builder's
cap (free deposit) cannot win and does not set the price, and the committee reveals
nothing of it; a bid for another slot's auction is refused."""

import asyncio

import pytest

pytest.importorskip("mpyc")

from mevauction.errors import InputError
from mevauction.mechanism.auction import second_price_with_reserve
from mevauction.privacy import messages
from mevauction.privacy.builder_auction import (
    SealedSlot,
    check_sealed_bid,
    relay_builder_auction,
    seal_builder_bid,
)
from mevauction.privacy.client import LocalCommittee, new_auction_id

pytestmark = pytest.mark.slow  # a live three-server committee

ETH = 10**18


@pytest.fixture(scope="module")
def committee():
    with LocalCommittee(3) as c:
        yield c


def sealed_slot(committee, amounts: list[int], caps: dict[int, int] | None = None):
    """A slot whose builders sealed ``amounts``; (slot, builder addresses in bid order)."""
    info = {"auction": new_auction_id(), "members": committee.member_keys()}
    keys = [messages.new_key() for _ in amounts]
    names = [messages.address(k) for k in keys]
    bids = {n: check_sealed_bid(seal_builder_bid(info, k, v, pinned=committee.member_keys()), n, info["auction"], 3)
            for n, k, v in zip(names, keys, amounts, strict=True)}
    capped = {names[i]: cap for i, cap in (caps or {}).items()}
    return SealedSlot(committee.access(), info["auction"], info["members"], bids, capped), names


def test_relayed_sealed_bids_give_the_clear_outcome(committee):
    amounts = [31 * ETH + 5, 40 * ETH, 36 * ETH]
    slot, names = sealed_slot(committee, amounts)
    out = asyncio.run(relay_builder_auction(slot, 20 * ETH, names))
    assert (out.winner, out.price) == second_price_with_reserve(20 * ETH, list(zip(names, amounts, strict=True)))
    assert out.refused == {}


def test_a_bid_above_its_cap_cannot_win_or_set_the_price(committee):
    amounts = [31 * ETH, 50 * ETH, 36 * ETH, 45 * ETH]
    slot, names = sealed_slot(committee, amounts, caps={1: 49 * ETH, 3: 44 * ETH, 2: 36 * ETH})
    out = asyncio.run(relay_builder_auction(slot, 20 * ETH, names))
    # builders 1 and 3 bid above their caps: as if they had not bid; 2 bids exactly its cap
    assert (out.winner, out.price) == (names[2], 31 * ETH) and out.refused == {}


def test_the_service_can_check_a_sealed_bid_but_not_move_it_to_another_slot(committee):
    info = {"auction": new_auction_id(), "members": committee.member_keys()}
    key = messages.new_key()
    sealed = seal_builder_bid(info, key, 7 * ETH)
    with pytest.raises(InputError, match="sealedBid.header.auction"):
        check_sealed_bid(sealed, messages.address(key), new_auction_id(), 3)
    with pytest.raises(InputError, match="committee.members"):
        seal_builder_bid(info, key, 7 * ETH, pinned=[messages.address(key)] * 3)  # other keys than the pinned
