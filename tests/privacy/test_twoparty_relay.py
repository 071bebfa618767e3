"""The service's builder auction on the pair (``privacy.twoparty.relay``), against a real
local pair, with this process as the service: every frame it sends the parties or gets from
them holds no bid and no share of one (only envelopes, β0's shares and the outcome); random
128-bit auctions with caps and ties equal the clear mechanism; a changed envelope or one
sealed for the other party is refused, the auction goes on; nobody bids around the relay."""

from __future__ import annotations

import random

import pytest

from mevauction.mechanism.auction import second_price_with_reserve
from mevauction.privacy import messages
from mevauction.privacy.twoparty import party, relay, submit
from mevauction.privacy.twoparty.local import LocalPair

pytestmark = pytest.mark.slow  # a real pair of party processes


@pytest.fixture(scope="module")
def pair():
    with LocalPair(timeout=relay.TIMEOUT_S, hold=False) as p:
        chans = relay.connect(relay.PairSlot(p.tls_dir, p.control, "", [], []))
        described = relay.info(chans)
        for c in chans:
            c.close()
        p.pins = ([d["encryption_key"] for d in described], [d["signer"] for d in described])
        yield p


def slot_of(pair, amounts: list[int], caps: list[int] | None = None, auction: str | None = None):
    auction = auction or "slot-" + messages.random_salt().hex()[:16]
    members, signers = pair.pins
    info = {"auction": auction, "members": members}
    bids = {f"b{i}": relay.seal_pair_builder_bid(info, messages.new_key(), a) for i, a in enumerate(amounts)}
    caps_ = {f"b{i}": c for i, c in enumerate(caps)} if caps is not None else {}
    return relay.PairSlot(pair.tls_dir, pair.control, auction, members, signers, bids, caps_)


def _forms(value: int) -> list[bytes]:
    return [str(value).encode(), f"{value:x}".encode(), value.to_bytes(16, "big"), value.to_bytes(16, "little")]


def test_the_relay_sees_no_bid_and_no_share(pair, monkeypatch):
    amounts = [7_340_512_887_019_244_731_000, 5_118_276_533_904_178_223, 3_902_716_450_118_367_529]
    shares: list[int] = []
    seal = submit.seal

    def keep(*args, **kw):  # the shares the builder side made, to look for them afterwards
        sealed = seal(*args, **kw)
        shares.extend(int(p["share"], 16) for p in sealed.payloads)
        return sealed
    monkeypatch.setattr(submit, "seal", keep)
    slot = slot_of(pair, amounts)
    frames: list[bytes] = []
    send, recv = party.Channel.send, party.Channel.recv

    def rec_send(chan, data):
        frames.append(bytes(data))
        return send(chan, data)

    def rec_recv(chan, limit=1 << 31):
        data = recv(chan, limit)
        frames.append(bytes(data))
        return data
    monkeypatch.setattr(party.Channel, "send", rec_send)
    monkeypatch.setattr(party.Channel, "recv", rec_recv)
    out = relay.relay_pair_auction(slot, 10**18, list(slot.bids))
    assert (out.winner, out.price) == ("b0", amounts[1])
    assert len(shares) == 6 and frames
    for value in [amounts[0], amounts[2], *shares]:  # the price (amounts[1]) is the outcome
        for form in _forms(value):
            assert not any(form in f for f in frames), value


@pytest.mark.parametrize("seed", range(4))
def test_random_capped_auctions_equal_the_clear_mechanism(pair, seed):
    rng = random.Random(seed)
    n = rng.randrange(1, 7)
    top = rng.choice([3, 10**18, 2**128 - 1])
    amounts = [rng.randrange(0, top + 1) for _ in range(n)]
    if n > 1 and seed % 2:
        amounts[-1] = max(amounts)  # a tie: the earliest wins
    caps = [rng.choice([top, rng.randrange(0, top + 1)]) for _ in range(n)]
    reserve = rng.randrange(0, top + 1)
    out = relay.relay_pair_auction(slot_of(pair, amounts, caps), reserve, [f"b{i}" for i in range(n)])
    capped = [(f"b{i}", a if a <= c else 0) for i, (a, c) in enumerate(zip(amounts, caps, strict=True))]
    assert (out.winner, out.price) == second_price_with_reserve(reserve, capped), (amounts, caps, reserve)


def test_a_changed_or_misdirected_envelope_is_refused_and_the_auction_goes_on(pair):
    slot = slot_of(pair, [900, 500, 300])
    text = slot.bids["b0"]["ciphertexts"][1]
    slot.bids["b0"]["ciphertexts"][1] = text[:100] + ("0" if text[100] != "0" else "1") + text[101:]
    slot.bids["b1"]["ciphertexts"].reverse()  # each party gets the other's envelope
    out = relay.relay_pair_auction(slot, 0, ["b0", "b1", "b2"])
    assert out.winner == "b2" and out.price == 0
    assert "does not open" in out.refused["b0"] and "does not open" in out.refused["b1"]


def test_a_bid_the_relay_does_not_forward_is_not_taken(pair):
    """Only the forwarded headers are admitted: a bid sent to the parties around the relay
    (here: the relay forwards b1 only, then a second relay call offers b0) is refused."""
    slot = slot_of(pair, [900, 500])
    forwarded = relay.PairSlot(slot.tls_dir, slot.control, slot.auction, slot.members, slot.signers,
                               {"b1": slot.bids["b1"]})
    chans = relay.connect(slot)
    try:
        submit.open_auction(chans, {"auction": slot.auction, "mechanism": "builder", "max_bids": 2, "k": 1,
                                    "bits": 128, "admit": ["0x" + messages.BidHeader.from_json(
                                        forwarded.bids["b1"]["header"]).digest().hex()]})
        chans[0].send_json({"op": "bids", "bids": [{"op": "bid", "header": slot.bids["b0"]["header"],
                                                    "ciphertext": slot.bids["b0"]["ciphertexts"][0]}]})
        reply = chans[0].recv_json()
    finally:
        for c in chans:
            c.close()
    assert reply["replies"][0]["ok"] is False and "not a bid the auctioneer forwards" in reply["replies"][0]["reason"]
