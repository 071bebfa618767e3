"""Shared helpers for the sealed-committee tests: a real 3-server committee on 127.0.0.1."""

import asyncio
import secrets

from mevauction.privacy import messages
from mevauction.privacy.client import LocalCommittee, Sealed, SealedBid, run_on


def run(committee: LocalCommittee, mechanism: str, bids: list[SealedBid], **kw):
    return asyncio.run(run_on(committee.access(), mechanism, bids, **kw))


def labels(n: int) -> list[str]:
    return [f"bidder{i:03d}" for i in range(n)]


def forged(auction: str, bidder: str, per_server: list[list[int]], headers_differ: bool = False) -> Sealed:
    """A cheating bidder's messages: arbitrary shares per server, correctly hashed and signed."""
    key = messages.new_key()
    nonces = [secrets.token_bytes(32) for _ in per_server]
    hashes = tuple(messages.share_hash(auction, bidder, j, s, n)
                   for j, (s, n) in enumerate(zip(per_server, nonces, strict=True)))

    def header(commit_salt: bytes) -> messages.BidHeader:
        commitment = messages.commitment(auction, bidder, [0], commit_salt)
        h = messages.BidHeader(auction, bidder, messages.address(key), "", commitment, hashes)
        return h.signed(key)

    h0 = header(b"a" * 32)
    h_last = header(b"b" * 32) if headers_differ else h0
    payloads = [{"op": "bid", "header": (h_last if j == len(per_server) - 1 else h0).to_json(),
                 "shares": [hex(v) for v in s], "nonce": "0x" + n.hex()}
                for j, (s, n) in enumerate(zip(per_server, nonces, strict=True))]
    return Sealed(h0, payloads, {})


def assert_replay_matches_relay(report: dict, relay_file) -> int:
    """A sealed replay of a relay trace: the winner and price are the trace's best bid
    (earliest on ties) and the run says it matches the plaintext one; returns how many
    bids the trace holds."""
    import json

    items = sorted(enumerate(json.loads(relay_file.read_text())), key=lambda p: (int(p[1]["timestamp_ms"]), p[0]))
    best = max(items, key=lambda p: (int(p[1]["value"]), -items.index(p)))[1]
    assert (report["winner"], report["price"]) == (best["builder_pubkey"], int(best["value"]))
    assert report["matches_plaintext"] is True
    return len(items)
