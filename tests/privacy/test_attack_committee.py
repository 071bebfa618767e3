"""Attacks on a running committee's intake (issue 11 § 3), by a client that is not the
auctioneer: it reaches every server's intake port, but holds neither the auctioneer's
key nor any bidder's. Every control operation it tries is refused and the committee
goes on serving; it cannot submit the reserve, bid under another bidder's address, or
get an envelope opened at a server it was not sealed for, or after changing it; and a
plain-TCP listener on the intake learns nothing (TLS by default)."""

import asyncio
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from committee_wire import outsider_request

pytest.importorskip("mpyc")

from mevauction.privacy import messages
from mevauction.privacy.builder_auction import BUILDER_BITS, RESERVE_LABEL
from mevauction.privacy.client import LocalCommittee, SealedBid, new_auction_id, run_on, seal

pytestmark = pytest.mark.slow  # a live three-server committee


@pytest.fixture(scope="module")
def committee():
    with LocalCommittee(3) as c:
        yield c


def close_all(committee, auction: str, close: dict | None = None) -> list[dict]:
    """The auctioneer's close, sent to every server at once (each waits for the others)."""
    close = close or messages.sign_control({"op": "close", "auction": auction}, committee.control_key)
    with ThreadPoolExecutor(len(committee.intake)) as pool:
        return list(pool.map(lambda a: outsider_request(a, close), committee.intake))


def server_keys(committee) -> list[str]:
    return [outsider_request(a, {"op": "info"})["encryption_key"] for a in committee.intake]


def second_price_works(committee) -> None:
    bids = [SealedBid(f"bidder{i}", [v]) for i, v in enumerate([30, 90, 60])]
    result = asyncio.run(run_on(committee.access(), "second", bids))
    assert result.ok, result.reason
    assert (result.outcome["winner"], result.outcome["price"]) == ("bidder1", 60)


def test_unauthenticated_control_is_refused_and_the_committee_keeps_serving(committee):
    auction = new_auction_id()
    attempts = [{"op": "shutdown"}, {"op": "open", "auction": auction, "mechanism": "first", "max_bids": 1, "bits": 64},
                {"op": "close", "auction": auction}]
    for address in committee.intake:
        for request in attempts:
            reply = outsider_request(address, request)
            assert reply.get("ok") is False and "refused" in reply["reason"], (request, reply)
    forged = messages.sign_control({"op": "shutdown"}, messages.new_key())  # signed, by a key not pinned
    for address in committee.intake:
        reply = outsider_request(address, forged)
        assert reply.get("ok") is False and "not signed by the auctioneer" in reply["reason"], reply
    second_price_works(committee)  # all three servers still up, and in step


def test_a_captured_control_request_cannot_be_replayed(committee):
    auction = new_auction_id()
    signed = messages.sign_control({"op": "open", "auction": auction, "mechanism": "first", "max_bids": 1,
                                    "bits": 64}, committee.control_key)
    assert [outsider_request(a, signed)["ok"] for a in committee.intake] == [True] * 3
    bid = seal(auction, SealedBid("x", [5]), 3, recipients=server_keys(committee))
    assert all(outsider_request(a, bid.payloads[j])["ok"] for j, a in enumerate(committee.intake))
    close = messages.sign_control({"op": "close", "auction": auction}, committee.control_key)
    assert all(s.get("status") == "ok" for s in close_all(committee, auction, close))
    for request in (signed, close):
        for address in committee.intake:
            reply = outsider_request(address, request)
            assert reply.get("ok") is False and "replayed" in reply["reason"], reply
    second_price_works(committee)


def test_the_reserve_comes_from_the_auctioneer_only(committee):
    keys = server_keys(committee)
    auction = new_auction_id()
    opening = messages.sign_control({"op": "open", "auction": auction, "mechanism": "builder", "max_bids": 3,
                                     "bits": BUILDER_BITS, "address_labels": True}, committee.control_key)
    assert all(outsider_request(a, opening)["ok"] for a in committee.intake)
    fake = seal(auction, SealedBid(RESERVE_LABEL, [10**24], side="reserve"), 3, width=BUILDER_BITS, recipients=keys)
    for j, address in enumerate(committee.intake):
        reply = outsider_request(address, fake.payloads[j])
        assert reply["ok"] is False and "auctioneer" in reply["reason"], reply
    real = seal(auction, SealedBid(RESERVE_LABEL, [100], side="reserve", key=committee.control_key), 3,
                width=BUILDER_BITS, recipients=keys)
    builder = messages.new_key()
    bid = seal(auction, SealedBid(messages.address(builder), [150], side="builder", key=builder), 3,
               width=BUILDER_BITS, recipients=keys)
    for j, address in enumerate(committee.intake):
        assert outsider_request(address, real.payloads[j])["ok"]
        assert outsider_request(address, bid.payloads[j])["ok"]
    outcomes = {json.dumps(s["outcome"], sort_keys=True) for s in close_all(committee, auction)}
    assert [json.loads(o) for o in outcomes] == [
        {"winner": messages.address(builder), "price": 100, "winners": [messages.address(builder)]}]


def test_an_address_label_is_bound_to_its_key(committee):
    keys = server_keys(committee)
    auction = new_auction_id()
    opening = messages.sign_control({"op": "open", "auction": auction, "mechanism": "builder", "max_bids": 4,
                                     "bits": BUILDER_BITS, "address_labels": True}, committee.control_key)
    assert all(outsider_request(a, opening)["ok"] for a in committee.intake)
    reserve = seal(auction, SealedBid(RESERVE_LABEL, [100], side="reserve", key=committee.control_key), 3,
                   width=BUILDER_BITS, recipients=keys)
    assert all(outsider_request(a, reserve.payloads[j])["ok"] for j, a in enumerate(committee.intake))
    victim = messages.address(messages.new_key())
    squat = seal(auction, SealedBid(victim, [1], side="builder"), 3, width=BUILDER_BITS, recipients=keys)
    named = seal(auction, SealedBid("alice", [1], side="builder"), 3, width=BUILDER_BITS, recipients=keys)
    for j, address in enumerate(committee.intake):
        reply = outsider_request(address, squat.payloads[j])
        assert reply["ok"] is False and "only its own key" in reply["reason"], reply
        reply = outsider_request(address, named.payloads[j])
        assert reply["ok"] is False and "address" in reply["reason"], reply
    for statement in close_all(committee, auction):  # no builder admitted: the default block at the reserve
        assert statement["outcome"] == {"winner": None, "price": 100, "winners": []}


def test_an_envelope_opens_only_unaltered_at_its_own_server(committee):
    keys = server_keys(committee)
    auction = new_auction_id()
    opening = messages.sign_control({"op": "open", "auction": auction, "mechanism": "first", "max_bids": 2,
                                     "bits": 64}, committee.control_key)
    assert all(outsider_request(a, opening)["ok"] for a in committee.intake)
    bid = seal(auction, SealedBid("bob", [77]), 3, recipients=keys)
    moved = outsider_request(committee.intake[1], bid.payloads[0])  # server 0's envelope sent to server 1
    assert moved["ok"] is False and "does not open" in moved["reason"]
    altered = dict(bid.payloads[2])
    text = altered["ciphertext"]
    altered["ciphertext"] = text[:200] + ("0" if text[200] != "0" else "1") + text[201:]
    reply = outsider_request(committee.intake[2], altered)
    assert reply["ok"] is False and "does not open" in reply["reason"]
    assert all(outsider_request(a, bid.payloads[j])["ok"] for j, a in enumerate(committee.intake))
    assert {s["outcome"]["price"] for s in close_all(committee, auction)} == {77}


def test_a_plain_tcp_listener_on_the_intake_gets_nothing(committee):
    for address in committee.intake:
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(json.dumps({"op": "info"}).encode() + b"\n")
            s.settimeout(5)
            try:
                data = s.recv(65536)
            except (ConnectionError, TimeoutError):
                data = b""
        assert b"encryption_key" not in data and b"signer" not in data  # only a TLS alert, if anything


def test_a_double_auction_too_large_for_its_width_is_refused(committee):
    """n·G ≥ 2^16 let the aggregates pass 2^64 and clear at a wrong price (257 for 237)."""
    auction = new_auction_id()
    opening = messages.sign_control({"op": "open", "auction": auction, "mechanism": "double", "max_bids": 256,
                                     "grid": list(range(1, 257)), "bits": 64}, committee.control_key)
    for address in committee.intake:
        reply = outsider_request(address, opening)
        assert reply["ok"] is False and "below 65536" in reply["reason"], reply


def test_concurrent_stream_bids_in_different_orders_still_give_one_outcome(committee):
    """Two honest bids reach server 0 in one order and the others in the other: before,
    the servers excluded both ("different bids at this position") or disagreed."""
    keys = server_keys(committee)
    auction = new_auction_id()
    opening = messages.sign_control({"op": "open", "auction": auction, "mechanism": "stream", "max_bids": 4,
                                     "bits": 64}, committee.control_key)
    assert all(outsider_request(a, opening)["ok"] for a in committee.intake)
    while not all(outsider_request(a, {"op": "status", "auction": auction}).get("ready") for a in committee.intake):
        time.sleep(0.05)
    low, high = (seal(auction, SealedBid(name, [v]), 3, recipients=keys) for name, v in (("low", 40), ("high", 70)))
    for j, address in enumerate(committee.intake):
        for bid in ((low, high) if j == 0 else (high, low)):
            assert outsider_request(address, bid.payloads[j])["ok"]
    statements = close_all(committee, auction)
    assert [s["status"] for s in statements] == ["ok"] * 3, statements
    assert {json.dumps(s["outcome"], sort_keys=True) for s in statements} == {
        json.dumps({"winner": "high", "price": 70, "winners": ["high"]}, sort_keys=True)}
