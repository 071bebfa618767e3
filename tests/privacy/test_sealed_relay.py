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


def test_nobody_bids_around_the_service_straight_to_the_servers(committee):
    """The service opens its auctions with the digests it forwards (``admit``); a builder
    who found the servers and sends its own sealed bid to them directly is refused."""
    from mevauction.privacy.builder_auction import BUILDER_BITS, RESERVE_LABEL
    from mevauction.privacy.client import Coordinator, SealedBid, seal

    slot, names = sealed_slot(committee, [31 * ETH])
    forwarded = "0x" + messages.BidHeader.from_json(slot.bids[names[0]]["header"]).digest().hex()
    outsider = messages.new_key()
    direct = seal_builder_bid({"auction": slot.auction, "members": slot.members}, outsider, 90 * ETH)
    reserve = seal(slot.auction, SealedBid(RESERVE_LABEL, [20 * ETH], side="reserve", key=committee.control_key), 3,
                   width=BUILDER_BITS, recipients=slot.members)

    async def go():
        async with Coordinator(committee.access()) as co:
            await co.open({"auction": slot.auction, "mechanism": "builder", "max_bids": 3, "bits": BUILDER_BITS,
                           "address_labels": True, "admit": [forwarded, "0x" + reserve.header.digest().hex()]})
            around = await co.each([[{"op": "bid", "header": direct["header"], "ciphertext": direct["ciphertexts"][j]}]
                                    for j in range(3)])
            relayed = await co.each([[reserve.payloads[j], {"op": "bid", "header": slot.bids[names[0]]["header"],
                                                            "ciphertext": slot.bids[names[0]]["ciphertexts"][j]}]
                                     for j in range(3)])
            statements, _ = await co.close(slot.auction)
            return around, relayed, statements

    around, relayed, statements = asyncio.run(go())
    assert all(r[0]["ok"] is False and "auctioneer forwarded" in r[0]["reason"] for r in around), around
    assert all(r["ok"] for per_server in relayed for r in per_server)
    assert {s["outcome"]["winner"] for s in statements} == {names[0]}  # not the 90 ETH bid sent around
