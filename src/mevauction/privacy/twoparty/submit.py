"""Bidder-side submission to the two-party backend, and the auctioneer's open/close for it.

``submit_bid`` runs on the bidder's machine: it XOR-splits the bid (a uniformly random
64-bit mask to the garbler, bid ⊕ mask to the evaluator) and deals each party the MACs
that bind the other's share (``binding``), commits to the bid and to each share
(salted hashes in a header signed by the bidder's key, as the committee's
``privacy.client.seal`` does), and sends each party only its own share over TLS pinned to
the pair's CA and to that party's role. Each party checks the share against its hash and
signs a receipt; the bid counts if both accepted it. The opening (value, salt, shares,
nonces) stays with the bidder, to publish if it wins.

The auctioneer (``open_auction`` / ``close_auction`` over its control links,
``RemotePair.chans`` or ``LocalPair.chans``) names the auction, the mechanism and the
registered labels, and later closes it: it never holds a share, only the outcome.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mevauction.errors import host_port
from mevauction.privacy import messages, tls
from mevauction.privacy.bidder import Submission
from mevauction.privacy.client import SealedBid
from mevauction.privacy.twoparty import binding, circuits
from mevauction.privacy.twoparty.link import EVALUATOR, GARBLER, NAMES, Channel, peer_role
from mevauction.privacy.twoparty.local import PARTIES_FORMAT, PairResult, finish_pair


@dataclass(frozen=True)
class PairAccess:
    """What a bidder needs: the two intake addresses (garbler or key holder first) and
    either the pair's CA or each party's own published certificate."""

    intake: tuple[tuple[str, int], tuple[str, int]]
    tls_dir: str = ""  # holds .config/mpyc_ca.crt
    pins: tuple[str, str] | None = None  # each party's own certificate (PEM), pinned instead of a CA

    @classmethod
    def from_parties(cls, parties: dict[str, Any]) -> PairAccess:
        """From a ``mevauction.2pc-parties/1`` document with ``garbler_intake``/``evaluator_intake``
        (its ``tls_dir`` needs only ``.config/mpyc_ca.crt`` for a bidder)."""
        if parties.get("format") != PARTIES_FORMAT:
            raise ValueError(f"format: expected {PARTIES_FORMAT!r}")
        g, e = (host_port(parties.get(f"{n}_intake"), f"{n}_intake") for n in ("garbler", "evaluator"))
        return cls((g, e), str(parties["tls_dir"]))


@dataclass
class PairSealed:
    header: messages.BidHeader
    payloads: list[dict[str, Any]]  # one per party: garbler, evaluator
    opening: dict[str, Any]

    @property
    def digest(self) -> str:
        return "0x" + self.header.digest().hex()


def seal(auction: str, bid: SealedBid, width: int = circuits.WIDTH, side: str = "") -> PairSealed:
    """Split, commit and sign one bid for the pair (nothing here leaves the bidder yet).

    ``width``: the auction's (128 for the service's builder auction, whose headers say
    ``side="builder"``)."""
    value = bid.values[0]
    if not 0 <= value < 1 << width:
        raise ValueError(f"amount: must be below 2^{width}")
    (split, binds) = binding.split([value], width)  # each party's share and the MACs on it (``binding``)
    return seal_shares(auction, bid.bidder, bid.key or messages.new_key(), side, [value],
                       [[int(split[0][0], 16)], [int(split[1][0], 16)]], lambda share: hex(share[0]),
                       [binds[0][0], binds[1][0]])


def seal_shares(auction: str, bidder: str, key: bytes, side: str, values: list[int], shares: list[list[int]],
                encode: Callable[[list[int]], Any], binds: list[dict[str, str]] | None = None) -> PairSealed:
    """Commit to ``values`` and to each party's ``shares`` (salted hashes), sign the header,
    and make each party's payload (its share as ``encode`` writes it) and the bidder's opening.
    ``binds``: each party's MAC material (``binding.deal``), under its share hash too, so the
    header the bidder signs commits to it."""
    salt, nonces = messages.random_salt(), [messages.random_salt() for _ in shares]
    hashed = shares if binds is None else [[*shares[j], binding.digest(binds[j])] for j in range(2)]
    hashes = tuple(messages.share_hash(auction, bidder, j, hashed[j], nonces[j]) for j in range(2))
    header = messages.BidHeader(auction=auction, bidder=bidder, signer=messages.address(key), side=side,
                                commitment=messages.commitment(auction, bidder, values, salt),
                                share_hashes=hashes)
    header = header.signed(key)
    payloads = [{"op": "bid", "header": header.to_json(), "share": encode(shares[j]), "nonce": "0x" + nonces[j].hex(),
                 **({} if binds is None else {"bind": binds[j]})} for j in range(2)]
    opening = {"bidder": bidder, **({"side": side} if side else {}), "values": values, "salt": "0x" + salt.hex(),
               "shares": [[hex(s) for s in sh] for sh in shares], "nonces": ["0x" + n.hex() for n in nonces]}
    return PairSealed(header, payloads, opening)


def send(access: PairAccess, role: int, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One request to one party's intake, over TLS that only that party's certificate passes."""
    pin = access.pins[role] if access.pins else None
    # the pair's CA only, the party's role checked below; or that party's certificate only
    ctx = tls.client_context(access.tls_dir) if pin is None else tls.pinned_client_context(pin)
    host, port = access.intake[role]
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = ctx.wrap_socket(raw)
        chan = Channel(sock)
        try:
            if pin is not None:
                tls.check_pinned(sock, pin, NAMES[role])
            elif peer_role(sock) != role:
                raise ConnectionError(f"the {NAMES[role]}'s intake showed another certificate")
            chan.send_json(payload)
            reply = chan.recv_json()
        finally:
            chan.close()
    return reply if isinstance(reply, dict) else {"ok": False, "reason": "the party sent no object"}


def submit_bid(access: PairAccess, auction: str, bid: SealedBid, signers: list[str] | None = None) -> Submission:
    """Seal and send: each party gets its own share only; both receipts are checked, against
    ``signers`` (the pair's published signing addresses, garbler first) when given."""
    return deliver(access, seal(auction, bid), signers)


def deliver(access: PairAccess, sealed: PairSealed, signers: list[str] | None = None,
            names: dict[int, str] = NAMES) -> Submission:
    """Send each party its own payload and check its signed receipt (``names``: what to call them)."""
    auction = sealed.header.auction
    refused, receipts = [], []
    for role in (GARBLER, EVALUATOR):
        try:
            reply = send(access, role, sealed.payloads[role])
        except (OSError, ConnectionError, ValueError) as exc:
            refused.append(f"{names[role]}: unreachable ({exc})")
            continue
        if not reply.get("ok"):
            refused.append(f"{names[role]}: {reply.get('reason')}")
            continue
        signer = messages.recover(messages.receipt_digest(auction, sealed.digest, role, []),
                                  str(reply.get("receipt", "")))
        if signer is None or signer != str(reply.get("signer", "")).lower():
            refused.append(f"{names[role]}: its receipt is not signed by the key it names")
            continue
        if signers is not None and signer != signers[role].lower():
            refused.append(f"{names[role]}: its receipt is not signed by the pair's published key")
            continue
        receipts.append({"party": role, "signer": signer, "receipt": reply["receipt"]})
    return Submission(auction, sealed.digest, sealed.header.to_json(), sealed.opening, refused, [], receipts)


def open_auction(chans: list[Channel], spec: dict[str, Any]) -> None:
    """Open ``spec`` (auction, mechanism, max_bids, k, registered; bits, caps, admit, security) at both parties."""
    keys = ("auction", "mechanism", "max_bids", "k", "bits", "caps", "admit", "security")
    msg: dict[str, Any] = {"op": "open", "registered": spec.get("registered") or {},
                           **{k: spec[k] for k in keys if k in spec}}
    for c in chans:
        c.send_json(msg)
    for c, name in zip(chans, ("garbler", "evaluator"), strict=True):
        reply = c.recv_json()
        if reply.get("status") != "open":
            raise ConnectionError(f"{name} did not open the auction: {reply.get('reason')}")


def close_auction(chans: list[Channel], spec: dict[str, Any], reserve: int = 0) -> PairResult:
    """The deadline: both parties freeze their intake and run on the shares they agree on.

    The elapsed time is from here (the close) to the outcome, preprocessing included."""
    shares, binds = binding.split([reserve], int(spec.get("bits", circuits.WIDTH)))  # β0 is bound as a bid is
    t0 = time.perf_counter()
    for role, c in enumerate(chans):
        c.send_json({"op": "job", "intake": True, "auction": spec["auction"], "reserve": "0x" + shares[role][0],
                     "reserve_bind": binds[role][0]})
    return finish_pair(chans, str(spec["mechanism"]), str(spec["auction"]), deadline=t0)
